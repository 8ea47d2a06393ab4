using PeftSharp.Models;
using PeftSharp.Models.Decoders;
using PeftSharp.Models.Tokenizers;
using PeftSharp.Training;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>The bundled decoder <c>models/decoder</c>: its config, tokenizer, template and weights agree.</summary>
public sealed class BundledDecoderTests
{
    private static string ModelDirectory => Path.Combine(BundledDemoTests.Repository(), "models", "decoder");

    [Fact]
    public void TheBundledDecoderIsASmallTiedLlamaWhoseTokenizerAndTemplateEndTurnsWithItsEos()
    {
        var directory = ModelDirectory;
        var config = Assert.IsType<DecoderConfig>(PretrainedModel.ReadConfig(ModelConfig.LoadJson(directory)));
        Assert.Equal(DecoderFamily.Llama, config.Family);
        Assert.True(config.TieWordEmbeddings);
        Assert.True(config.NumKeyValueHeads < config.NumAttentionHeads, "the bundled decoder exercises grouped-query attention");
        Assert.InRange(new FileInfo(Path.Combine(directory, "model.safetensors")).Length, 1, 20L * 1024 * 1024);

        var tokenizer = HfTokenizer.Load(directory);
        Assert.Equal(config.VocabSize, tokenizer.VocabularySize);
        var turnEnd = tokenizer.TokenToId(ChatTokenizerFiles.TurnEnd);
        Assert.Equal(new[] { turnEnd!.Value }, tokenizer.EosTokenIds);
        Assert.Equal(turnEnd, config.EosTokenIds[0]);
        Assert.Equal(config.EosTokenIds, GenerationConfig.EosTokenIds(directory));
        Assert.Equal(tokenizer.PadTokenId, config.PadTokenId);
        Assert.DoesNotContain(tokenizer.PadTokenId!.Value, config.EosTokenIds);

        // The template closes every turn, the generation prompt included, with the EOS token.
        var template = Models.Chat.ChatTemplate.Load(directory);
        var rendered = template.Render([new JsonObject { ["role"] = "user", ["content"] = "cat ->" }, new JsonObject { ["role"] = "assistant", ["content"] = "K AE T" }], addGenerationPrompt: false);
        var ids = tokenizer.Encode(rendered, addSpecialTokens: false);
        Assert.Equal(2, ids.Count(id => id == turnEnd));
        Assert.Equal(rendered, tokenizer.Decode(ids));
        Assert.EndsWith("<|im_start|>assistant\n", template.Render([new JsonObject { ["role"] = "user", ["content"] = "hi" }], addGenerationPrompt: true), StringComparison.Ordinal);

        var model = Assert.IsType<DecoderForCausalLM>(PretrainedModel.FromPretrained(directory));
        Assert.Equal(config.EosTokenIds, model.EosTokenIds);
        Assert.DoesNotContain(model.named_parameters(), p => p.name.StartsWith("lm_head", StringComparison.Ordinal));
    }

    [Fact]
    public void TheBundledDecoderHasLearntEnglish()
    {
        // A language model, however small: it prefers a real sentence to the same words shuffled.
        var directory = ModelDirectory;
        var tokenizer = HfTokenizer.Load(directory);
        var model = Assert.IsType<DecoderForCausalLM>(PretrainedModel.FromPretrained(directory));
        const string sentence = "The Congress of the United States shall have the power to lay and collect taxes.";
        var words = sentence.TrimEnd('.').Split(' ');
        var shuffled = string.Join(' ', words.Select((w, i) => (w, k: (i * 7) % words.Length)).OrderBy(p => p.k).Select(p => p.w)) + ".";
        Assert.NotEqual(sentence, shuffled);
        var (ordered, scrambled) = (Loss(model, tokenizer, sentence), Loss(model, tokenizer, shuffled));
        Assert.True(ordered + 0.5 < scrambled, $"the sentence (loss {ordered:F3}) should be clearly more likely than its shuffle (loss {scrambled:F3})");
        Assert.True(ordered < Math.Log(tokenizer.VocabularySize) - 2, $"loss {ordered:F3} should be well below uniform guessing ({Math.Log(tokenizer.VocabularySize):F3})");
    }

    private static double Loss(DecoderForCausalLM model, HfTokenizer tokenizer, string text)
    {
        long[] ids = [.. tokenizer.Encode(text, addSpecialTokens: false).Select(id => (long)id)];
        return CausalLanguageModelingTask.Validate(model, [ids], 1).Loss;
    }
}
