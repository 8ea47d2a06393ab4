using PeftSharp.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Adapters;

/// <summary>A module that can make an independent deep copy of itself (for <c>modules_to_save</c>).</summary>
public interface ICloneableModule
{
    /// <summary>A new module with the same structure and copies of all parameter and buffer values.</summary>
    nn.Module<Tensor, Tensor> CloneModule();
}

/// <summary>Deep-copies the module types <c>modules_to_save</c> commonly names.</summary>
public static class ModuleCloner
{
    /// <summary>
    /// A deep copy of <paramref name="module"/>: <see cref="Linear"/>, <see cref="Conv1D"/>,
    /// <see cref="LayerNorm"/>, <see cref="Embedding"/>, <see cref="Dropout"/>, or any
    /// <see cref="ICloneableModule"/>.
    /// </summary>
    /// <exception cref="NotSupportedException">PeftSharp does not know how to copy this module type.</exception>
    public static nn.Module<Tensor, Tensor> Clone(nn.Module<Tensor, Tensor> module, string moduleName)
    {
        nn.Module<Tensor, Tensor> copy = module switch
        {
            ICloneableModule cloneable => cloneable.CloneModule(),
            Linear linear => nn.Linear(linear.weight!.shape[1], linear.weight!.shape[0], hasBias: linear.bias is not null, dtype: linear.weight!.dtype),
            Conv1D conv => new Conv1D(conv.InFeatures, conv.OutFeatures, conv.Bias is not null),
            LayerNorm norm => nn.LayerNorm(norm.normalized_shape, norm.eps, norm.weight is not null, dtype: norm.weight?.dtype),
            Embedding embedding => nn.Embedding(embedding.weight!.shape[0], embedding.weight!.shape[1], dtype: embedding.weight!.dtype),
            Dropout dropout => nn.Dropout(dropout.p),
            _ => throw new NotSupportedException(
                $"modules_to_save '{moduleName}' is a {module.GetType().Name}, which PeftSharp cannot copy; implement {nameof(ICloneableModule)} on it " +
                "or list its Linear/LayerNorm/Embedding children instead"),
        };

        if (module is not ICloneableModule)
        {
            CopyState(module, copy);
        }

        copy.to(module.parameters().FirstOrDefault()?.device ?? CPU);
        return copy;
    }

    /// <summary>Copies every parameter and buffer value of <paramref name="source"/> into the same-named tensor of <paramref name="target"/>.</summary>
    public static void CopyState(nn.Module source, nn.Module target)
    {
        using var noGrad = no_grad();
        var values = source.state_dict();
        foreach (var (name, tensor) in target.state_dict())
        {
            tensor.copy_(values[name]);
        }
    }
}
