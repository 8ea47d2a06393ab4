using System.CommandLine;
using static TorchSharp.torch;

namespace PeftSharp.Cli.Commands;

/// <summary>
/// <c>peft selftest save-loop</c> (hidden): saves a checkpoint over and over so that tests can kill
/// the process at random moments and check that the file on disk is always a complete checkpoint.
/// </summary>
internal static class SelfTestCommand
{
    public static Command Create()
    {
        var path = new Option<FileInfo>("--path") { Description = "The checkpoint file to overwrite.", Required = true };
        var megabytes = new Option<int>("--megabytes") { Description = "Size of the payload tensor.", DefaultValueFactory = _ => 16 };
        var count = new Option<int>("--count") { Description = "Number of saves (0: until killed).", DefaultValueFactory = _ => 0 };
        var saveLoop = new Command("save-loop", "Overwrite a safetensors checkpoint repeatedly; each save holds 'iteration' = i and a payload filled with i.")
        {
            path,
            megabytes,
            count,
        };
        saveLoop.SetAction(result => Program.Guarded(() =>
        {
            var target = result.GetValue(path)!.FullName;
            var elements = Math.Max(1, result.GetValue(megabytes)) * (1 << 20) / sizeof(float);
            var limit = result.GetValue(count);
            using var payload = empty(elements);
            for (var i = 1; limit == 0 || i <= limit; i++)
            {
                payload.fill_(i);
                using var iteration = tensor((long)i);
                SafetensorsWriter.Save(target, new Dictionary<string, Tensor> { ["iteration"] = iteration, ["payload"] = payload });
                Console.WriteLine($"saved {i}");
            }

            return Program.Success;
        }));
        return new Command("selftest", "Internal helpers for PeftSharp's own tests.") { Hidden = true, Subcommands = { saveLoop } };
    }
}
