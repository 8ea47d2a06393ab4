using System.CommandLine;
using System.Reflection;
using PeftSharp.Adapters;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft version</c>: versions of PeftSharp, TorchSharp and libtorch, and the registered methods.</summary>
internal static class VersionCommand
{
    public static Command Create()
    {
        var command = new Command("version", "Print the versions of PeftSharp, TorchSharp and the .NET runtime, and the methods this build implements.");
        command.SetAction(_ => Program.Guarded(() =>
        {
            Console.WriteLine($"PeftSharp {Version(typeof(AdapterLayer).Assembly)}");
            Console.WriteLine($"TorchSharp {Version(typeof(TorchSharp.torch).Assembly)}");
            Console.WriteLine($".NET {Environment.Version} on {System.Runtime.InteropServices.RuntimeInformation.OSDescription}");
            Console.WriteLine($"methods: {string.Join(", ", AdapterMethodRegistry.All.Select(m => m.Name))}");
            return Program.Success;
        }));
        return command;
    }

    private static string Version(Assembly assembly) =>
        assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? assembly.GetName().Version?.ToString()
        ?? "unknown";
}
