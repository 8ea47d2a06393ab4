using PeftSharp.Adapters;
using PeftSharp.IO.Json;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Training;

/// <summary>
/// The output directory of a run: <c>metrics.jsonl</c> and <c>ranks.jsonl</c> (one JSON record per
/// line), <c>best/</c> (the best weights in their published form) and <c>checkpoint/</c> (weights,
/// optimizer and controller state, counters). Folders are replaced whole through
/// <see cref="AtomicDirectory"/>, so a run killed at any moment leaves the previous checkpoint
/// loadable; every I/O failure becomes a <see cref="RunOutputException"/>.
/// With a <see cref="PeftModel"/> the weights are the active adapter in the PEFT layout; without one
/// they are the model's state dict (<c>model.bin</c>).
/// </summary>
public sealed class RunFolder
{
    private const string ModelFile = "model.bin";
    private readonly PeftModel? _peft;
    private readonly nn.Module _model;

    /// <summary>Creates the run folder <paramref name="directory"/> (created on first write) for the weights of <paramref name="peft"/>'s active adapter, or of <paramref name="model"/> when <paramref name="peft"/> is null.</summary>
    public RunFolder(string directory, nn.Module model, PeftModel? peft)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(model);
        Directory = directory;
        _model = model;
        _peft = peft;
    }

    /// <summary>The run folder.</summary>
    public string Directory { get; }

    /// <summary>The resume checkpoint.</summary>
    public string CheckpointDirectory => Path.Combine(Directory, "checkpoint");

    /// <summary>The best weights so far.</summary>
    public string BestDirectory => Path.Combine(Directory, "best");

    /// <summary>The step of the last checkpoint this run saved or resumed from (0: none).</summary>
    public int SavedStep { get; private set; }

    /// <summary>A fresh run starts its metrics.jsonl and ranks.jsonl anew and removes an earlier run's checkpoint, so a later resume can only continue this run.</summary>
    public void StartFresh()
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return;
        }

        foreach (var file in new[] { "metrics.jsonl", "ranks.jsonl" })
        {
            Write(file, () => File.Delete(Path.Combine(Directory, file)));
        }

        Write("the earlier run's checkpoint", () => AtomicDirectory.Delete(CheckpointDirectory));
    }

    /// <summary>Appends <paramref name="record"/> as one line of the run file <paramref name="file"/> (metrics.jsonl, ranks.jsonl).</summary>
    public void AppendRecord(string file, JsonObject record)
    {
        ArgumentNullException.ThrowIfNull(record);
        Write(file, () =>
        {
            System.IO.Directory.CreateDirectory(Directory);
            File.AppendAllText(Path.Combine(Directory, file), record.ToJsonString() + "\n");
        });
    }

    /// <summary>Replaces <c>best/</c> with the current weights in their published form.</summary>
    public void SaveBest() => Write("the best adapter", () => AtomicDirectory.Replace(BestDirectory, staging => SaveWeights(staging, checkpoint: false)));

    /// <summary>Replaces <c>checkpoint/</c> with the run's state at <paramref name="state"/>.</summary>
    internal void SaveCheckpoint(RunState state, AdamW optimizer, TrainingController? controller)
    {
        Write("the checkpoint", () => AtomicDirectory.Replace(CheckpointDirectory, staging =>
        {
            SaveWeights(staging, checkpoint: true);
            optimizer.save_state_dict(Path.Combine(staging, "optimizer.bin"));
            var controllerState = controller?.GetState() ?? new ControllerState();
            SafetensorsWriter.Save(Path.Combine(staging, "controller.safetensors"), controllerState.Tensors);
            var file = new TrainerStateFile
            {
                Step = state.Step,
                BestMetric = double.IsFinite(state.BestMetric) ? state.BestMetric : null,
                BestStep = state.BestStep,
                SinceBest = state.SinceBest,
                Losses = state.Losses,
                Evaluations = state.Evaluations,
                ControllerValues = controllerState.Values,
            };
            AtomicFile.WriteAllText(Path.Combine(staging, TrainerStateFile.FileName), JsonSerializer.Serialize(file, TrainingJsonContext.Default.TrainerStateFile));
        }));
        SavedStep = state.Step;
    }

    /// <summary>
    /// Loads the newest complete checkpoint into the weights, <paramref name="optimizer"/> and
    /// <paramref name="controller"/>, and trims metrics.jsonl and ranks.jsonl back to its step.
    /// <paramref name="lastRankRecord"/> is the last ranks.jsonl record kept (null: none).
    /// </summary>
    /// <exception cref="PeftException">There is no checkpoint to resume from.</exception>
    internal RunState Resume(AdamW optimizer, TrainingController? controller, out JsonNode? lastRankRecord)
    {
        var state = LoadCheckpoint(optimizer, controller);
        SavedStep = state.Step;
        TrimLog("metrics.jsonl", state.Step);
        lastRankRecord = TrimLog("ranks.jsonl", state.Step);
        return state;
    }

    private void SaveWeights(string directory, bool checkpoint)
    {
        if (_peft is not null)
        {
            _peft.SavePretrained(directory, [_peft.ActiveAdapter], trainingState: checkpoint);
        }
        else
        {
            _model.save(Path.Combine(directory, ModelFile));
        }
    }

    private void LoadWeights(string directory)
    {
        if (_peft is not null)
        {
            _peft.LoadAdapterWeights(directory, _peft.ActiveAdapter);
        }
        else
        {
            _model.load(Path.Combine(directory, ModelFile));
        }
    }

    private RunState LoadCheckpoint(AdamW optimizer, TrainingController? controller)
    {
        var directory = CheckpointDirectory;
        AtomicDirectory.Recover(directory);
        AtomicDirectory.Recover(BestDirectory);
        var statePath = Path.Combine(directory, TrainerStateFile.FileName);
        if (!File.Exists(statePath))
        {
            throw new PeftException($"nothing to resume: {statePath} does not exist");
        }

        LoadWeights(directory);
        optimizer.load_state_dict(Path.Combine(directory, "optimizer.bin"));
        var file = (TrainerStateFile)ConfigContract.Deserialize(statePath, ConfigJson.Load(statePath).Root, TrainingJsonContext.Default.TrainerStateFile);
        var controllerState = new ControllerState();
        foreach (var (name, tensor) in SafetensorsFile.ReadAll(Path.Combine(directory, "controller.safetensors")))
        {
            controllerState.Tensors[name] = tensor;
        }

        foreach (var (key, value) in file.ControllerValues)
        {
            controllerState.Values[key] = value;
        }

        controller?.LoadState(controllerState);
        return new RunState
        {
            Step = file.Step,
            BestMetric = file.BestMetric ?? double.NegativeInfinity,
            BestStep = file.BestStep,
            SinceBest = file.SinceBest,
            Losses = [.. file.Losses],
            Evaluations = [.. file.Evaluations],
        };
    }

    /// <summary>
    /// On resume, drops the records a killed run wrote after its checkpoint (and a torn last line), so the
    /// log reads as if the run was never interrupted. Returns the last record kept, or null.
    /// </summary>
    private JsonNode? TrimLog(string file, int step)
    {
        var path = Path.Combine(Directory, file);
        if (!File.Exists(path))
        {
            return null;
        }

        static JsonNode? Parse(string line)
        {
            try
            {
                return JsonNode.Parse(line);
            }
            catch (JsonException)
            {
                return null;
            }
        }

        static int? StepOf(JsonNode? record) =>
            record?["step"] is JsonValue value && value.TryGetValue<int>(out var s) ? s : null;

        var kept = File.ReadLines(path).Select(line => (Line: line, Record: Parse(line))).Where(r => StepOf(r.Record) <= step).ToList();
        var text = string.Concat(kept.Select(r => r.Line + "\n"));
        Write(file, () => AtomicFile.WriteAllText(path, text));
        return kept.Count > 0 ? kept[^1].Record : null;
    }

    /// <summary>Runs a write of the run folder, turning I/O failures (a full disk) into <see cref="RunOutputException"/>.</summary>
    private void Write(string what, Action write)
    {
        try
        {
            write();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var previous = SavedStep > 0 && System.IO.Directory.Exists(CheckpointDirectory) ? $"the previous checkpoint (step {SavedStep}) in {CheckpointDirectory} is intact" : "no earlier checkpoint exists";
            throw new RunOutputException($"could not write {what} in {Directory}: {e.Message}; {previous}", e);
        }
    }
}
