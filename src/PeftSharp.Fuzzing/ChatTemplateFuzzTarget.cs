using System.Reflection;
using PeftSharp.Models.Chat;

namespace PeftSharp.Fuzzing;

/// <summary>
/// The chat-template interpreter (<see cref="ChatTemplate"/>): real templates (Llama 2, 3 and 3.1,
/// Qwen2.5 and Qwen3, Phi-3, Mistral, SmolLM2, Gemma, and one that uses every construct) mutated
/// token- and tag-wise and byte-wise, parsed and rendered in a small sandbox with two conversations
/// (a plain one, and one with a system prompt, tools, a tool call and reasoning). Each case must
/// end in a <see cref="ChatTemplateException"/> or a render within the sandbox's output bound.
/// </summary>
public sealed class ChatTemplateFuzzTarget : FuzzTarget
{
    /// <summary>The sandbox of a case: 20,000 steps, 16,384 characters, 16 nested calls.</summary>
    public static readonly ChatTemplateOptions Options = new() { MaxSteps = 20_000, MaxOutputLength = 16_384, MaxCallDepth = 16 };

    private static readonly string[] SeedNames = ["llama2", "qwen3", "llama3", "llama31", "qwen25", "phi3", "mistral", "smollm2", "gemma", "features"];

    private static readonly string[] Snippets =
    [
        "{% for i in range(100000) %}{{ i }}{% endfor %}", "{{ 'x' * 100000 }}", "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        "{{ (((((((((1))))))))) }}", "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{{ messages[::-1]|tojson(indent=2) }}", "{{ x.y.z }}", "{{ raise_exception('no') }}", "{% raw %}{{{% endraw %}", "{#", "{%- if %}",
        "{{ 1 / 0 }}", "{{ '\\u00e9\\x41\\U0001F600'|length }}", "{% for a, b in messages %}{% endfor %}", "{{ messages|map(attribute='role')|unique|list }}",
        "{% set x %}{% endset %}", "{% break %}", "{{ 2 ** 62 * 4 }}", "{{ 'a' < 1 }}", "{% filter nosuch %}{% endfilter %}", "{{ loop.index }}",
        "{%+ if true +%}", "{{- -}}", "{{ {'a': {'b': [1, {'c': none}]}}|tojson }}", "{{ range(3)|list * 3000 }}", "{{ tools[0].function.parameters|items|list }}",
    ];

    private static readonly string[] Words =
    [
        "if", "elif", "else", "endif", "for", "endfor", "in", "not", "and", "or", "is", "set", "endset", "macro", "endmacro", "call", "endcall",
        "filter", "endfilter", "raw", "endraw", "loop", "messages", "message", "content", "role", "none", "true", "defined", "string", "mapping",
        "tojson", "trim", "length", "items", "join", "map", "selectattr", "namespace", "range", "ns", "tools", "bos_token", "add_generation_prompt",
        "0", "1", "-1", "''", "[]", "{}", "(", ")", "[", "]", "|", ".", ",", ":", "~", "+", "*", "//", "%", "==", "!=", "<", "{{", "}}", "{%", "%}", "-%}", "{%-",
    ];

    internal static readonly IReadOnlyList<JsonObject> Plain = Messages("""
        [{"role": "user", "content": "Hello! Who are you?"}, {"role": "assistant", "content": "An assistant."}, {"role": "user", "content": "Traduis : « naïve café » → 日本語 😀"}]
        """);

    internal static readonly IReadOnlyList<JsonObject> Full = Messages("""
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the weather in Paris?"},
         {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
         {"role": "tool", "content": "{\"temp\": 21}"}, {"role": "assistant", "content": "<think>\nwarm\n</think>\n\nIt is 21 °C."}, {"role": "user", "content": "Thanks!"}]
        """);

    internal static readonly Dictionary<string, object?> Tokens = new() { ["bos_token"] = "<s>", ["eos_token"] = "</s>", ["unk_token"] = "<unk>" };

    internal static readonly Dictionary<string, object?> WithTools = new(Tokens)
    {
        ["tools"] = JsonNode.Parse("""[{"type": "function", "function": {"name": "get_weather", "description": "Current weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]"""),
    };

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <inheritdoc />
    public override string Name => "chat-template";

    /// <inheritdoc />
    public override string Description => "Parse and render mutated chat templates (Jinja) in the sandbox with two conversations.";

    /// <summary>
    /// 512 bytes per input byte for the tokens and syntax tree (a token, its text and its node take
    /// about 120 bytes per byte), and 32 MiB for the renders: 20,000 steps each, a step charged for
    /// every 16 characters or items it builds, a few hundred bytes of scopes and arguments per step.
    /// </summary>
    public override long AllocationFactor => 512;

    /// <inheritdoc />
    public override long AllocationConstant => 32L << 20;

    /// <summary>The text of the seed template <paramref name="name"/> (embedded in this assembly).</summary>
    public static string SeedTemplate(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"PeftSharp.Fuzzing.ChatTemplates.{name}.jinja")
            ?? throw new ArgumentException($"no seed template named {name}", nameof(name));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <inheritdoc />
    public override IReadOnlyList<byte[]> CreateSeeds(int seed) => [.. SeedNames.Select(n => Encoding.UTF8.GetBytes(SeedTemplate(n)))];

    /// <inheritdoc />
    public override long ParseAndUse(byte[] input)
    {
        string text;
        try
        {
            text = StrictUtf8.GetString(input);
        }
        catch (DecoderFallbackException e)
        {
            throw new ChatTemplateException("chat_template.jinja", 0, 0, $"the template is not valid UTF-8 ({e.Message})");
        }

        var template = ChatTemplate.Parse(text, "chat_template.jinja");
        Check(template.Render(Plain, addGenerationPrompt: true, Tokens, Options));
        try
        {
            Check(template.Render(Full, addGenerationPrompt: false, WithTools, Options));
        }
        catch (ChatTemplateException)
        {
            // A template may refuse a conversation (raise_exception on roles it does not know): a typed end too.
        }

        return 0;
    }

    /// <inheritdoc />
    public override byte[] MutateStructurally(byte[] seed, Random random, IReadOnlyList<byte[]> seeds)
    {
        var text = Encoding.UTF8.GetString(seed);
        var count = random.Next(3) == 0 ? random.Next(2, 5) : 1;
        for (var i = 0; i < count; i++)
        {
            text = MutateOnce(text, random, seeds);
        }

        return Encoding.UTF8.GetBytes(text);
    }

    private static string MutateOnce(string text, Random random, IReadOnlyList<byte[]> seeds)
    {
        var tags = Tags(text);
        var at = random.Next(text.Length + 1);
        switch (random.Next(8))
        {
            case 0:
                return text.Insert(at, Snippets[random.Next(Snippets.Length)]);
            case 1 when tags.Count > 0:
                {
                    var (start, length) = tags[random.Next(tags.Count)];
                    return text.Remove(start, length);
                }

            case 2 when tags.Count > 0:
                {
                    var (start, length) = tags[random.Next(tags.Count)];
                    return text.Insert(tags[random.Next(tags.Count)].Start, text.Substring(start, length));
                }

            case 3:
                {
                    var other = Encoding.UTF8.GetString(seeds[random.Next(seeds.Count)]);
                    var otherTags = Tags(other);
                    if (otherTags.Count == 0)
                    {
                        return text;
                    }

                    var (start, length) = otherTags[random.Next(otherTags.Count)];
                    return text.Insert(tags.Count > 0 ? tags[random.Next(tags.Count)].Start : at, other.Substring(start, length));
                }

            case 4:
                {
                    var words = WordSpans(text);
                    if (words.Count == 0)
                    {
                        return text;
                    }

                    var (start, length) = words[random.Next(words.Count)];
                    return string.Concat(text.AsSpan(0, start), Words[random.Next(Words.Length)], text.AsSpan(start + length));
                }

            case 5:
                return text.Insert(at, Words[random.Next(Words.Length)] + (random.Next(2) == 0 ? " " : string.Empty));
            case 6 when tags.Count > 0:
                {
                    // Swap the whitespace control of a tag.
                    var (start, length) = tags[random.Next(tags.Count)];
                    var tag = text.Substring(start, length);
                    var swapped = tag.Length > 4 && tag[2] == '-' ? tag.Remove(2, 1) : tag.Insert(2, random.Next(2) == 0 ? "-" : "+");
                    return string.Concat(text.AsSpan(0, start), swapped, text.AsSpan(start + length));
                }

            default:
                return Encoding.UTF8.GetString(FuzzMutators.Mutate(Encoding.UTF8.GetBytes(text), random, seeds));
        }
    }

    /// <summary>The spans of the tags (<c>{{ }}</c>, <c>{% %}</c>, <c>{# #}</c>) of a template.</summary>
    private static List<(int Start, int Length)> Tags(string text)
    {
        var tags = new List<(int, int)>();
        for (var i = text.IndexOf('{'); i >= 0 && i + 1 < text.Length; i = text.IndexOf('{', i + 1))
        {
            var close = text[i + 1] switch
            {
                '{' => "}}",
                '%' => "%}",
                '#' => "#}",
                _ => null,
            };
            if (close is null)
            {
                continue;
            }

            var end = text.IndexOf(close, i + 2, StringComparison.Ordinal);
            if (end < 0)
            {
                break;
            }

            tags.Add((i, end + 2 - i));
        }

        return tags;
    }

    private static List<(int Start, int Length)> WordSpans(string text)
    {
        var words = new List<(int, int)>();
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsLetterOrDigit(text[i]) || text[i] == '_')
            {
                var start = i;
                while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] == '_'))
                {
                    i++;
                }

                words.Add((start, i - start));
            }
        }

        return words;
    }

    private static void Check(string rendered)
    {
        if (rendered.Length > Options.MaxOutputLength)
        {
            throw new InvalidOperationException($"a render of {rendered.Length} characters passed the sandbox's bound of {Options.MaxOutputLength}");
        }
    }

    private static IReadOnlyList<JsonObject> Messages(string json) => [.. JsonNode.Parse(json)!.AsArray().Select(m => m!.AsObject())];
}
