namespace PeftSharp.Training;

/// <summary>Learning-rate schedule after warm-up.</summary>
public enum LearningRateSchedule
{
    /// <summary>Linear decay to 0.</summary>
    Linear,

    /// <summary>Cosine decay to 0.</summary>
    Cosine,

    /// <summary>Constant.</summary>
    Constant,
}
