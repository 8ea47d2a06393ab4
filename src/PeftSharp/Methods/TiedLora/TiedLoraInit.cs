namespace PeftSharp.Methods.TiedLora;

/// <summary>How the tied A and B start.</summary>
public enum TiedLoraInit
{
    /// <summary>A, B ~ N(0, 1) (the reference framework's tied scaled form); when neither u nor v trains, B = 0 instead.</summary>
    Normal,

    /// <summary>A Kaiming-uniform (a = √5), B ~ N(0, 1) (B = 0 when neither u nor v trains).</summary>
    Kaiming,

    /// <summary>VeRA's: both Kaiming-uniform with gain √2 (bound √(6/fan_in)) from a CPU generator seeded with <see cref="TiedLoraConfig.ProjectionPrngKey"/>, A first, then B.</summary>
    Vera,
}
