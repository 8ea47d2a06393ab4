namespace PeftSharp.Models.Tokenizers;

/// <summary>The result of <see cref="HfTokenizer.EncodeWithTokens"/>: ids and the tokens they stand for.</summary>
public sealed class HfEncoding
{
    /// <summary>Creates an encoding; the lists must have the same length.</summary>
    public HfEncoding(IReadOnlyList<int> ids, IReadOnlyList<string> tokens)
    {
        if (ids.Count != tokens.Count)
        {
            throw new ArgumentException("ids and tokens differ in length", nameof(tokens));
        }

        Ids = ids;
        Tokens = tokens;
    }

    /// <summary>The token ids.</summary>
    public IReadOnlyList<int> Ids { get; }

    /// <summary>The tokens (vocabulary strings, such as <c>▁Hello</c> or <c>Ġworld</c>).</summary>
    public IReadOnlyList<string> Tokens { get; }
}
