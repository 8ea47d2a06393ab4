using static TorchSharp.torch;

namespace PeftSharp.Models;

/// <summary>DeBERTa's relative position ids between query and key positions, optionally log-bucketed.</summary>
public static class RelativePositions
{
    /// <summary>
    /// The <c>(queries, keys)</c> int64 matrix of <c>i − j</c>; when <paramref name="buckets"/> and
    /// <paramref name="maxPosition"/> are positive, distances beyond <c>buckets / 2</c> are mapped to
    /// log-spaced buckets (sign kept), exactly as Hugging Face's <c>make_log_bucket_position</c>
    /// computes them in float32.
    /// </summary>
    public static Tensor Build(long queries, long keys, int buckets, int maxPosition, Device? device = null)
    {
        using var scope = NewDisposeScope();
        var q = arange(queries, dtype: ScalarType.Int64, device: device).unsqueeze(1);
        var k = arange(keys, dtype: ScalarType.Int64, device: device).unsqueeze(0);
        var relative = q - k;
        if (buckets > 0 && maxPosition > 0)
        {
            relative = LogBucket(relative, buckets, maxPosition);
        }

        return relative.to(ScalarType.Int64).MoveToOuterDisposeScope();
    }

    /// <summary>Maps relative distances to log buckets: |d| ≤ mid stays, larger |d| becomes mid + ⌈log(|d|/mid)/log((max−1)/mid)·(mid−1)⌉ with d's sign.</summary>
    public static Tensor LogBucket(Tensor relative, int buckets, int maxPosition)
    {
        using var scope = NewDisposeScope();
        var mid = buckets / 2;
        var sign = relative.sign();
        var near = relative.lt(mid).logical_and(relative.gt(-mid));
        var absolute = where(near, full_like(relative, mid - 1), relative.abs());
        var ratio = absolute.to(ScalarType.Float32) / (float)mid;
        var denominator = tensor((float)((maxPosition - 1) / (double)mid)).log();
        var logPosition = (ratio.log() / denominator * (float)(mid - 1)).ceil() + (float)mid;
        var bucket = where(absolute.le(mid), relative.to(ScalarType.Float32), logPosition * sign.to(ScalarType.Float32));
        return bucket.to(ScalarType.Int64).MoveToOuterDisposeScope();
    }
}
