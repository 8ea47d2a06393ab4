namespace PeftSharp.Adapters;

/// <summary>
/// The adapters chosen for the current thread (or async flow) by <see cref="PeftModel.UseAdapters"/>;
/// one per <see cref="PeftModel"/>, shared by its adapter layers and <c>modules_to_save</c> wrappers.
/// Without a choice, the layers use the model-wide active adapters.
/// </summary>
internal sealed class AdapterSelection
{
    private readonly AsyncLocal<IReadOnlyList<string>?> _current = new();
    private int _open;

    /// <summary>The adapters chosen for this thread, or null.</summary>
    public IReadOnlyList<string>? Current => _current.Value;

    /// <summary>Scopes not yet disposed, on any thread.</summary>
    public int OpenScopes => Volatile.Read(ref _open);

    /// <summary>Chooses <paramref name="adapterNames"/> for this thread until the returned scope is disposed.</summary>
    public IDisposable Use(IReadOnlyList<string> adapterNames)
    {
        var previous = _current.Value;
        _current.Value = adapterNames;
        Interlocked.Increment(ref _open);
        return new Scope(this, previous);
    }

    private sealed class Scope(AdapterSelection owner, IReadOnlyList<string>? previous) : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            if (!_disposed)
            {
                owner._current.Value = previous;
                Interlocked.Decrement(ref owner._open);
                _disposed = true;
            }
        }
    }
}
