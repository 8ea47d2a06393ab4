using System.CommandLine;
using System.Diagnostics;
using PeftSharp.Adapters;
using PeftSharp.Methods.Lora;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Cli.Commands;

/// <summary>
/// <c>peft demo</c>: until the bundled model and data land, a LoRA smoke fine-tune. A small MLP is
/// pretrained on one synthetic classification task, then adapted with LoRA (classifier head in
/// modules_to_save) to a related task; accuracy before and after, the parameter report, and a
/// merged-vs-unmerged check are printed.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var steps = new Option<int>("--steps") { Description = "LoRA fine-tuning steps.", DefaultValueFactory = _ => 300 };
        var rank = new Option<int>("--rank") { Description = "LoRA rank.", DefaultValueFactory = _ => 4 };
        var seed = new Option<int>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 0 };
        var command = new Command("demo", "Run the main job end to end on bundled data (for now: a LoRA smoke fine-tune of a small pretrained MLP).\n\nExample:\n  peft demo --steps 300 --rank 4")
        {
            steps,
            rank,
            seed,
        };
        command.SetAction(result => Program.Guarded(() => Run(result.GetValue(steps), result.GetValue(rank), result.GetValue(seed))));
        return command;
    }

    private static int Run(int steps, int rank, int seed)
    {
        if (steps <= 0 || rank <= 0)
        {
            throw new ArgumentException($"--steps and --rank must be positive (got {steps}, {rank})");
        }

        var clock = Stopwatch.StartNew();
        manual_seed(seed);
        var data = new Generator((ulong)seed + 1);
        const int features = 32, classes = 4;
        using var teacherA = randn(features, classes, generator: data);
        using var shift = randn(features, 2, generator: data).matmul(randn(2, classes, generator: data)).mul_(0.8);
        using var teacherB = teacherA + shift;
        var (trainA, labelsA) = Sample(teacherA, 2048, data);
        var (trainB, labelsB) = Sample(teacherB, 2048, data);
        var (testB, testLabelsB) = Sample(teacherB, 1024, data);

        var model = new SmokeMlp(features, 64, classes);
        Console.WriteLine($"pretraining the base model on task A ({trainA.shape[0]} examples)");
        Train(model, model.parameters(), trainA, labelsA, 400, 1e-2, null);
        Console.WriteLine($"base model on task B: accuracy {Accuracy(model, testB, testLabelsB):P1}");

        var config = new LoraConfig
        {
            R = rank,
            LoraAlpha = 2 * rank,
            TargetModules = TargetModules.FromNames("fc1", "fc2"),
            ModulesToSave = ["head"],
        };
        var peft = PeftModel.Create(model, config);
        Console.WriteLine($"LoRA r={rank} on fc1, fc2; head in modules_to_save");
        Console.WriteLine(peft.GetParameterReport());
        Train(model, peft.GetTrainableParameters(), trainB, labelsB, steps, 1e-2, peft.GetController());
        var after = Accuracy(model, testB, testLabelsB);
        Console.WriteLine($"LoRA-adapted model on task B: accuracy {after:P1}");

        using (no_grad())
        {
            model.eval();
            using var unmerged = model.forward(testB);
            peft.MergeAdapter();
            using var merged = model.forward(testB);
            var gap = (merged - unmerged).abs().max().item<float>();
            Console.WriteLine($"merged vs unmerged outputs: max |difference| {gap:0.###e+00}");
            peft.UnmergeAdapter();
        }

        Console.WriteLine($"done in {clock.Elapsed.TotalSeconds:F1} s");
        return Program.Success;
    }

    private static (Tensor X, Tensor Y) Sample(Tensor teacher, int count, Generator generator)
    {
        var x = randn(count, teacher.shape[0], generator: generator);
        using var logits = x.matmul(teacher);
        return (x, logits.argmax(1));
    }

    private static void Train(SmokeMlp model, IEnumerable<Parameter> parameters, Tensor x, Tensor y, int steps, double lr, TrainingController? controller)
    {
        model.train();
        using var optimizer = optim.AdamW(parameters, lr: lr, weight_decay: 0.0);
        const int batch = 128;
        for (var step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            controller?.OnStepBegin(step);
            var start = step * batch % (int)x.shape[0];
            var logits = model.forward(x[TensorIndex.Slice(start, start + batch)]);
            var loss = nn.functional.cross_entropy(logits, y[TensorIndex.Slice(start, start + batch)]);
            if (controller?.ExtraLoss(step) is { } extra)
            {
                loss = loss + extra;
            }

            optimizer.zero_grad();
            loss.backward();
            controller?.OnAfterBackward(step);
            optimizer.step();
            controller?.OnAfterOptimizerStep(step);
            if (step % 100 == 0 || step == steps - 1)
            {
                Console.WriteLine($"  step {step + 1,4}/{steps}  loss {loss.item<float>():F4}");
            }
        }

        controller?.OnTrainingEnd();
        model.eval();
    }

    private static double Accuracy(SmokeMlp model, Tensor x, Tensor y)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        model.eval();
        return model.forward(x).argmax(1).eq(y).to(ScalarType.Float32).mean().item<float>();
    }

    /// <summary>A three-layer MLP whose projections are typed as plain modules, so adapters can replace them.</summary>
    private sealed class SmokeMlp : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> fc1;
        private readonly nn.Module<Tensor, Tensor> fc2;
        private readonly nn.Module<Tensor, Tensor> head;

        public SmokeMlp(int input, int hidden, int output) : base(nameof(SmokeMlp))
        {
            fc1 = nn.Linear(input, hidden);
            fc2 = nn.Linear(hidden, hidden);
            head = nn.Linear(hidden, output);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            using var scope = NewDisposeScope();
            var h = nn.functional.gelu(fc1.forward(input));
            h = nn.functional.gelu(fc2.forward(h));
            return head.forward(h).MoveToOuterDisposeScope();
        }
    }
}
