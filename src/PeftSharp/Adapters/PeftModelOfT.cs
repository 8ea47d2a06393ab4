using static TorchSharp.torch;

namespace PeftSharp.Adapters;

/// <summary>
/// A <see cref="PeftModel"/> that knows its model's type (made by <see cref="PeftModel.Create{TModel}"/>):
/// <see cref="Model"/>, <see cref="MergeAndUnload"/> and <see cref="Unload"/> return a
/// <typeparamref name="TModel"/>, so no casts are needed.
/// </summary>
/// <typeparam name="TModel">The model's type.</typeparam>
public sealed class PeftModel<TModel> : PeftModel
    where TModel : nn.Module
{
    internal PeftModel(TModel model)
        : base(model)
    {
    }

    /// <summary>The wrapped model (modified in place).</summary>
    public new TModel Model => (TModel)base.Model;

    /// <summary>
    /// Merges the adapters into the base weights and puts the base layers back (see
    /// <see cref="PeftModel.MergeAndUnload"/>). Returns the plain model; this object is unusable afterwards.
    /// </summary>
    public new TModel MergeAndUnload(IEnumerable<string>? adapterNames = null, bool safeMerge = false) =>
        (TModel)base.MergeAndUnload(adapterNames, safeMerge);

    /// <summary>Removes every adapter without merging and puts the original modules back (see <see cref="PeftModel.Unload"/>).</summary>
    public new TModel Unload() => (TModel)base.Unload();
}
