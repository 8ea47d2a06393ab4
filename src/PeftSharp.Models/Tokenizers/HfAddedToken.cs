namespace PeftSharp.Models.Tokenizers;

/// <summary>
/// An entry of tokenizer.json's <c>added_tokens</c> (or tokenizer_config.json's
/// <c>added_tokens_decoder</c>): a string matched in text before any normalization or BPE.
/// </summary>
public sealed class HfAddedToken
{
    /// <summary>Creates an added token.</summary>
    public HfAddedToken(int id, string content, bool special, bool lstrip = false, bool rstrip = false, bool singleWord = false, bool normalized = false)
    {
        Id = id;
        Content = content;
        Special = special;
        LStrip = lstrip;
        RStrip = rstrip;
        SingleWord = singleWord;
        Normalized = normalized;
    }

    /// <summary>The id.</summary>
    public int Id { get; }

    /// <summary>The text the token stands for.</summary>
    public string Content { get; }

    /// <summary>True for special tokens (skipped by decoding with <c>skipSpecialTokens</c>).</summary>
    public bool Special { get; }

    /// <summary>True when whitespace before the token is part of its match.</summary>
    public bool LStrip { get; }

    /// <summary>True when whitespace after the token is part of its match.</summary>
    public bool RStrip { get; }

    /// <summary>True when the token matches only as a whole word (no letter, digit or underscore beside it).</summary>
    public bool SingleWord { get; }

    /// <summary>True when the token is matched in normalized text rather than in the raw text.</summary>
    public bool Normalized { get; }
}
