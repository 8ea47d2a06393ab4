namespace PeftSharp.Methods.Lora;

/// <summary>How LoRA factors start (PEFT's <c>init_lora_weights</c>).</summary>
public enum LoraInit
{
    /// <summary>A Kaiming-uniform (a = √5, i.e. U(±1/√in)), B = 0: the adapter starts as the identity (PEFT: <c>true</c>).</summary>
    Default,

    /// <summary>A ~ N(0, (1/r)²), B = 0 (PEFT: <c>"gaussian"</c>).</summary>
    Gaussian,

    /// <summary>A and B both Kaiming-uniform: the adapter changes the output from the start; for tests and debugging (PEFT: <c>false</c>).</summary>
    Random,
}
