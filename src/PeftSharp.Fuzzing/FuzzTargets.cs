namespace PeftSharp.Fuzzing;

/// <summary>The fuzz targets of the PeftSharp library (the CLI adds its run-config target).</summary>
public static class FuzzTargets
{
    /// <summary>New instances of every library target: safetensors, adapter-config, tokenizer, hf-tokenizer, dataset, onnx, chat-template, model-config.</summary>
    public static IReadOnlyList<FuzzTarget> Create() =>
        [new SafetensorsFuzzTarget(), new AdapterConfigFuzzTarget(), new TokenizerFuzzTarget(), new HfTokenizerFuzzTarget(), new DatasetFuzzTarget(), new OnnxFuzzTarget(), new ChatTemplateFuzzTarget(), new ModelConfigFuzzTarget(), new SftDataFuzzTarget()];
}
