namespace PeftSharp.Adapters;

/// <summary>The kind of fine-tuning a method's training preset is chosen for (<see cref="AdapterMethod.CreateTrainingConfig(int, AdapterTask)"/>).</summary>
public enum AdapterTask
{
    /// <summary>An encoder's sequence classification: attention query/value adapted, classifier and pooler trained in full (PEFT <c>SEQ_CLS</c>).</summary>
    SequenceClassification,

    /// <summary>A decoder's next-token prediction: every linear layer of attention and MLP adapted, nothing trained in full (PEFT <c>CAUSAL_LM</c>).</summary>
    CausalLanguageModeling,
}
