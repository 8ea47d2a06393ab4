using System.CommandLine;
using PeftSharp.Conformance;

namespace PeftSharp.Cli.Commands;

/// <summary><c>peft conformance --dir DIR [--method M]</c>: runs the reference vectors of the official implementations.</summary>
internal static class ConformanceCommand
{
    public static Command Create()
    {
        var dir = new Option<DirectoryInfo>("--dir")
        {
            Description = "Directory of conformance cases (<case>.json + <case>.safetensors).",
            Required = true,
        };
        var method = new Option<string?>("--method")
        {
            Description = "Run only the cases of this method (lora, dylora, adalora, sora, sara, mosara, tied_lora).",
        };
        var command = new Command("conformance", "Check PeftSharp's methods against vectors produced by the methods' official implementations.\n\nExample:\n  peft conformance --dir tests/PeftSharp.Tests/Conformance --method lora")
        {
            dir,
            method,
        };
        command.SetAction(result => Program.Guarded(() =>
        {
            var results = ConformanceRunner.RunDirectory(result.GetValue(dir)!.FullName, result.GetValue(method));
            foreach (var line in results)
            {
                Console.WriteLine(line);
            }

            Console.WriteLine(ConformanceRunner.Summary(results));
            return results.Any(r => r.Status == ConformanceStatus.Fail) ? Program.UserError : Program.Success;
        }));
        return command;
    }
}
