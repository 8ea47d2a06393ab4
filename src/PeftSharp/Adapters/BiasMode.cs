namespace PeftSharp.Adapters;

/// <summary>Which existing biases are trained and saved with the adapter (PEFT's <c>bias</c>).</summary>
public enum BiasMode
{
    /// <summary>No bias is trained.</summary>
    None,

    /// <summary>Every bias of the model is trained.</summary>
    All,

    /// <summary>Only the biases of adapted layers are trained (PEFT: <c>lora_only</c>).</summary>
    [JsonStringEnumMemberName("lora_only")]
    AdapterOnly,
}
