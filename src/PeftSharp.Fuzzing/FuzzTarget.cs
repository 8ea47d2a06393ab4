namespace PeftSharp.Fuzzing;

/// <summary>
/// A parser under fuzzing: valid seed inputs, target-specific structural mutations, and a
/// parse-and-use step that must either succeed or throw a typed error.
/// </summary>
public abstract class FuzzTarget
{
    /// <summary>The name used by <c>peft fuzz &lt;name&gt;</c> (for example <c>safetensors</c>).</summary>
    public abstract string Name { get; }

    /// <summary>One line describing what is fed to which parser.</summary>
    public abstract string Description { get; }

    /// <summary>
    /// Managed bytes a case may allocate per input byte. With <see cref="AllocationConstant"/> it bounds
    /// what one case may allocate (<see cref="AllocationBound"/>): allocation must follow the bytes
    /// actually present, never sizes or counts the input merely claims.
    /// </summary>
    public virtual long AllocationFactor => 64;

    /// <summary>Managed bytes a case may allocate regardless of its size (fixed costs of the parser and of the use step).</summary>
    public virtual long AllocationConstant => 1L << 20;

    /// <summary>The most a case of <paramref name="inputLength"/> bytes may allocate on the managed heap.</summary>
    public long AllocationBound(int inputLength) => AllocationFactor * inputLength + AllocationConstant;

    /// <summary>The bound as text (<c>64 × input + 1 MiB</c>).</summary>
    public string AllocationBoundText =>
        $"{AllocationFactor} × input + {(AllocationConstant % (1L << 20) == 0 ? $"{AllocationConstant >> 20} MiB" : $"{AllocationConstant} bytes")}";

    /// <summary>Valid inputs that mutations start from; each must be accepted by <see cref="ParseAndUse"/>. A function of <paramref name="seed"/>.</summary>
    public abstract IReadOnlyList<byte[]> CreateSeeds(int seed);

    /// <summary>
    /// Parses <paramref name="input"/> and uses the result the way PeftSharp would. Returns the bytes of
    /// parsed content held outside the managed heap (native tensors), which must not exceed the
    /// input's length; 0 for parsers that only allocate managed memory.
    /// </summary>
    /// <exception cref="Exception">Any error; <see cref="IsTyped"/> decides whether it is a rejection or a bug.</exception>
    public abstract long ParseAndUse(byte[] input);

    /// <summary>True when <paramref name="exception"/> is a deliberate rejection of bad input (by default any <see cref="PeftException"/>).</summary>
    public virtual bool IsTyped(Exception exception) => exception is PeftException;

    /// <summary>A mutation that knows the format (fields, lengths, offsets); by default a generic one.</summary>
    public virtual byte[] MutateStructurally(byte[] seed, Random random, IReadOnlyList<byte[]> seeds) =>
        FuzzMutators.Mutate(seed, random, seeds);

    /// <summary>An input made of random bytes; a target may shape it (a plausible length prefix).</summary>
    public virtual byte[] RandomInput(Random random) => FuzzMutators.RandomBytes(random);
}
