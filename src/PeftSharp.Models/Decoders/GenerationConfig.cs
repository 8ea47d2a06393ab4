namespace PeftSharp.Models.Decoders;

/// <summary>Reads Hugging Face's <c>generation_config.json</c>, which overrides <c>config.json</c>'s end-of-sequence ids.</summary>
public static class GenerationConfig
{
    /// <summary>The file name Hugging Face uses.</summary>
    public const string FileName = "generation_config.json";

    /// <summary>The <c>eos_token_id</c> ids of <paramref name="directory"/>'s generation config, or null when the file or field is absent.</summary>
    /// <exception cref="ConfigFormatException">The file is malformed; the message names the file and field.</exception>
    public static IReadOnlyList<int>? EosTokenIds(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            return null;
        }

        var json = ConfigJson.Load(path);
        try
        {
            return json.Root.Deserialize<GenerationConfigFile>(DecoderConfigFile.Options)?.EosTokenId;
        }
        catch (JsonException e)
        {
            throw new ConfigFormatException(path, e.Path?.TrimStart('$', '.'), $"malformed: {e.Message.Split(" Path:")[0]}", e);
        }
    }
}
