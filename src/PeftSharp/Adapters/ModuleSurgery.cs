using System.Collections;
using System.Reflection;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace PeftSharp.Adapters;

/// <summary>
/// Replaces a submodule inside a TorchSharp module tree so that both the parent's forward (which
/// reads a field or a container) and the registry (<c>named_modules</c>, <c>state_dict</c>) see the
/// replacement. Everything is validated before anything is changed.
/// </summary>
public static class ModuleSurgery
{
    private const BindingFlags InstanceFields = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;

    /// <summary>Finds the module called <paramref name="fullName"/> under <paramref name="root"/>.</summary>
    /// <exception cref="KeyNotFoundException">No module has that name.</exception>
    public static nn.Module GetModule(nn.Module root, string fullName)
    {
        var current = root;
        foreach (var part in fullName.Split('.'))
        {
            current = current.named_children().FirstOrDefault(c => c.name == part).module
                ?? throw new KeyNotFoundException($"the model has no module '{fullName}' (no child '{part}')");
        }

        return current;
    }

    /// <summary>Replaces the module called <paramref name="fullName"/> under <paramref name="root"/> by <paramref name="replacement"/>.</summary>
    /// <exception cref="ModuleReplacementException">The parent holds the child in a way that cannot be rewritten (for example a field typed <c>Linear</c>).</exception>
    public static void ReplaceChild(nn.Module root, string fullName, nn.Module replacement)
    {
        var (parent, name) = Parent(root, fullName);
        Check(parent, name, replacement.GetType(), fullName);
        ReplaceDirectChild(parent, name, replacement);
    }

    /// <summary>Throws what <see cref="ReplaceChild"/> would throw for a replacement of type <paramref name="replacementType"/>, without changing anything.</summary>
    /// <exception cref="ModuleReplacementException">The child cannot be replaced by that type.</exception>
    public static void CheckReplaceable(nn.Module root, string fullName, Type replacementType)
    {
        var (parent, name) = Parent(root, fullName);
        Check(parent, name, replacementType, fullName);
    }

    private static (nn.Module Parent, string Name) Parent(nn.Module root, string fullName)
    {
        var split = fullName.LastIndexOf('.');
        return (split < 0 ? root : GetModule(root, fullName[..split]), fullName[(split + 1)..]);
    }

    private static void Check(nn.Module parent, string name, Type replacementType, string fullName)
    {
        if (parent is Sequential)
        {
            return;
        }

        var field = FindField(parent.GetType(), name);
        if (field is not null && !field.FieldType.IsAssignableFrom(replacementType))
        {
            throw new ModuleReplacementException(
                $"cannot replace '{fullName}': its parent {parent.GetType().Name} holds it in field '{field.Name}' of type {field.FieldType.Name}, " +
                $"which cannot hold a {replacementType.Name}; declare the field as nn.Module<Tensor, Tensor>");
        }

        var generic = parent.GetType().IsGenericType ? parent.GetType().GetGenericTypeDefinition() : null;
        var elementType = generic is null ? null : parent.GetType().GetGenericArguments()[0];
        if ((generic == typeof(ModuleList<>) || generic == typeof(ModuleDict<>)) && !elementType!.IsAssignableFrom(replacementType))
        {
            throw new ModuleReplacementException(
                $"cannot replace '{fullName}': its parent is a {generic.Name.Split('`')[0]}<{elementType.Name}>, which cannot hold a {replacementType.Name}");
        }

        if (field is null && generic != typeof(ModuleList<>) && generic != typeof(ModuleDict<>))
        {
            throw new ModuleReplacementException(
                $"cannot replace '{fullName}': its parent {parent.GetType().Name} registers it without a field, ModuleList, ModuleDict or Sequential PeftSharp can rewrite");
        }
    }

    private static void ReplaceDirectChild(nn.Module parent, string name, nn.Module replacement)
    {
        if (parent is Sequential sequential)
        {
            var names = (List<string>)typeof(Sequential).GetField("_names", InstanceFields)!.GetValue(sequential)!;
            var modules = (IList)typeof(Sequential).GetField("_modules", InstanceFields)!.GetValue(sequential)!;
            var index = names.IndexOf(name);
            if (index < 0)
            {
                throw new KeyNotFoundException($"Sequential parent has no child '{name}'");
            }

            modules[index] = replacement;
            return;
        }

        var field = FindField(parent.GetType(), name);
        var generic = parent.GetType().IsGenericType ? parent.GetType().GetGenericTypeDefinition() : null;
        var registry = (OrderedDict<string, nn.Module>)typeof(nn.Module).GetField("_internal_submodules", InstanceFields)!.GetValue(parent)!;
        registry[name] = replacement;
        if (generic == typeof(ModuleList<>))
        {
            parent.GetType().GetProperty("Item", [typeof(int)])!.SetValue(parent, replacement, [int.Parse(name, System.Globalization.CultureInfo.InvariantCulture)]);
        }
        else if (generic == typeof(ModuleDict<>))
        {
            parent.GetType().GetProperty("Item", [typeof(string)])!.SetValue(parent, replacement, [name]);
        }
        else
        {
            field!.SetValue(parent, replacement);
        }
    }

    private static FieldInfo? FindField(Type type, string componentName)
    {
        for (var t = type; t is not null && t != typeof(nn.Module); t = t.BaseType)
        {
            foreach (var field in t.GetFields(InstanceFields | BindingFlags.DeclaredOnly))
            {
                if (typeof(nn.Module).IsAssignableFrom(field.FieldType) && ComponentName(field) == componentName)
                {
                    return field;
                }
            }
        }

        return null;
    }

    private static string ComponentName(FieldInfo field) =>
        field.GetCustomAttribute<ComponentNameAttribute>()?.Name ?? field.Name;
}

/// <summary>A module that cannot be swapped for an adapter wrapper where its parent holds it.</summary>
public sealed class ModuleReplacementException : PeftException
{
    /// <summary>Creates the exception.</summary>
    public ModuleReplacementException(string message) : base(message)
    {
    }
}
