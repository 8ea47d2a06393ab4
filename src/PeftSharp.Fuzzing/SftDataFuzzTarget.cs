using PeftSharp.Models.Chat;
using PeftSharp.Models.Tokenizers;
using PeftSharp.Training.CausalLanguageModeling;

namespace PeftSharp.Fuzzing;

/// <summary>
/// <see cref="SftDataset.Read"/> with a Qwen-style tokenizer and a ChatML template, at a maximum length
/// of 32 tokens so truncation is exercised: text, prompt/completion and messages files whose records
/// are mutated as JSON (fields, types, roles, empty and huge values). An accepted dataset must hold
/// examples of at most 32 tokens, labels of the same length that are −100 or the id, and at least one
/// supervised token the loss sees.
/// </summary>
public sealed class SftDataFuzzTarget : FuzzTarget
{
    /// <summary>The target's name on the command line.</summary>
    public const string TargetName = "sft-data";

    private const int MaxLength = 32;

    private const string ChatMl = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private readonly SftEncoder _encoder;
    private readonly JsonFuzzMutator _json = new(
        ["text", "prompt", "completion", "messages", "role", "content", "label", ""],
        ["user", "assistant", "system", "tool", "", "hello world", "<|im_end|>", "naïve 日本", 0, -1, 1.5, true, new JsonArray(), new JsonObject(), new JsonObject { ["role"] = "assistant", ["content"] = "ok" }]);

    /// <summary>Creates the target (its tokenizer and template are built in memory).</summary>
    public SftDataFuzzTarget()
    {
        var (tokenizer, config) = HfTokenizerSeeds.Qwen();
        _encoder = new SftEncoder(
            HfTokenizer.Load(Encoding.UTF8.GetBytes(tokenizer.ToJsonString()), config is null ? null : Encoding.UTF8.GetBytes(config.ToJsonString())),
            ChatTemplate.Parse(ChatMl),
            MaxLength);
    }

    /// <summary>
    /// 3072 bytes per input byte: tokenizing takes up to 1024 (the hf-tokenizer target's bound), and a
    /// prompt/completion record may be tokenized three times (the prompt alone, with the completion, and the
    /// completion alone when a token merges across the boundary; 2,243 bytes per byte seen); a
    /// conversation is rendered and tokenized twice per assistant turn within the maximum length.
    /// </summary>
    public override long AllocationFactor => 3072;

    /// <summary>4 MiB besides: a small record still runs the sandboxed template interpreter and the tokenizer's buffers (1.7 MB seen for a 715-byte input).</summary>
    public override long AllocationConstant => 4L << 20;

    /// <inheritdoc />
    public override string Name => TargetName;

    /// <inheritdoc />
    public override string Description => "Feed the SFT data reader (text, prompt/completion and messages JSONL) mutated records and random bytes.";

    /// <inheritdoc />
    public override IReadOnlyList<byte[]> CreateSeeds(int seed) =>
    [
        Encoding.UTF8.GetBytes("{\"text\": \"hello world\"}\n{\"text\": \"the token izer\", \"id\": 3}\n"),
        Encoding.UTF8.GetBytes("{\"prompt\": \"Plural of world:\", \"completion\": \" worlds\"}\n\n{\"prompt\": \"\", \"completion\": \"naïve café 日本 123\"}\r\n"),
        Encoding.UTF8.GetBytes("{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"hello\"}, {\"role\": \"assistant\", \"content\": \"world\"}]}\n"
            + "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}, {\"role\": \"user\", \"content\": \"c\"}, {\"role\": \"assistant\", \"content\": \"d\", \"name\": \"x\"}]}\n"),
    ];

    /// <inheritdoc />
    public override long ParseAndUse(byte[] input)
    {
        var data = SftDataset.Read(input, "train.jsonl", _encoder);
        long supervised = 0;
        foreach (var example in data.Examples)
        {
            if (example.Length > MaxLength || example.Labels.Length != example.Length
                || example.Labels.Where((label, t) => label != CausalLmLoss.IgnoreIndex && label != example.InputIds[t]).Any()
                || !example.Labels.Skip(1).Any(label => label != CausalLmLoss.IgnoreIndex))
            {
                throw new InvalidOperationException($"an accepted example breaks the invariants: {example.Length} ids, {example.SupervisedCount} supervised");
            }

            supervised += example.SupervisedCount;
        }

        return data.Examples.Count + data.Truncated + data.Dropped + supervised;
    }

    /// <inheritdoc />
    public override byte[] MutateStructurally(byte[] seed, Random random, IReadOnlyList<byte[]> seeds)
    {
        ArgumentNullException.ThrowIfNull(seed);
        ArgumentNullException.ThrowIfNull(random);
        var lines = Encoding.UTF8.GetString(seed).Split('\n');
        var at = random.Next(lines.Length);
        if (lines[at].TrimEnd('\r').Length > 0)
        {
            lines[at] = Encoding.UTF8.GetString(_json.Mutate(Encoding.UTF8.GetBytes(lines[at].TrimEnd('\r')), random, seeds));
        }
        else if (random.Next(2) == 0)
        {
            lines[at] = lines[random.Next(lines.Length)];
        }

        return Encoding.UTF8.GetBytes(string.Join('\n', lines));
    }
}
