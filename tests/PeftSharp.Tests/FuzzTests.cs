using PeftSharp.Adapters;
using PeftSharp.Cli;
using PeftSharp.Fuzzing;
using PeftSharp.Models;
using PeftSharp.Training;
using Xunit;

namespace PeftSharp.Tests;

/// <summary>The fuzzing framework: every parser's 10,000-case run, its seeds, hand-written hostile inputs, and an oracle that can fail.</summary>
public sealed class FuzzTests
{
    public static TheoryData<string> TargetNames => ["safetensors", "adapter-config", "tokenizer", "hf-tokenizer", "dataset", "onnx", "chat-template", "model-config", SftDataFuzzTarget.TargetName, RunConfigFuzzTarget.TargetName];

    private static FuzzTarget Target(string name) =>
        name == RunConfigFuzzTarget.TargetName ? new RunConfigFuzzTarget() : FuzzTargets.Create().Single(t => t.Name == name);

    [Theory]
    [MemberData(nameof(TargetNames))]
    public void TenThousandCasesEndInTypedErrorsOrUsableResults(string name)
    {
        var report = FuzzRunner.Run(Target(name), 10_000, seed: 20261123, TimeSpan.FromSeconds(10));
        Assert.True(report.Clean, string.Join("\n", report.Problems));
        Assert.Equal(10_000, report.Cases);
        Assert.Equal(report.Cases, report.Rejected + report.Accepted);
        Assert.True(report.Accepted > 10 && report.Rejected > 1_000, $"{name}: {report.Accepted} accepted, {report.Rejected} rejected: the mutations are too weak or too strong");
        Assert.NotNull(report.PeakAllocation);
        Assert.InRange(report.PeakAllocation.ShareOfBound, 0, 1);
    }

    [Fact]
    public void HfTokenizerCasesSeededWithTheRealFilesEndInTypedErrorsOrUsableTokenizers()
    {
        // The real tokenizer.json files (1.8 MB and 11 MB) make a case take up to a second, so the
        // suite runs a few; `peft fuzz hf-tokenizer --seed-dir ...` runs more (docs/reliability.md).
        var target = new HfTokenizerFuzzTarget([HfTokenizerFixtureTests.Directory("llama2"), HfTokenizerFixtureTests.Directory("qwen3")]);
        Assert.Equal(9, target.CreateSeeds(1).Count);
        var report = FuzzRunner.Run(target, 40, seed: 20261125, TimeSpan.FromSeconds(60));
        Assert.True(report.Clean, string.Join("\n", report.Problems));
        Assert.Equal(40, report.Cases);
    }

    [Theory]
    [MemberData(nameof(TargetNames))]
    public void EverySeedIsAccepted(string name)
    {
        var target = Target(name);
        foreach (var seed in target.CreateSeeds(7))
        {
            Assert.Equal(FuzzOutcome.Accepted, FuzzRunner.RunCase(target, seed, out var problem));
            Assert.Null(problem);
        }
    }

    [Fact]
    public void CasesAreAFunctionOfTheSeed()
    {
        var target = new DatasetFuzzTarget();
        Assert.Equal(FuzzRunner.CaseInput(target, 5, 123), FuzzRunner.CaseInput(target, 5, 123));
        Assert.NotEqual(FuzzRunner.CaseInput(target, 5, 123), FuzzRunner.CaseInput(target, 6, 123));
    }

    [Fact]
    public void TheOracleCountsUntypedExceptionsOverAllocationsAndHangs()
    {
        var npe = FuzzRunner.Run(new BuggyTarget(BuggyTarget.Bug.NullReference), 200, 1, TimeSpan.FromSeconds(5));
        Assert.True(npe.UntypedExceptions > 0 && !npe.Clean, npe.Summary);
        Assert.Contains("NullReferenceException", npe.FirstProblem);

        var huge = FuzzRunner.Run(new BuggyTarget(BuggyTarget.Bug.HugeArray), 200, 1, TimeSpan.FromSeconds(5));
        Assert.True(huge.OverAllocations > 0 && !huge.Clean, huge.Summary);
        Assert.True(huge.PeakAllocation!.ShareOfBound > 1);

        var native = FuzzRunner.Run(new BuggyTarget(BuggyTarget.Bug.ClaimsNativeBytes), 200, 1, TimeSpan.FromSeconds(5));
        Assert.True(native.OverAllocations > 0, native.Summary);

        var hang = FuzzRunner.Run(new BuggyTarget(BuggyTarget.Bug.Hang), 200, 1, TimeSpan.FromMilliseconds(200));
        Assert.Equal(1, hang.Hangs);
        Assert.False(hang.Clean);
    }

    [Fact]
    public void ASeedThatIsNotAcceptedStopsTheRun() =>
        Assert.Throws<ArgumentException>(() => FuzzRunner.Run(new BuggyTarget(BuggyTarget.Bug.NullReference, badSeed: true), 10, 1, TimeSpan.FromSeconds(5)));

    [Theory]
    [InlineData("""{"peft_type": "LORA", "target_modules": [""]}""", "target_modules[0]")]
    [InlineData("""{"peft_type": "LORA", "target_modules": ""}""", "target_modules")]
    [InlineData("""{"peft_type": "LORA", "target_modules": ["q"], "layers_pattern": ["("]}""", "layers_pattern[0]")]
    [InlineData("""{"peft_type": "LORA", "target_modules": ["q"], "rank_pattern": {"a)|(b": 2}}""", "rank_pattern.a)|(b")]
    [InlineData("""{"peft_type": "LORA", "r": 4, "r": 8}""", null)]
    [InlineData("""{"peft_type": "LORA", "revision": "\ud800"}""", null)]
    public void HostileAdapterConfigsAreRefusedNamingTheFileAndField(string json, string? field)
    {
        var error = Assert.Throws<ConfigFormatException>(() => AdapterConfigFile.Read(ConfigJson.Parse(Encoding.UTF8.GetBytes(json), AdapterConfigFile.FileName)));
        Assert.StartsWith(AdapterConfigFile.FileName, error.Message);
        Assert.Equal(field, error.Field);
    }

    [Fact]
    public void InvalidUtf8InAConfigStringIsATypedError()
    {
        byte[] json = [.. "{\"peft_type\": \"LORA\", \"revision\": \""u8, 0xC3, .. "\"}"u8];
        var error = Assert.Throws<ConfigFormatException>(() => ConfigJson.Parse(json, "adapter_config.json"));
        Assert.Contains("not valid text", error.Message);
    }

    [Theory]
    [InlineData("""{"output": "a\u0000b"}""", "field 'output'")]
    [InlineData("""{"resume": "--help"}""", "do not parse")]
    [InlineData("""{"method": "@response.rsp", "steps": "many"}""", "do not parse")]
    [InlineData("""{"stepz": 2}""", "field 'stepz'")]
    public void HostileRunConfigsAreRefusedNamingTheFile(string json, string expected)
    {
        var target = new RunConfigFuzzTarget();
        var error = Assert.Throws<ConfigFormatException>(() => target.ParseAndUse(Encoding.UTF8.GetBytes(json)));
        Assert.StartsWith("run.json", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void ARunConfigValueThatLooksLikeAnOptionStaysAValue()
    {
        var target = new RunConfigFuzzTarget();
        Assert.Equal(0, target.ParseAndUse("""{"method": "--help", "output": "@out"}"""u8.ToArray()));
    }

    [Theory]
    [InlineData("[PAD]\n[UNK]\n\n[CLS]\n[SEP]\n[MASK]\n", "vocab.txt:3")]
    [InlineData("[PAD]\n[UNK]\na\rb\n[CLS]\n[SEP]\n[MASK]\n", "vocab.txt:3")]
    [InlineData("[PAD]\n[CLS]\n[SEP]\n[MASK]\n", "vocab.txt")]
    public void HostileWordPieceVocabulariesAreRefusedNamingTheLine(string vocab, string expected)
    {
        var error = Assert.Throws<ConfigFormatException>(() => TextTokenizer.WordPiece(new MemoryStream(Encoding.UTF8.GetBytes(vocab))));
        Assert.StartsWith(expected, error.Message);
    }

    [Theory]
    [InlineData("""{"model": {"type": 5, "vocab": {}}}""", "model")]
    [InlineData("""{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a\nb": 1}}}""", "model.vocab.a\nb")]
    [InlineData("""{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "b": 2}}}""", "model.vocab")]
    public void HostileTokenizerJsonFilesAreRefusedNamingTheField(string json, string field)
    {
        var error = Assert.Throws<ConfigFormatException>(() => TextTokenizer.FromTokenizerJson(Encoding.UTF8.GetBytes(json)));
        Assert.StartsWith("tokenizer.json", error.Message);
        Assert.Equal(field, error.Field);
    }

    [Fact]
    public void HostileByteLevelBpeFilesAreRefusedNamingTheFile()
    {
        var target = new TokenizerFuzzTarget();
        var gpt2 = target.CreateSeeds(0).Single(s => s[0] == 2)[1..];
        var split = Array.IndexOf(gpt2, (byte)0);
        var vocab = gpt2[..split];
        Assert.StartsWith("merges.txt:2", Assert.Throws<ConfigFormatException>(() => TextTokenizer.ByteLevelBpe(vocab, "#version: 0.2\nh e l\n"u8.ToArray(), roberta: false)).Message);
        Assert.StartsWith("merges.txt:1", Assert.Throws<ConfigFormatException>(() => TextTokenizer.ByteLevelBpe(vocab, "q zz\n"u8.ToArray(), roberta: false)).Message);
        var missingByte = Assert.Throws<ConfigFormatException>(() => TextTokenizer.ByteLevelBpe("""{"a": 0, "<|endoftext|>": 1}"""u8.ToArray(), [], roberta: false));
        Assert.Contains("byte-level symbol", missingByte.Message);
        var negative = Assert.Throws<ConfigFormatException>(() => TextTokenizer.ByteLevelBpe("""{"a": -1}"""u8.ToArray(), [], roberta: false));
        Assert.Equal("a", negative.Field);
    }

    [Theory]
    [InlineData("{\"text\": \"a\", \"label\": 1}\n{\"text\": \"\\ud800\", \"label\": 1}\n", DatasetFormat.JsonLines, "train.jsonl:2")]
    [InlineData("{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"label\": 1.5}\n", DatasetFormat.JsonLines, "train.jsonl:2")]
    [InlineData("text,label\n\"a, b\",pos\nno label\n", DatasetFormat.Csv, "train.jsonl:3")]
    [InlineData("text,lab\na,pos\n", DatasetFormat.Csv, "train.jsonl:1")]
    [InlineData("text,label\n\"never closed,pos\n", DatasetFormat.Csv, "train.jsonl:2")]
    public void HostileDatasetsAreRefusedNamingTheLine(string data, DatasetFormat format, string expected)
    {
        var error = Assert.Throws<ConfigFormatException>(() => ClassificationDataset.Read(new MemoryStream(Encoding.UTF8.GetBytes(data)), format, "train.jsonl"));
        Assert.StartsWith(expected, error.Message);
    }

    [Fact]
    public void ADatasetThatIsNotUtf8IsRefusedNamingTheLine()
    {
        byte[] data = [.. "text,label\nok,1\ncaf"u8, 0xE9, .. ",1\n"u8];
        var error = Assert.Throws<ConfigFormatException>(() => ClassificationDataset.Read(new MemoryStream(data), DatasetFormat.Csv, "train.csv"));
        Assert.StartsWith("train.csv:3", error.Message);
    }

    [Fact]
    public void BlankLinesAndAByteOrderMarkDoNotChangeADataset()
    {
        var dataset = ClassificationDataset.Read(new MemoryStream([.. "\uFEFFtext,label\n\na,pos\n\n\"b\nc\",neg\n"u8]), DatasetFormat.Csv, "train.csv");
        Assert.Equal(["neg", "pos"], dataset.Labels);
        Assert.Equal(["a", "b\nc"], dataset.Examples.Select(e => e.Text));
    }

    /// <summary>A target with a deliberate bug, to show the oracle catches it.</summary>
    private sealed class BuggyTarget(BuggyTarget.Bug bug, bool badSeed = false) : FuzzTarget
    {
        public enum Bug
        {
            NullReference,
            HugeArray,
            ClaimsNativeBytes,
            Hang,
        }

        public override string Name => $"buggy-{bug}";

        public override string Description => "A target with a deliberate bug.";

        public override IReadOnlyList<byte[]> CreateSeeds(int seed) => [badSeed ? [0] : "ok"u8.ToArray()];

        public override long ParseAndUse(byte[] input)
        {
            if (input.AsSpan().SequenceEqual("ok"u8))
            {
                return 0;
            }

            switch (bug)
            {
                case Bug.NullReference:
                    string? missing = input.Length >= 0 ? null : "x";
                    return missing!.Length;
                case Bug.HugeArray:
                    // A length read from the input instead of the bytes present.
                    return new byte[(input.Length + 1) * 100_000].Length > 0 ? 0 : 1;
                case Bug.ClaimsNativeBytes:
                    return input.Length + 1;
                default:
                    Thread.Sleep(TimeSpan.FromSeconds(3));
                    return 0;
            }
        }
    }
}
