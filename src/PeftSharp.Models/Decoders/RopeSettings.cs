namespace PeftSharp.Models.Decoders;

/// <summary>Rotary position embedding parameters, resolved from <c>rope_theta</c> and <c>rope_scaling</c>/<c>rope_parameters</c>.</summary>
/// <param name="Kind">The frequency scheme.</param>
/// <param name="Theta">The base θ.</param>
/// <param name="Factor">The scaling factor (1 for <see cref="RopeKind.Default"/>).</param>
/// <param name="LowFreqFactor">Llama 3: <c>low_freq_factor</c>.</param>
/// <param name="HighFreqFactor">Llama 3: <c>high_freq_factor</c>.</param>
/// <param name="OriginalMaxPositions">Llama 3: <c>original_max_position_embeddings</c>; dynamic: <c>max_position_embeddings</c>.</param>
public sealed record RopeSettings(RopeKind Kind, double Theta, double Factor = 1.0, double LowFreqFactor = 1.0, double HighFreqFactor = 4.0, int OriginalMaxPositions = 0)
{
    /// <summary>
    /// The inverse frequencies for <paramref name="rotaryDim"/> rotary dimensions when the longest
    /// sequence in the batch is <paramref name="sequenceLength"/> (only <see cref="RopeKind.Dynamic"/> depends on it).
    /// </summary>
    public double[] InverseFrequencies(int rotaryDim, long sequenceLength)
    {
        var theta = Theta;
        if (Kind == RopeKind.Dynamic && sequenceLength > OriginalMaxPositions)
        {
            theta *= Math.Pow((Factor * sequenceLength / OriginalMaxPositions) - (Factor - 1), rotaryDim / (rotaryDim - 2.0));
        }

        var result = new double[rotaryDim / 2];
        for (var i = 0; i < result.Length; i++)
        {
            var frequency = 1.0 / Math.Pow(theta, 2.0 * i / rotaryDim);
            result[i] = Kind switch
            {
                RopeKind.Linear => frequency / Factor,
                RopeKind.Llama3 => Llama3Frequency(frequency),
                _ => frequency,
            };
        }

        return result;
    }

    private double Llama3Frequency(double frequency)
    {
        var wavelength = 2 * Math.PI / frequency;
        var lowWavelength = OriginalMaxPositions / LowFreqFactor;
        var highWavelength = OriginalMaxPositions / HighFreqFactor;
        if (wavelength > lowWavelength)
        {
            return frequency / Factor;
        }

        if (wavelength < highWavelength)
        {
            return frequency;
        }

        var smooth = ((OriginalMaxPositions / wavelength) - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
        return ((1 - smooth) * frequency / Factor) + (smooth * frequency);
    }
}
