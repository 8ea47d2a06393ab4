using static TorchSharp.torch;

namespace PeftSharp.Models.Decoders;

/// <summary>Builds the additive attention mask of a decoder step (causal, padding, sliding window and packed examples), or none when SDPA's own causal flag suffices.</summary>
internal static class CausalMask
{
    /// <summary>
    /// The mask <c>(batch or 1, 1, T, past+T)</c> for <paramref name="length"/> queries after
    /// <paramref name="past"/> cached positions, or null with <paramref name="causal"/> telling SDPA
    /// whether to apply its own causal mask. With <paramref name="segments"/> <c>(batch, T)</c> (no cache),
    /// a query sees only keys of its own segment: the block-diagonal mask of packed examples.
    /// </summary>
    public static Tensor? Build(Tensor? paddingMask, long past, long length, int? window, ScalarType dtype, Device device, out bool causal, Tensor? segments = null)
    {
        var total = past + length;
        var windowBinds = window is { } w && total > w;
        causal = false;
        if (paddingMask is null && !windowBinds && segments is null)
        {
            if (length == 1)
            {
                return null;
            }

            if (past == 0)
            {
                causal = true;
                return null;
            }
        }

        using var scope = NewDisposeScope();
        var queries = arange(past, total, dtype: ScalarType.Int64, device: device).view(length, 1);
        var keys = arange(total, dtype: ScalarType.Int64, device: device).view(1, total);
        var allowed = keys.le(queries);
        if (windowBinds)
        {
            allowed = allowed.logical_and(keys.gt(queries - window!.Value));
        }

        allowed = allowed.view(1, 1, length, total);
        if (segments is not null)
        {
            var batch = segments.shape[0];
            allowed = allowed.logical_and(segments.view(batch, 1, length, 1).eq(segments.view(batch, 1, 1, length)));
        }

        if (paddingMask is not null)
        {
            allowed = allowed.logical_and(paddingMask.to(ScalarType.Bool).view(paddingMask.shape[0], 1, 1, total));
        }

        var mask = zeros(allowed.shape, dtype: dtype, device: device).masked_fill(allowed.logical_not(), MinValue(dtype));
        return mask.MoveToOuterDisposeScope();
    }

    private static double MinValue(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 => double.MinValue,
        ScalarType.Float32 => float.MinValue,
        ScalarType.BFloat16 => -3.3895313892515355e38,
        _ => -65504.0,
    };

    /// <summary>
    /// The packed-example segments of <paramref name="positionIds"/> <c>(batch, T)</c>, or null when every
    /// row holds one sequence: a new example starts wherever the position does not follow the previous
    /// one by 1 (the convention of transformers' <c>DataCollatorWithFlattening</c>, whose positions restart
    /// at 0 per example).
    /// </summary>
    public static Tensor? Segments(Tensor positionIds)
    {
        var length = positionIds.shape[1];
        if (length < 2)
        {
            return null;
        }

        using var scope = NewDisposeScope();
        var steps = positionIds.narrow(1, 1, length - 1) - positionIds.narrow(1, 0, length - 1);
        var starts = steps.ne(1);
        if (!starts.any().item<bool>())
        {
            return null;
        }

        var segments = cat([zeros(positionIds.shape[0], 1, dtype: ScalarType.Int64, device: positionIds.device), starts.to(ScalarType.Int64).cumsum(1)], 1);
        return segments.MoveToOuterDisposeScope();
    }
}
