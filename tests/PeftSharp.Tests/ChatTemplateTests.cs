using PeftSharp.Fuzzing;
using PeftSharp.Models.Chat;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>
/// Real-world chat templates (written from the model repositories' tokenizer_config.json files: Llama 3
/// and 3.1 with tools, Qwen2.5 ChatML with tools, Phi-3, Mistral, SmolLM2, Gemma) and the
/// interpreter's errors and sandbox limits. The expected renders are Jinja2 3.1's in transformers' environment.
/// </summary>
public sealed class ChatTemplateTests
{
    private static ChatTemplate Template(string name) =>
        ChatTemplate.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "ChatTemplates", name + ".jinja")), name + ".jinja");

    [Theory]
    [InlineData("llama3", "{\"messages\": [{\"role\": \"system\", \"content\": \"You are terse.\"}, {\"role\": \"user\", \"content\": \"Hi there \"}, {\"role\": \"assistant\", \"content\": \" Hello! \"}, {\"role\": \"user\", \"content\": \"Weather in Paris?\"}], \"add_generation_prompt\": true, \"bos_token\": \"<|begin_of_text|>\", \"eos_token\": \"<|eot_id|>\"}", "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWeather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")]
    [InlineData("llama3", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi there \"}], \"add_generation_prompt\": false, \"bos_token\": \"<|begin_of_text|>\", \"eos_token\": \"<|eot_id|>\"}", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>")]
    [InlineData("llama31", "{\"messages\": [{\"role\": \"system\", \"content\": \"You are terse.\"}, {\"role\": \"user\", \"content\": \"Hi there \"}, {\"role\": \"assistant\", \"content\": \" Hello! \"}, {\"role\": \"user\", \"content\": \"Weather in Paris?\"}], \"add_generation_prompt\": true, \"bos_token\": \"<|begin_of_text|>\", \"tools\": null}", "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWeather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")]
    [InlineData("llama31", "{\"messages\": [{\"role\": \"system\", \"content\": \"You are terse.\"}, {\"role\": \"user\", \"content\": \"Weather in Paris?\"}, {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}}]}, {\"role\": \"tool\", \"name\": \"get_weather\", \"content\": \"{\\\"temp\\\": 21}\"}], \"add_generation_prompt\": true, \"bos_token\": \"<|begin_of_text|>\", \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Current weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"City name\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"c\", \"f\"]}}, \"required\": [\"city\"]}}}], \"date_string\": \"01 Jan 2025\"}", "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 01 Jan 2025\n\nYou are terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\nRespond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\",\n        \"description\": \"Current weather\",\n        \"parameters\": {\n            \"type\": \"object\",\n            \"properties\": {\n                \"city\": {\n                    \"type\": \"string\",\n                    \"description\": \"City name\"\n                },\n                \"unit\": {\n                    \"type\": \"string\",\n                    \"enum\": [\n                        \"c\",\n                        \"f\"\n                    ]\n                }\n            },\n            \"required\": [\n                \"city\"\n            ]\n        }\n    }\n}\n\nWeather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"unit\": \"c\"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n\"{\\\"temp\\\": 21}\"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")]
    [InlineData("llama31", "{\"messages\": [{\"role\": \"user\", \"content\": \"Weather in Paris?\"}, {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}}]}], \"add_generation_prompt\": false, \"bos_token\": \"<|begin_of_text|>\", \"tools\": null, \"builtin_tools\": [\"brave_search\", \"code_interpreter\", \"get_weather\"]}", "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nTools: brave_search, get_weather\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWeather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n<|python_tag|>get_weather.call(city=\"Paris\", unit=\"c\")<|eom_id|>")]
    [InlineData("qwen25", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi there \"}, {\"role\": \"assistant\", \"content\": \" Hello! \"}, {\"role\": \"user\", \"content\": \"Weather in Paris?\"}], \"add_generation_prompt\": true, \"tools\": null}", "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi there <|im_end|>\n<|im_start|>assistant\n Hello! <|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n")]
    [InlineData("qwen25", "{\"messages\": [{\"role\": \"system\", \"content\": \"You are terse.\"}, {\"role\": \"user\", \"content\": \"Weather in Paris?\"}, {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}}]}, {\"role\": \"tool\", \"name\": \"get_weather\", \"content\": \"{\\\"temp\\\": 21}\"}, {\"role\": \"tool\", \"name\": \"get_weather\", \"content\": \"{\\\"temp\\\": 21}\"}], \"add_generation_prompt\": true, \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Current weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"City name\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"c\", \"f\"]}}, \"required\": [\"city\"]}}}]}", "<|im_start|>system\nYou are terse.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Current weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"City name\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"c\", \"f\"]}}, \"required\": [\"city\"]}}}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{\"temp\": 21}\n</tool_response>\n<tool_response>\n{\"temp\": 21}\n</tool_response><|im_end|>\n<|im_start|>assistant\n")]
    [InlineData("phi3", "{\"messages\": [{\"role\": \"system\", \"content\": \"You are terse.\"}, {\"role\": \"user\", \"content\": \"Hi there \"}, {\"role\": \"assistant\", \"content\": \" Hello! \"}], \"add_generation_prompt\": false, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}", "<|system|>\nYou are terse.<|end|>\n<|user|>\nHi there <|end|>\n<|assistant|>\n Hello! <|end|>\n</s>")]
    [InlineData("phi3", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi there \"}], \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}", "<|user|>\nHi there <|end|>\n<|assistant|>\n")]
    [InlineData("mistral", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi there \"}, {\"role\": \"assistant\", \"content\": \" Hello! \"}, {\"role\": \"user\", \"content\": \"Weather in Paris?\"}], \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}", "<s>[INST] Hi there  [/INST] Hello! </s>[INST] Weather in Paris? [/INST]")]
    [InlineData("smollm2", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi there \"}, {\"role\": \"assistant\", \"content\": \" Hello! \"}], \"add_generation_prompt\": true}", "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi there <|im_end|>\n<|im_start|>assistant\n Hello! <|im_end|>\n<|im_start|>assistant\n")]
    [InlineData("smollm2", "{\"messages\": [{\"role\": \"system\", \"content\": \"You are terse.\"}, {\"role\": \"user\", \"content\": \"Hi there \"}], \"add_generation_prompt\": false}", "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi there <|im_end|>\n")]
    [InlineData("gemma", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi there \"}, {\"role\": \"assistant\", \"content\": \" Hello! \"}, {\"role\": \"user\", \"content\": \"Weather in Paris?\"}], \"add_generation_prompt\": true, \"bos_token\": \"<bos>\"}", "<bos><start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\nWeather in Paris?<end_of_turn>\n<start_of_turn>model\n")]
    public void RealWorldTemplatesRenderAsJinja2(string name, string variables, string expected)
    {
        var vars = JsonNode.Parse(variables)!.AsObject();
        var messages = vars["messages"]!.AsArray().Select(m => m!.DeepClone().AsObject()).ToList();
        var rest = vars.Where(p => p.Key is not ("messages" or "add_generation_prompt")).ToDictionary(p => p.Key, p => (object?)p.Value?.DeepClone());
        Assert.Equal(expected, Template(name).Render(messages, vars["add_generation_prompt"]!.GetValue<bool>(), rest));
    }

    [Fact]
    public void RaiseExceptionIsATypedErrorWithTheTemplatesMessage()
    {
        var messages = new List<JsonObject> { new() { ["role"] = "user", ["content"] = "a" }, new() { ["role"] = "user", ["content"] = "b" } };
        var error = Assert.Throws<ChatTemplateException>(() => Template("mistral").Render(messages, false, new Dictionary<string, object?> { ["bos_token"] = "<s>" }));
        Assert.True(error.RaisedByTemplate);
        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", error.Problem);
        Assert.Equal(1, error.Line);
        Assert.StartsWith("mistral.jinja:1:", error.Message);
        Assert.IsAssignableFrom<PeftException>(error);
    }

    [Theory]
    [InlineData("a\n{% if x %}\nb", 2, 1, "'if' block is never closed")]
    [InlineData("a\n\n  {{ 1 + }}", 3, 10, "unexpected end of print statement")]
    [InlineData("{% for x in xs %}\n{% endif %}", 2, 4, "unexpected 'endif' inside 'for'")]
    [InlineData("ok\n{% frobnicate %}", 2, 4, "unsupported statement 'frobnicate'")]
    [InlineData("{{ 'abc }}", 1, 4, "unterminated string literal")]
    [InlineData("x {# never closed", 1, 3, "unclosed comment")]
    [InlineData("{{ a b }}", 1, 6, "expected end of print statement, got 'b'")]
    [InlineData("{% endfor %}", 1, 4, "unexpected 'endfor'")]
    [InlineData("{{ 99999999999999999999 }}", 1, 4, "out of range")]
    [InlineData("{{ f(*args) }}", 1, 6, "not supported")]
    public void MalformedTemplatesNameTheLineAndColumn(string source, int line, int column, string problem)
    {
        var error = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(source, "t.jinja"));
        Assert.Contains(problem, error.Problem);
        Assert.Equal((line, column), (error.Line, error.Column));
        Assert.StartsWith($"t.jinja:{line}:{column}: ", error.Message);
    }

    [Theory]
    [InlineData("line\n  {{ 'a' + 1 }}", 2, "unsupported operand type(s) for +: 'str' and 'int'")]
    [InlineData("{{ x.y }}", 1, "'x' is undefined")]
    [InlineData("{{ 'a' + x }}", 1, "'x' is undefined")]
    [InlineData("\n\n{{ 1 | nosuchfilter }}", 3, "unsupported filter 'nosuchfilter'")]
    [InlineData("{{ 1 is nosuchtest }}", 1, "unsupported test 'nosuchtest'")]
    [InlineData("{{ 1 // 0 }}", 1, "division or modulo by zero")]
    [InlineData("{{ [1].append(2) }}", 1, "sandbox does not allow")]
    [InlineData("{{ {'a': 1}.update({}) }}", 1, "sandbox does not allow")]
    [InlineData("{{ range(1000000)|length }}", 1, "Range too big")]
    [InlineData("{% set x = 1 %}{% set x.y = 2 %}", 1, "non-namespace")]
    [InlineData("{{ 1 < 'a' }}", 1, "'<' not supported between instances of 'int' and 'str'")]
    [InlineData("{{ undefined_fn() }}", 1, "'undefined_fn' is undefined")]
    [InlineData("{{ 'x'() }}", 1, "'str' object is not callable")]
    [InlineData("{{ none|tojson }}{{ x|tojson }}", 1, "not JSON serializable")]
    [InlineData("{% for a, b in [1] %}{% endfor %}", 1, "not iterable")]
    [InlineData("{{ 2 ** 100 }}", 1, "integer overflow")]
    [InlineData("x\n{% break %}", 2, "'break' outside a loop")]
    [InlineData("{{ x|int }}", 1, "'x' is undefined")]
    [InlineData("{{ x|abs }}", 1, "bad operand type for abs(): 'Undefined'")]
    [InlineData("{{ x[0] }}", 1, "'x' is undefined")]
    public void RuntimeErrorsAreTypedAndNameTheLine(string source, int line, string problem)
    {
        var error = Assert.Throws<ChatTemplateException>(() => ChatTemplateInterpreterTests.Render(source));
        Assert.Contains(problem, error.Problem);
        Assert.Equal(line, error.Line);
        Assert.False(error.RaisedByTemplate);
    }

    [Theory]
    [InlineData("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "steps")]
    [InlineData("{% set s = namespace(t='x') %}{% for i in range(64) %}{% set s.t = s.t ~ s.t %}{% endfor %}", "exceeds")]
    [InlineData("{{ 'ab' * 10000000 }}", "exceeds")]
    [InlineData("{% for i in range(100000) %}{{ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' }}{% endfor %}", "output exceeds")]
    [InlineData("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "nest deeper than")]
    [InlineData("{% set ns = namespace(l=[0]) %}{% for i in range(30) %}{% set ns.l = [ns.l, ns.l] %}{% endfor %}{{ ns.l }}", "limit")]
    public void SandboxLimitsEndInTheTypedError(string source, string problem)
    {
        var error = Assert.Throws<ChatTemplateException>(() => ChatTemplateInterpreterTests.Render(source));
        Assert.Contains(problem, error.Problem);
        Assert.True(error.Line > 0, error.Message);
    }

    [Fact]
    public void DeepNestingIsRefusedAtParseTime()
    {
        Assert.Contains("nests deeper", Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse("{{ " + new string('(', 5000) + "1" + new string(')', 5000) + " }}")).Problem);
        Assert.Contains("nests deeper", Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse("{{ 1" + string.Concat(Enumerable.Repeat(" + 1", 5000)) + " }}")).Problem);
        Assert.Contains("deeper than", Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(string.Concat(Enumerable.Repeat("{% if 1 %}", 5000)))).Problem);
        Assert.Contains("nests deeper", Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse("{{ " + string.Concat(Enumerable.Repeat("not ", 5000)) + "1 }}")).Problem);
    }

    [Fact]
    public void SmallerBoundsApply()
    {
        var options = new ChatTemplateOptions { MaxSteps = 100, MaxOutputLength = 10 };
        Assert.Contains("steps", Assert.Throws<ChatTemplateException>(() => ChatTemplateInterpreterTests.Render("{% for i in range(200) %}{% endfor %}", options: new ChatTemplateOptions { MaxSteps = 100 })).Problem);
        Assert.Contains("output exceeds 10", Assert.Throws<ChatTemplateException>(() => ChatTemplateInterpreterTests.Render("{{ 'abcdefghijk' }}", options: options)).Problem);
        Assert.Equal("abcdefghij", ChatTemplateInterpreterTests.Render("{{ 'abcdefghij' }}", options: options));
    }

    [Fact]
    public void MessagesPassThroughWithEveryField()
    {
        var message = JsonNode.Parse("""{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image"}], "name": "ann", "extra": {"n": 1.5}}""")!.AsObject();
        var template = ChatTemplate.Parse("{% for m in messages %}{{ m.name }}:{% for p in m.content %}{{ p.type }}{% if p.text is defined %}={{ p.text }}{% endif %},{% endfor %}{{ m.extra.n }}{{ m.content|tojson }}{% endfor %}");
        Assert.Equal("ann:text=hi,image,1.5[{\"type\": \"text\", \"text\": \"hi\"}, {\"type\": \"image\"}]", template.Render([message], false));
    }

    [Fact]
    public void TheLoaderReadsTemplateListsAndTokenObjects()
    {
        var dir = Directory.CreateTempSubdirectory("peftsharp-chat-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """
                {"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "pad_token": null, "additional_special_tokens": [{"content": "<x>"}],
                 "chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}{{ additional_special_tokens }}{{ pad_token is defined }}"}]}
                """);
            var template = ChatTemplate.Load(dir);
            Assert.Equal("<s>hi</s>['<x>']False", template.Render([new JsonObject { ["role"] = "user", ["content"] = "hi" }], false));
            Assert.Equal("tools", ChatTemplate.Load(dir, "tool_use").Render([], false));
            Assert.Contains("no template named 'rag'", Assert.Throws<ConfigFormatException>(() => ChatTemplate.Load(dir, "rag")).Message);

            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"chat_template": 5}""");
            Assert.Equal("chat_template", Assert.Throws<ConfigFormatException>(() => ChatTemplate.Load(dir)).Field);
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"chat_template": "x", "eos_token": {"lstrip": true}}""");
            Assert.Equal("eos_token", Assert.Throws<ConfigFormatException>(() => ChatTemplate.Load(dir)).Field);
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"chat_template": "x", """);
            Assert.StartsWith(Path.Combine(dir, "tokenizer_config.json"), Assert.Throws<ConfigFormatException>(() => ChatTemplate.Load(dir)).Message);
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"eos_token": "</s>"}""");
            Assert.Contains("no chat template", Assert.Throws<ChatTemplateException>(() => ChatTemplate.Load(dir)).Message);

            File.WriteAllText(Path.Combine(dir, "chat_template.jinja"), "{{ eos_token }}\n{% if %}");
            var error = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Load(dir));
            Assert.StartsWith(Path.Combine(dir, "chat_template.jinja") + ":2:", error.Message);
            File.WriteAllText(Path.Combine(dir, "chat_template.jinja"), "{{ eos_token }}\n");
            Assert.Equal("</s>", ChatTemplate.Load(dir).Render([], false));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("llama2", "<s>[INST] Hello! Who are you? [/INST] An assistant. </s><s>[INST] Traduis : \u00ab na\u00efve caf\u00e9 \u00bb \u2192 \u65e5\u672c\u8a9e \ud83d\ude00 [/INST]", "raise_exception: Conversation roles must alternate user/assistant/user/assistant/...")]
    [InlineData("qwen3", "<|im_start|>user\nHello! Who are you?<|im_end|>\n<|im_start|>assistant\nAn assistant.<|im_end|>\n<|im_start|>user\nTraduis : \u00ab na\u00efve caf\u00e9 \u00bb \u2192 \u65e5\u672c\u8a9e \ud83d\ude00<|im_end|>\n<|im_start|>assistant\n", "<|im_start|>system\nBe brief.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Current weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWhat is the weather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{\"temp\": 21}\n</tool_response><|im_end|>\n<|im_start|>assistant\nIt is 21 \u00b0C.<|im_end|>\n<|im_start|>user\nThanks!<|im_end|>\n")]
    [InlineData("llama3", "<s><|start_header_id|>user<|end_header_id|>\n\nHello! Who are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nAn assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nTraduis : \u00ab na\u00efve caf\u00e9 \u00bb \u2192 \u65e5\u672c\u8a9e \ud83d\ude00<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is the weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n<|eot_id|><|start_header_id|>tool<|end_header_id|>\n\n{\"temp\": 21}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n<think>\nwarm\n</think>\n\nIt is 21 \u00b0C.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nThanks!<|eot_id|>")]
    [InlineData("llama31", "<s><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello! Who are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nAn assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nTraduis : \u00ab na\u00efve caf\u00e9 \u00bb \u2192 \u65e5\u672c\u8a9e \ud83d\ude00<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "<s><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\nRespond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\",\n        \"description\": \"Current weather\",\n        \"parameters\": {\n            \"type\": \"object\",\n            \"properties\": {\n                \"city\": {\n                    \"type\": \"string\"\n                }\n            },\n            \"required\": [\n                \"city\"\n            ]\n        }\n    }\n}\n\nWhat is the weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n\"{\\\"temp\\\": 21}\"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n<think>\nwarm\n</think>\n\nIt is 21 \u00b0C.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nThanks!<|eot_id|>")]
    [InlineData("qwen25", "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello! Who are you?<|im_end|>\n<|im_start|>assistant\nAn assistant.<|im_end|>\n<|im_start|>user\nTraduis : \u00ab na\u00efve caf\u00e9 \u00bb \u2192 \u65e5\u672c\u8a9e \ud83d\ude00<|im_end|>\n<|im_start|>assistant\n", "<|im_start|>system\nBe brief.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Current weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWhat is the weather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{\"temp\": 21}\n</tool_response><|im_end|>\n<|im_start|>assistant\n<think>\nwarm\n</think>\n\nIt is 21 \u00b0C.<|im_end|>\n<|im_start|>user\nThanks!<|im_end|>\n")]
    [InlineData("phi3", "<|user|>\nHello! Who are you?<|end|>\n<|assistant|>\nAn assistant.<|end|>\n<|user|>\nTraduis : \u00ab na\u00efve caf\u00e9 \u00bb \u2192 \u65e5\u672c\u8a9e \ud83d\ude00<|end|>\n<|assistant|>\n", "<|system|>\nBe brief.<|end|>\n<|user|>\nWhat is the weather in Paris?<|end|>\n<|assistant|>\n<|end|>\n<|assistant|>\n<think>\nwarm\n</think>\n\nIt is 21 \u00b0C.<|end|>\n<|user|>\nThanks!<|end|>\n</s>")]
    [InlineData("mistral", "<s>[INST] Hello! Who are you? [/INST]An assistant.</s>[INST] Traduis : \u00ab na\u00efve caf\u00e9 \u00bb \u2192 \u65e5\u672c\u8a9e \ud83d\ude00 [/INST]", "raise_exception: Conversation roles must alternate user/assistant/user/assistant/...")]
    [InlineData("smollm2", "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHello! Who are you?<|im_end|>\n<|im_start|>assistant\nAn assistant.<|im_end|>\n<|im_start|>user\nTraduis : \u00ab na\u00efve caf\u00e9 \u00bb \u2192 \u65e5\u672c\u8a9e \ud83d\ude00<|im_end|>\n<|im_start|>assistant\n", "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is the weather in Paris?<|im_end|>\n<|im_start|>assistant\n<|im_end|>\n<|im_start|>tool\n{\"temp\": 21}<|im_end|>\n<|im_start|>assistant\n<think>\nwarm\n</think>\n\nIt is 21 \u00b0C.<|im_end|>\n<|im_start|>user\nThanks!<|im_end|>\n")]
    [InlineData("gemma", "<s><start_of_turn>user\nHello! Who are you?<end_of_turn>\n<start_of_turn>model\nAn assistant.<end_of_turn>\n<start_of_turn>user\nTraduis : \u00ab na\u00efve caf\u00e9 \u00bb \u2192 \u65e5\u672c\u8a9e \ud83d\ude00<end_of_turn>\n<start_of_turn>model\n", "raise_exception: System role not supported")]
    [InlineData("features", "1/3* > USER: Hello! Who are you?2/3 > ASSISTANT: An assistant.3/3$ > USER: Traduis : \u00ab na\u00efve caf\u00e9 \u00bb \u2192 \u65e5\u672c\u8a9e \ud83d\ude003 User,assistant 0 40 user a=1 b=[\n  1,\n  2.5,\n  null,\n  true\n]3 3.5 2 256 x1None 6 [1, 3]\n['b', 'a'] s True 1 2 2 DONE TRUE[3.0 1e+20 True [('a', 1)] [('a', 1), ('b', 2)]] {{ raw }} 0<|assistant|>", "1/5* > USER: What is the weather in Paris?2/5 > ASSISTANT: get_weather({\"city\": \"Paris\"})3/5 > TOOL: {\"temp\": 21}4/5 > ASSISTANT: <think> warm </think>  It is 21 \u00b0C.5/5$ > USER: Thanks!5 User,assistant,tool 1 40 user a=1 b=[\n  1,\n  2.5,\n  null,\n  true\n]3 3.5 2 256 x1None 6 [1, 3]\n['b', 'a'] s True 1 2 2 [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Current weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}] DONE TRUE[3.0 1e+20 True [('a', 1)] [('a', 1), ('b', 2)]] {{ raw }} 0")]
    public void EveryFuzzSeedRendersTheFuzzConversationsAsJinja2(string name, string plain, string full)
    {
        var template = ChatTemplate.Parse(ChatTemplateFuzzTarget.SeedTemplate(name), name);
        Assert.Equal(plain, template.Render(ChatTemplateFuzzTarget.Plain, true, ChatTemplateFuzzTarget.Tokens, ChatTemplateFuzzTarget.Options));
        string actual;
        try
        {
            actual = template.Render(ChatTemplateFuzzTarget.Full, false, ChatTemplateFuzzTarget.WithTools, ChatTemplateFuzzTarget.Options);
        }
        catch (ChatTemplateException e) when (e.RaisedByTemplate)
        {
            actual = "raise_exception: " + e.Problem;
        }

        Assert.Equal(full, actual);
    }
}
