using System.CommandLine;
using PeftSharp.Cli.Commands;

namespace PeftSharp.Cli;

/// <summary>Entry point of the <c>peft</c> command.</summary>
public static class Program
{
    /// <summary>Exit code for success.</summary>
    public const int Success = 0;

    /// <summary>Exit code for a user error (bad input, failed check).</summary>
    public const int UserError = 1;

    /// <summary>Exit code for an internal error (a bug).</summary>
    public const int InternalError = 2;

    /// <summary>Exit code of a run stopped by Ctrl-C (SIGINT) after saving its checkpoint: 128 + SIGINT, as shells report it.</summary>
    public const int Interrupted = 130;

    /// <summary>Runs the command line.</summary>
    public static int Main(string[] args)
    {
        PeftSharp.Runtime.NativeHeap.KeepFreedMemory();
        var root = CreateRootCommand();
        Verbose = args.Contains("--verbose");
        args = [.. args.Where(a => a != "--verbose")];
        try
        {
            args = RunConfig.Expand(root, args);
        }
        catch (Exception e) when (e is PeftException or FileNotFoundException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return UserError;
        }

        return Run(root, args);
    }

    /// <summary>The <c>peft</c> command tree.</summary>
    internal static RootCommand CreateRootCommand()
    {
        var root = new RootCommand("PeftSharp: parameter-efficient fine-tuning with adaptive-rank low-rank adapters on TorchSharp.");
        root.Subcommands.Add(VersionCommand.Create());
        root.Subcommands.Add(ConformanceCommand.Create());
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(FuzzCommand.Create());
        root.Subcommands.Add(PredictCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(ChatCommand.Create());
        root.Subcommands.Add(TokenizeCommand.Create());
        root.Subcommands.Add(ChatTemplateCommand.Create());
        root.Subcommands.Add(PretrainCommand.Create());
        root.Subcommands.Add(TrainCommand.CreateTrain());
        root.Subcommands.Add(TrainCommand.CreateEval());
        root.Subcommands.Add(SftPreviewCommand.Create());
        root.Subcommands.Add(AdapterCommands.CreateExport());
        root.Subcommands.Add(AdapterCommands.CreateMerge());
        root.Subcommands.Add(AdapterCommands.CreateInspect());
        root.Subcommands.Add(OnnxCommands.CreateImport());
        root.Subcommands.Add(OnnxCommands.CreateExport());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(MakeTaskCommand.Create());
        root.Subcommands.Add(SelfTestCommand.Create());
        return root;
    }

    private static int Run(RootCommand root, string[] args)
    {
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            var (messages, usage) = OptionMessages.ParseErrors(parsed);
            foreach (var message in messages)
            {
                Console.Error.WriteLine($"error: {message}");
            }

            if (usage)
            {
                Console.Error.WriteLine(parsed.CommandResult.Command == root ? "see: peft --help" : $"see: peft {CommandPath(parsed.CommandResult)} --help");
            }
            return UserError;
        }

        var problems = Preflight.Problems(parsed);
        if (problems.Count > 0)
        {
            foreach (var problem in problems)
            {
                Console.Error.WriteLine($"error: {problem}");
            }

            return UserError;
        }

        try
        {
            return parsed.Invoke();
        }
        catch (PeftException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return UserError;
        }
    }

    private static string CommandPath(System.CommandLine.Parsing.CommandResult result) =>
        result.Parent is System.CommandLine.Parsing.CommandResult { Command: not RootCommand } parent
            ? $"{CommandPath(parent)} {result.Command.Name}"
            : result.Command.Name;

    /// <summary>True when <c>--verbose</c> was given: internal errors print their stack trace.</summary>
    public static bool Verbose { get; private set; }

    /// <summary>Runs <paramref name="action"/>, turning PeftSharp errors into exit code 1 and anything else into 2.</summary>
    public static int Guarded(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"error: {OptionMessages.WithoutParameter(e)}");
            return UserError;
        }
        catch (Exception e) when (e is PeftException or FileNotFoundException or DirectoryNotFoundException or InvalidOperationException { Source: "PeftSharp" })
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return UserError;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(Verbose ? $"internal error: {e}" : $"internal error: {e.GetType().Name}: {e.Message.Split('\n')[0]} (run with --verbose for the stack trace)");
            return InternalError;
        }
    }
}
