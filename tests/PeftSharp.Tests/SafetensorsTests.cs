using PeftSharp.Fuzzing;
using TorchSharp;
using static TorchSharp.torch;
using Xunit;

namespace PeftSharp.Tests;

public sealed class SafetensorsTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("peftsharp-st-");

    public void Dispose() => _temp.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_temp.FullName, name);

    private static byte[] File(string header, int dataBytes)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BitConverter.GetBytes((ulong)json.Length).CopyTo(bytes, 0);
        json.CopyTo(bytes, 8);
        return bytes;
    }

    [Fact]
    public void RoundTripsEveryDtypeAndMetadata()
    {
        manual_seed(0);
        var tensors = new Dictionary<string, Tensor>
        {
            ["f64"] = randn(2, 3, dtype: ScalarType.Float64),
            ["f32"] = randn(4),
            ["f16"] = randn(3, 2).to(ScalarType.Float16),
            ["bf16"] = randn(5).to(ScalarType.BFloat16),
            ["i64"] = tensor(new long[] { 1, -2, long.MaxValue }),
            ["i32"] = tensor(new[] { 7, -8 }),
            ["i16"] = tensor(new short[] { 3, -4 }),
            ["i8"] = tensor(new sbyte[] { -5, 6 }),
            ["u8"] = tensor(new byte[] { 250, 1 }),
            ["bool"] = tensor(new[] { true, false, true }),
            ["scalar"] = tensor(3.5f),
            ["empty"] = zeros(0, 4),
            ["transposed"] = randn(3, 4).t(),
        };
        SafetensorsWriter.Save(PathOf("all.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        using var file = SafetensorsFile.Open(PathOf("all.safetensors"));
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(0, file.DataStart % 8);
        foreach (var (name, expected) in tensors)
        {
            using var actual = file.Read(name);
            Assert.Equal(expected.dtype, actual.dtype);
            Assert.Equal(expected.shape, actual.shape);
            Assert.True(TestUtil.Identical(actual, expected), name);
        }

        Assert.Equal("i64", file.Entries[0].Name);
        Assert.Equal("bool", file.Entries[^1].Name);
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, null)]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12 bytes")]
    [InlineData("{\"a\":{\"dtype\":\"F99\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "F99")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "not valid UTF-8 JSON")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, "outside")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "overlaps")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "hole")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "twice")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "cover 4 bytes")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "non-negative")]
    [InlineData("{\"__metadata__\":{\"k\":1}}", 0, "expected a string")]
    [InlineData("[1,2]", 0, "expected an object")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}}", 4, "more than the file holds")]
    public void HeadersAreValidatedWithTypedErrors(string header, int dataBytes, string? problem)
    {
        var path = PathOf("case.safetensors");
        System.IO.File.WriteAllBytes(path, File(header, dataBytes));
        if (problem is null)
        {
            using var ok = SafetensorsFile.Open(path);
            Assert.Single(ok.Entries);
            return;
        }

        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path));
        Assert.Contains(problem, error.Message);
        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void HeaderLengthBeyondTheFileOrTheBoundIsRejected()
    {
        var path = PathOf("len.safetensors");
        var bytes = new byte[16];
        BitConverter.GetBytes(1000UL).CopyTo(bytes, 0);
        System.IO.File.WriteAllBytes(path, bytes);
        Assert.Contains("past the end", Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path)).Message);
        BitConverter.GetBytes(ulong.MaxValue).CopyTo(bytes, 0);
        System.IO.File.WriteAllBytes(path, bytes);
        Assert.Contains("exceeds the limit", Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path)).Message);
        System.IO.File.WriteAllBytes(path, new byte[3]);
        Assert.Contains("fewer than", Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path)).Message);
    }

    [Fact]
    public void AFailedWriteLeavesThePreviousFileIntact()
    {
        var path = PathOf("keep.safetensors");
        SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["a"] = ones(3) });
        var before = System.IO.File.ReadAllBytes(path);
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, stream =>
        {
            stream.Write(new byte[100]);
            throw new InvalidOperationException("disk full (simulated)");
        }));
        Assert.Equal(before, System.IO.File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(_temp.FullName));
    }

    [Fact]
    public void TenThousandFuzzCasesEndInTypedErrorsOrValidFiles()
    {
        var report = FuzzRunner.Run(new SafetensorsFuzzTarget(), 10_000, seed: 20261122, TimeSpan.FromSeconds(5));
        Assert.True(report.Clean, report.FirstProblem);
        Assert.Equal(10_000, report.Cases);
        Assert.Equal(report.Cases, report.Rejected + report.Accepted);
        Assert.True(report.Rejected > 9_000, report.Summary);
        Assert.Equal($"10000 cases, {report.Rejected} rejected with typed errors, 0 untyped exceptions, 0 hangs", report.Summary);
    }

    [Fact]
    public void EmptyTensorsWithOverflowingShapesAreRejected()
    {
        var path = PathOf("zero.safetensors");
        System.IO.File.WriteAllBytes(path, File("{\"a\":{\"dtype\":\"F32\",\"shape\":[9223372036854775807,4,0],\"data_offsets\":[0,0]}}", 0));
        Assert.Contains("too large", Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path)).Message);
    }

    [Fact]
    public void ShardedCheckpointsRoundTripThroughTheIndex()
    {
        manual_seed(1);
        var tensors = Enumerable.Range(0, 7).ToDictionary(i => $"layer.{i}.weight", i => randn(16, 8 + i));
        var index = SafetensorsWriter.SaveSharded(_temp.FullName, tensors, maxShardBytes: 1500);
        Assert.True(Directory.GetFiles(_temp.FullName, "model-*-of-*.safetensors").Length > 1);
        using var checkpoint = SafetensorsCheckpoint.Open(_temp.FullName);
        Assert.Equal(index, checkpoint.Path);
        Assert.Equal(tensors.Keys.Order(), checkpoint.Names.Order());
        foreach (var (name, expected) in tensors)
        {
            using var actual = checkpoint.Read(name);
            Assert.True(TestUtil.Identical(actual, expected), name);
        }
    }

    [Theory]
    [InlineData("{\"weight_map\":{\"a\":\"../evil.safetensors\"}}", "not a file name")]
    [InlineData("{\"weight_map\":{\"a\":\"missing.safetensors\"}}", "does not exist")]
    [InlineData("{\"weight_map\":{\"nope\":\"model.safetensors\"}}", "has no such tensor")]
    [InlineData("{\"weight_map\":[]}", "no \"weight_map\" object")]
    [InlineData("{\"weight_map\":{\"a\":3}}", "expected a shard file name")]
    [InlineData("{\"weight_map\":", "not valid JSON")]
    public void ShardIndexProblemsAreTypedErrors(string index, string problem)
    {
        SafetensorsWriter.Save(PathOf("model.safetensors"), new Dictionary<string, Tensor> { ["a"] = ones(2) });
        System.IO.File.WriteAllText(PathOf(SafetensorsCheckpoint.IndexFileName), index);
        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsCheckpoint.Open(_temp.FullName));
        Assert.Contains(problem, error.Message);
    }

    [Fact]
    public void InteropFixturesWrittenByAnotherWriterAreRead()
    {
        var root = Path.Combine(AppContext.BaseDirectory, "Interop");
        using var gpt2 = SafetensorsCheckpoint.Open(Path.Combine(root, "gpt2-lora-c_attn", "base"));
        Assert.Contains("transformer.h.0.attn.c_attn.weight", gpt2.Names);
        var attn = gpt2.Entry("transformer.h.0.attn.c_attn.weight");
        Assert.Equal(3 * attn.Shape[0], attn.Shape[1]);
        using var adapter = SafetensorsFile.Open(Path.Combine(root, "bert-lora-patterns", "adapter", "adapter_model.safetensors"));
        Assert.Equal("pt", adapter.Metadata["format"]);
        Assert.Contains(adapter.Names, n => n.StartsWith("base_model.model.", StringComparison.Ordinal) && n.EndsWith(".lora_A.weight", StringComparison.Ordinal));
        foreach (var name in adapter.Names)
        {
            using var tensor = adapter.Read(name);
            Assert.True(torch.isfinite(tensor).all().item<bool>(), name);
        }
    }

    [Theory]
    [InlineData("bert-lora-patterns/adapter/adapter_model.safetensors")]
    [InlineData("bert-adalora-compact/adapter/adapter_model.safetensors")]
    [InlineData("gpt2-lora-c_attn/base/model.safetensors")]
    public void TheWriterReproducesTheDataOfAnotherWriterByteForByte(string relative)
    {
        var original = Path.Combine(AppContext.BaseDirectory, "Interop", relative);
        var tensors = SafetensorsFile.ReadAll(original);
        Dictionary<string, string> metadata;
        using (var file = SafetensorsFile.Open(original))
        {
            metadata = file.Metadata.ToDictionary();
        }

        var copy = PathOf("copy.safetensors");
        SafetensorsWriter.Save(copy, tensors, metadata.Count > 0 ? metadata : null);

        // Same tensors in the same data order (dtype, then name) with identical bytes; the headers
        // differ only in where __metadata__ stands (the spec's reference writer puts it first).
        using var a = SafetensorsFile.Open(original);
        using var b = SafetensorsFile.Open(copy);
        Assert.Equal(a.Entries, b.Entries, (x, y) => x.Name == y.Name && x.DType == y.DType && x.Shape.SequenceEqual(y.Shape) && x.Begin == y.Begin && x.End == y.End);
        Assert.Equal(a.Metadata, b.Metadata);
        Assert.Equal(System.IO.File.ReadAllBytes(original)[(int)a.DataStart..], System.IO.File.ReadAllBytes(copy)[(int)b.DataStart..]);
        Assert.Equal(a.DataStart, b.DataStart);
        Assert.StartsWith(metadata.Count > 0 ? "{\"__metadata__\":{\"format\":\"pt\"}," : "{\"", System.Text.Encoding.UTF8.GetString(System.IO.File.ReadAllBytes(copy), 8, 40));
    }
}
