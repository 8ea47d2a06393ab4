namespace PeftSharp.Models.Chat;

/// <summary>
/// A model's chat template (Jinja, as in <c>tokenizer_config.json</c>'s <c>chat_template</c> or a
/// <c>chat_template.jinja</c> file), rendered the way transformers' <c>apply_chat_template</c> does:
/// <c>trim_blocks</c> and <c>lstrip_blocks</c> on, <c>messages</c>, <c>add_generation_prompt</c>,
/// the special tokens, <c>tools</c> and <c>documents</c> (none unless given), <c>raise_exception</c>
/// and <c>strftime_now</c>. Templates are untrusted: they run in a sandbox with no file or network
/// access and bounded steps, output and nesting (<see cref="ChatTemplateOptions"/>); every failure is
/// a <see cref="ChatTemplateException"/> naming the template line.
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>The file name of a template stored beside <c>tokenizer_config.json</c>.</summary>
    public const string TemplateFileName = "chat_template.jinja";

    /// <summary>The tokenizer configuration file that holds <c>chat_template</c> and the special tokens.</summary>
    public const string TokenizerConfigFileName = "tokenizer_config.json";

    private static readonly string[] SpecialTokenFields = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

    private readonly TemplateSource _source;
    private readonly TemplateStatement[] _body;

    private ChatTemplate(TemplateSource source, TemplateStatement[] body, IReadOnlyDictionary<string, object?> specialTokens)
    {
        _source = source;
        _body = body;
        SpecialTokens = specialTokens;
    }

    /// <summary>The template's name in messages (a file name, or <c>chat_template</c>).</summary>
    public string SourceName => _source.Name;

    /// <summary>The template text (newlines normalized, one trailing newline dropped, as Jinja reads it).</summary>
    public string Source => _source.Text;

    /// <summary>
    /// The special-token variables every render receives (from <see cref="Load"/>: <c>bos_token</c>,
    /// <c>eos_token</c>, <c>unk_token</c>, <c>pad_token</c>… when set, and a non-empty
    /// <c>additional_special_tokens</c> list); empty for a template from <see cref="Parse"/>.
    /// </summary>
    public IReadOnlyDictionary<string, object?> SpecialTokens { get; }

    /// <summary>Parses a template.</summary>
    /// <param name="source">The Jinja text.</param>
    /// <param name="sourceName">The name used in error messages (default <c>chat_template</c>).</param>
    /// <exception cref="ChatTemplateException">The template is malformed or uses unsupported syntax.</exception>
    public static ChatTemplate Parse(string source, string? sourceName = null) =>
        Create(source, sourceName, new Dictionary<string, object?>());

    private static ChatTemplate Create(string source, string? sourceName, IReadOnlyDictionary<string, object?> specialTokens)
    {
        ArgumentNullException.ThrowIfNull(source);
        var text = new TemplateSource(TemplateLexer.Normalize(source), sourceName ?? "chat_template");
        return new ChatTemplate(text, TemplateParser.Parse(text), specialTokens);
    }

    /// <summary>
    /// Loads the chat template of a tokenizer directory: <c>chat_template.jinja</c> when present (as
    /// transformers prefers it), else <c>tokenizer_config.json</c>'s <c>chat_template</c> (a string, or
    /// a list of <c>{name, template}</c> objects of which <paramref name="templateName"/>, by default
    /// <c>default</c>, is used); and the special tokens of <c>tokenizer_config.json</c> (strings or
    /// objects with a <c>content</c> field).
    /// </summary>
    /// <exception cref="ConfigFormatException">tokenizer_config.json is malformed (the message names the file and field).</exception>
    /// <exception cref="ChatTemplateException">There is no template, or it does not parse.</exception>
    public static ChatTemplate Load(string tokenizerDirectory, string? templateName = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizerDirectory);
        if (!Directory.Exists(tokenizerDirectory))
        {
            throw new DirectoryNotFoundException($"{tokenizerDirectory}: the tokenizer directory does not exist");
        }

        var configPath = Path.Combine(tokenizerDirectory, TokenizerConfigFileName);
        var config = File.Exists(configPath) ? ConfigJson.Load(configPath) : null;
        var specialTokens = config is null ? new Dictionary<string, object?>() : ReadSpecialTokens(config);
        var templatePath = Path.Combine(tokenizerDirectory, TemplateFileName);
        if (File.Exists(templatePath))
        {
            return Create(File.ReadAllText(templatePath), templatePath, specialTokens);
        }

        if (config?.Node("chat_template") is not { } field)
        {
            throw new ChatTemplateException(tokenizerDirectory, 0, 0, $"no chat template: neither {TemplateFileName} nor a chat_template field in {TokenizerConfigFileName}");
        }

        var (text, fieldName) = SelectTemplate(config, field, templateName ?? "default");
        return Create(text, $"{configPath} ({fieldName})", specialTokens);
    }

    private static (string Text, string Field) SelectTemplate(ConfigJson config, JsonNode field, string templateName)
    {
        if (field is JsonValue value && value.TryGetValue<string>(out var text))
        {
            return (text, "chat_template");
        }

        if (field is not JsonArray list)
        {
            throw config.Error("chat_template", "expected a string or a list of {name, template} objects");
        }

        var names = new List<string>();
        for (var i = 0; i < list.Count; i++)
        {
            var entry = list[i] as JsonObject ?? throw config.Error($"chat_template[{i}]", "expected an object with name and template");
            var name = entry["name"] is JsonValue n && n.TryGetValue<string>(out var s) ? s : throw config.Error($"chat_template[{i}].name", "expected a string");
            names.Add(name);
            if (name == templateName)
            {
                return entry["template"] is JsonValue t && t.TryGetValue<string>(out var template)
                    ? (template, $"chat_template[{i}].template")
                    : throw config.Error($"chat_template[{i}].template", "expected a string");
            }
        }

        throw config.Error("chat_template", $"no template named '{templateName}' (the file has {(names.Count == 0 ? "none" : string.Join(", ", names))})");
    }

    private static Dictionary<string, object?> ReadSpecialTokens(ConfigJson config)
    {
        var tokens = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var field in SpecialTokenFields)
        {
            if (config.Node(field) is { } node)
            {
                tokens[field] = TokenContent(config, node, field);
            }
        }

        if (config.Node("additional_special_tokens") is { } additional)
        {
            if (additional is not JsonArray array)
            {
                throw config.Error("additional_special_tokens", "expected a list of tokens");
            }

            var list = new List<object?>();
            for (var i = 0; i < array.Count; i++)
            {
                list.Add(array[i] is { } item ? TokenContent(config, item, $"additional_special_tokens[{i}]") : throw config.Error($"additional_special_tokens[{i}]", "expected a string or an object with content"));
            }

            if (list.Count > 0)
            {
                tokens["additional_special_tokens"] = list;
            }
        }

        return tokens;
    }

    private static string TokenContent(ConfigJson config, JsonNode node, string field) => node switch
    {
        JsonValue value when value.TryGetValue<string>(out var text) => text,
        JsonObject obj when obj["content"] is JsonValue content && content.TryGetValue<string>(out var text) => text,
        JsonObject => throw config.Error(field, "expected a 'content' string in the token object"),
        _ => throw config.Error(field, "expected a string or an object with content"),
    };

    /// <summary>Renders the conversation <paramref name="messages"/>.</summary>
    /// <param name="messages">The messages: JSON objects with <c>role</c>, <c>content</c> and any other fields (<c>tool_calls</c>, <c>name</c>, content parts…), passed through as they are.</param>
    /// <param name="addGenerationPrompt">The <c>add_generation_prompt</c> variable: end with the header of the assistant's reply.</param>
    /// <param name="variables">
    /// More variables (they override <see cref="SpecialTokens"/>): <c>tools</c>, <c>documents</c>,
    /// <c>enable_thinking</c>, <c>date_string</c>…; values may be JSON nodes, strings, numbers,
    /// booleans, null, dictionaries with string keys, and sequences.
    /// </param>
    /// <param name="options">The sandbox's bounds (default <see cref="ChatTemplateOptions.Default"/>).</param>
    /// <returns>The rendered text.</returns>
    /// <exception cref="ChatTemplateException">The render failed: an error of the template, its own <c>raise_exception</c>, or a bound of the sandbox.</exception>
    public string Render(IReadOnlyList<JsonObject> messages, bool addGenerationPrompt, IReadOnlyDictionary<string, object?>? variables = null, ChatTemplateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        options ??= ChatTemplateOptions.Default;
        var budget = new TemplateBudget(options);
        var globals = new TemplateScope(null);
        globals.Set("range", new TemplateCallable("range", a => Range(a, budget)));
        globals.Set("dict", new TemplateCallable("dict", a => Dict(a)));
        globals.Set("namespace", new TemplateCallable("namespace", Namespace));
        globals.Set("raise_exception", new TemplateCallable("raise_exception", a => throw new TemplateRuntimeException(TemplateValues.Str(a.Get(0, "message"), budget), raisedByTemplate: true)));
        globals.Set("strftime_now", new TemplateCallable("strftime_now", a => TemplateStrftime.Format(
            options.Clock.GetLocalNow(),
            a.Get(0, "format") as string ?? throw new TemplateRuntimeException("strftime_now() needs a format string"))));
        var scope = new TemplateScope(globals);
        scope.Set("tools", null);
        scope.Set("documents", null);
        foreach (var (name, value) in SpecialTokens)
        {
            scope.Set(name, value);
        }

        foreach (var (name, value) in variables ?? new Dictionary<string, object?>())
        {
            scope.Set(name, TemplateValues.FromHost(value));
        }

        scope.Set("messages", messages.Select(m => TemplateValues.FromJson(m)).ToList());
        scope.Set("add_generation_prompt", addGenerationPrompt);
        try
        {
            return new TemplateInterpreter(_source, budget).Render(_body, scope);
        }
        catch (TemplateRuntimeException e)
        {
            throw _source.Error(-1, e.Message, e.RaisedByTemplate);
        }
    }

    private static object? Range(TemplateArguments a, TemplateBudget budget)
    {
        a.Check("range", 3);
        var numbers = a.Positional.Select(TemplateValues.ToLong).ToList();
        var (start, stop, step) = numbers.Count switch
        {
            1 => (0L, numbers[0], 1L),
            2 => (numbers[0], numbers[1], 1L),
            3 => (numbers[0], numbers[1], numbers[2]),
            _ => throw new TemplateRuntimeException("range expected at least 1 argument, got 0"),
        };
        if (step == 0)
        {
            throw new TemplateRuntimeException("range() arg 3 must not be zero");
        }

        var count = step > 0 ? (stop > start ? ((decimal)stop - start + step - 1) / step : 0) : (start > stop ? ((decimal)start - stop - step - 1) / -step : 0);
        if (count > 100_000)
        {
            throw new TemplateRuntimeException("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
        }

        budget.ChargeSize((long)count);
        var items = new List<object?>((int)count);
        for (var i = 0; i < (int)count; i++)
        {
            items.Add(start + (i * step));
        }

        return items;
    }

    private static OrderedDictionary<string, object?> Dict(TemplateArguments a)
    {
        var dict = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (var positional in a.Positional)
        {
            if (positional is not OrderedDictionary<string, object?> source)
            {
                throw new TemplateRuntimeException("dict() takes a mapping and keyword arguments");
            }

            foreach (var (key, value) in source)
            {
                dict[key] = value;
            }
        }

        foreach (var (key, value) in a.Named)
        {
            dict[key] = value;
        }

        return dict;
    }

    private static TemplateNamespace Namespace(TemplateArguments a)
    {
        var ns = new TemplateNamespace();
        foreach (var (key, value) in Dict(a))
        {
            ns.Attributes[key] = value;
        }

        return ns;
    }
}
