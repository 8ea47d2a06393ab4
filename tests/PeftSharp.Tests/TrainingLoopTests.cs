using PeftSharp.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PeftSharp.Tests;

/// <summary>The task-agnostic loop: a user's module and loss function as a task, cancellation with a checkpoint, and the schedule.</summary>
public sealed class TrainingLoopTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-loop-");

    public void Dispose() => _temp.Delete(recursive: true);

    private sealed class CallbackProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }

    /// <summary>A linear regression as a <see cref="LossTask"/>: 8 batches of 8 rows, mean squared error.</summary>
    private static (nn.Module<Tensor, Tensor> Model, LossTask Task) Regression()
    {
        var data = new Generator(7);
        var inputs = randn(64, 4, generator: data);
        var targets = inputs.matmul(tensor(new[] { 1f, -2f, 3f, 0.5f }).view(4, 1));
        manual_seed(1);
        var model = nn.Linear(4, 1);
        var task = new LossTask(model, batchesPerEpoch: 8, (epoch, batch) => (inputs.narrow(0, batch * 8, 8), targets.narrow(0, batch * 8, 8)), (output, target) => nn.functional.mse_loss(output, target));
        return (model, task);
    }

    private TrainerOptions Options(string name) => new()
    {
        MaxSteps = 40, LearningRate = 0.2, WeightDecay = 0, WarmupRatio = 0, Schedule = LearningRateSchedule.Constant,
        LogEvery = 0, SaveEvery = 5, OutputDirectory = Path.Combine(_temp.FullName, name),
    };

    private static ParameterGroup[] Groups(nn.Module model) => [new("all", model.parameters().ToList(), 0.2, 0)];

    [Fact]
    public void AUsersModuleAndLossTrainOnTheLoopAndResumeAfterCancellationToTheSameWeights()
    {
        var (model, task) = Regression();
        var full = new TrainingLoop(task, Options("full"), Groups(model)).Run();
        Assert.Equal(40, full.Steps);
        Assert.True(full.Losses.TakeLast(8).Average() < full.Losses.Take(8).Average() / 4, string.Join(", ", full.Losses));
        var expected = model.parameters().Select(p => p.detach().clone()).ToList();

        var (first, firstTask) = Regression();
        using var cancellation = new CancellationTokenSource();
        var progress = new CallbackProgress(p =>
        {
            if (p.Step == 7)
            {
                cancellation.Cancel();
            }
        });
        var stopped = Assert.Throws<TrainingCanceledException>(() => new TrainingLoop(firstTask, Options("split"), Groups(first), progress: progress).Run(cancellationToken: cancellation.Token));
        Assert.Equal(7, stopped.Step);
        Assert.Equal(Path.Combine(_temp.FullName, "split", "checkpoint"), stopped.CheckpointDirectory);
        Assert.True(File.Exists(Path.Combine(stopped.CheckpointDirectory!, "model.bin")));

        var (second, secondTask) = Regression();
        var resumed = new TrainingLoop(secondTask, Options("split"), Groups(second)).Run(resume: true);
        Assert.Equal(40, resumed.Steps);
        Assert.Equal(full.Losses, resumed.Losses);
        Assert.Equal(File.ReadAllText(Path.Combine(_temp.FullName, "full", "metrics.jsonl")), File.ReadAllText(Path.Combine(_temp.FullName, "split", "metrics.jsonl")));
        foreach (var (want, got) in expected.Zip(second.parameters()))
        {
            Assert.True(want.equal(got).all().item<bool>());
        }
    }

    [Fact]
    public void TheScheduleWarmsUpThenDecays()
    {
        var linear = new WarmupSchedule(2, 10, LearningRateSchedule.Linear);
        Assert.Equal(new[] { 0.5, 1.0, 1.0, 0.875, 0.125 }, new[] { 0, 1, 2, 3, 9 }.Select(linear.Factor).ToArray());
        var cosine = new WarmupSchedule(0, 10, LearningRateSchedule.Cosine);
        Assert.Equal(1.0, cosine.Factor(0), 12);
        Assert.Equal(0.5, cosine.Factor(5), 12);
        Assert.Equal(1.0, new WarmupSchedule(3, 10, LearningRateSchedule.Constant).Factor(9));
        Assert.Equal(3, WarmupSchedule.For(new TrainerOptions { WarmupRatio = 0.06 }, 40).WarmupSteps);
        Assert.Equal(5, WarmupSchedule.For(new TrainerOptions { WarmupRatio = 0.06, WarmupSteps = 5 }, 40).WarmupSteps);
    }
}
