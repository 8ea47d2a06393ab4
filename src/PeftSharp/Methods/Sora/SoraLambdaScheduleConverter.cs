using PeftSharp.IO.Json;

namespace PeftSharp.Methods.Sora;

/// <summary>The official scripts' <c>lambda_schedule</c>: null (no schedule), <c>linear</c>, <c>log_linear</c> or <c>exp_linear</c>.</summary>
public sealed class SoraLambdaScheduleConverter : SnakeCaseEnumConverter<SoraLambdaSchedule>
{
    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, SoraLambdaSchedule value, JsonSerializerOptions options)
    {
        if (value == SoraLambdaSchedule.None)
        {
            writer.WriteNullValue();
        }
        else
        {
            base.Write(writer, value, options);
        }
    }
}
