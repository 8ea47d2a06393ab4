using PeftSharp.IO.Json;

namespace PeftSharp.Methods.Lora;

/// <summary>
/// PEFT's <c>init_lora_weights</c>: <c>true</c>, <c>false</c> or an init name. Data-dependent inits
/// (pissa, olora, loftq, eva, ...) only matter before training and read as <see cref="LoraInit.Default"/>:
/// trained weights are loaded over them.
/// </summary>
public sealed class LoraInitConverter : JsonConverter<LoraInit>
{
    /// <inheritdoc />
    public override LoraInit Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.True => LoraInit.Default,
        JsonTokenType.False => LoraInit.Random,
        JsonTokenType.String => reader.GetString() == "gaussian" ? LoraInit.Gaussian : LoraInit.Default,
        _ => throw JsonFieldException.Expected("true, false or an init name", ref reader),
    };

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, LoraInit value, JsonSerializerOptions options)
    {
        if (value == LoraInit.Gaussian)
        {
            writer.WriteStringValue("gaussian");
        }
        else
        {
            writer.WriteBooleanValue(value == LoraInit.Default);
        }
    }
}
