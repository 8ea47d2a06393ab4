using PeftSharp.Adapters;
using PeftSharp.Models.Decoders;
using PeftSharp.Training.CausalLanguageModeling;
using static TorchSharp.torch;

namespace PeftSharp.Benchmarks;

/// <summary>
/// Decoder fine-tuning at a realistic shape (issue 25), side by side in one run: PeftSharp's LoRA SFT
/// step (PeftModel over a <see cref="DecoderForCausalLM"/>, the trainer's <see cref="CausalLmLoss"/>,
/// AdamW) against the same step written directly against TorchSharp (<see cref="ReferenceDecoder"/>);
/// the step's GEMM FLOP/s against a 2048² GEMM's, with a breakdown of where the rest of the time goes
/// (<see cref="DecoderStepProfile"/>); and each method's step against LoRA's at the same shape, with
/// its controller work.
/// </summary>
public static class DecoderEngineBench
{
    /// <summary>The suite's name in <c>peft bench --only</c> and <c>bench/PeftSharp.Bench</c>.</summary>
    public const string Suite = "decoder-engine";

    /// <summary>The seven projections of a Llama layer.</summary>
    public static readonly TargetModules Targets = TargetModules.FromNames("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

    /// <summary>The settings the suite gives each method's step-time variant: the seven projections at the shape's rank, nothing trained in full.</summary>
    public static BenchmarkSettings Settings(DecoderBenchShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return new(Targets, [], Rank: shape.Rank);
    }

    /// <summary>
    /// Runs the comparisons at <paramref name="shape"/> in <paramref name="rounds"/> alternating rounds of one
    /// step each; <paramref name="methods"/> limits the method comparisons (null: every method; empty: none).
    /// </summary>
    public static IReadOnlyList<BenchRecord> Run(DecoderBenchShape shape, int rounds, IReadOnlyCollection<string>? methods, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(log);
        var records = new List<BenchRecord>();
        var describe = shape.Describe();
        var ids = Ids(shape);
        var variants = MethodStepBench.Variants(BenchmarkKind.StepTime).ToList();
        var settings = Settings(shape);
        // The large GEMM's rate drifts by up to 15 % over minutes on this machine: the reference is the better of
        // a measurement before the steps and one after them.
        var gemmBefore = EngineBench.LargeGemmFlops(2048, 5);
        var (model, peft) = Create(shape, variants.Single(v => v.Variant.Baseline).Variant.Create(settings));
        var lora = Step(model, peft, ids);
        double loraMs;
        using (var reference = Reference(shape, model, peft))
        {
            // The trainer's step (head and loss fused and chunked, block-causal attention), then the same model
            // with the head's logits, CausalLmLoss and SDPA — the hand-written step's algorithm — against the reference.
            var referenceStep = reference.Step(ids);
            var warm = SideBySide.WarmUntilSteady([lora, referenceStep]);
            log.WriteLine($"warm-up: {warm} rounds of both steps until the heap stopped growing");
            var (ratio, peftMs, referenceMs) = SideBySide.Compare(rounds, 1, lora, referenceStep, warmup: 0);
            loraMs = peftMs;
            records.Add(new BenchRecord("decoder LoRA SFT step / hand-written TorchSharp step", ratio, "ratio", 1.02,
                Detail: FormattableString.Invariant($"{peftMs:F0} ms vs {referenceMs:F0} ms; {describe}; causal-LM loss on every token (PeftSharp: the trainer's CausalLmTask.TrainingLoss, head and loss chunked), AdamW")));
            log.WriteLine(records[^1]);
            var unchunked = MethodStepBench.TrainingStep(peft, () => WithSdpa(() => CausalLmLoss.Compute(model.Forward(ids, null, null, null, false), ids)));
            (ratio, peftMs, referenceMs) = SideBySide.Compare(rounds, 1, unchunked, referenceStep, warmup: 1);
            records.Add(new BenchRecord("decoder LoRA SFT step, logits + CausalLmLoss / hand-written TorchSharp step", ratio, "ratio", 1.02,
                Detail: FormattableString.Invariant($"{peftMs:F0} ms vs {referenceMs:F0} ms; the same algorithm on both sides (full logits, then the loss; SDPA over repeated key-value heads); {describe}")));
            log.WriteLine(records[^1]);
        }

        var flops = shape.StepGemmFlops();
        var stepFlops = flops / (loraMs / 1000);
        var gemm = Math.Max(gemmBefore, EngineBench.LargeGemmFlops(2048, 5));
        records.Add(new BenchRecord("decoder step GEMM FLOP/s / large-GEMM FLOP/s", stepFlops / gemm, "ratio", 0.80, AtLeast: true,
            Detail: FormattableString.Invariant($"step {stepFlops / 1e9:F1} GFLOP/s ({flops / 1e9:F0} GFLOP per step, counted as in DecoderBenchShape.StepGemmFlops), 2048² GEMM {gemm / 1e9:F1} GFLOP/s (the better of before and after the steps); {describe}")));
        log.WriteLine(records[^1]);
        records.AddRange(DecoderStepProfile.Run(shape, loraMs, gemm, log));

        foreach (var (method, variant) in variants.Where(v => !v.Variant.Baseline && (methods is null || methods.Contains(v.Method.Name) || methods.Contains(v.Variant.Name))))
        {
            var (methodModel, methodPeft) = Create(shape, variant.Create(settings));
            var (ratio, methodMs, baseMs) = SideBySide.Compare(rounds, 1, Step(methodModel, methodPeft, ids), lora, warmup: 1);
            var target = Math.Max(1.05, variant.Tolerance ?? 1.05);
            records.Add(new BenchRecord($"decoder {variant.Name} step / LoRA step", ratio, "ratio", target,
                Detail: FormattableString.Invariant($"{methodMs:F0} ms vs {baseMs:F0} ms; {describe}; with the method's controller work")));
            log.WriteLine(records[^1]);
            methodModel.Dispose();
        }

        model.Dispose();
        return records;
    }

    /// <summary>A seeded random batch of token ids <c>(batch, S)</c>.</summary>
    public static Tensor Ids(DecoderBenchShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return randint(0, shape.Vocab, [shape.Batch, shape.Sequence], generator: new Generator(7));
    }

    /// <summary>A seeded random decoder of <paramref name="shape"/> with <paramref name="adapter"/> injected.</summary>
    public static (DecoderForCausalLM Model, PeftModel Peft) Create(DecoderBenchShape shape, AdapterConfig adapter)
    {
        ArgumentNullException.ThrowIfNull(shape);
        manual_seed(0);
        var model = new DecoderForCausalLM(shape.Config());
        return (model, PeftModel.Create(model, adapter));
    }

    /// <summary>The trainer's SFT step: <see cref="CausalLmTask.TrainingLoss"/> with the ids as labels (every token supervised), the controller's hooks, AdamW.</summary>
    public static Action Step(DecoderForCausalLM model, PeftModel peft, Tensor ids)
    {
        ArgumentNullException.ThrowIfNull(model);
        var batch = new CausalLmBatch(ids, ids, null);
        return MethodStepBench.TrainingStep(peft, () => CausalLmTask.TrainingLoss(model, batch));
    }

    /// <summary>Runs <paramref name="forward"/> with the decoder's attention on SDPA (the hand-written step's), as this thread's setting.</summary>
    private static Tensor WithSdpa(Func<Tensor> forward)
    {
        BlockCausalAttention.Disabled = true;
        try
        {
            return forward();
        }
        finally
        {
            BlockCausalAttention.Disabled = false;
        }
    }

    /// <summary>The hand-written reference holding copies of <paramref name="model"/>'s frozen weights and <paramref name="peft"/>'s LoRA factors.</summary>
    public static ReferenceDecoder Reference(DecoderBenchShape shape, DecoderForCausalLM model, PeftModel peft)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(peft);
        var weights = model.named_parameters().ToDictionary(p => p.name.Replace(".base_layer.", ".", StringComparison.Ordinal), p => (Tensor)p.parameter, StringComparer.Ordinal);
        var factors = peft.AdaptedModules.ToDictionary(
            m => m.Name,
            m =>
            {
                var named = m.Layer.GetPath(peft.ActiveAdapter).NamedAdapterTensors().ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
                return (named["lora_A.weight"], named["lora_B.weight"]);
            },
            StringComparer.Ordinal);
        var config = model.Decoder;
        return new ReferenceDecoder(shape, weights, factors, peft.AdaptedModules[0].Layer.GetPath(peft.ActiveAdapter).Scaling, config.Rope.Theta, config.RmsNormEps);
    }
}
