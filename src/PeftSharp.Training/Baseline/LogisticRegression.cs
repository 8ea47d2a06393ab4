namespace PeftSharp.Training.Baseline;

/// <summary>
/// Multinomial logistic regression over sparse features with an L2 penalty, trained by mini-batch
/// AdaGrad from zero weights in a seeded order (deterministic).
/// </summary>
public sealed class LogisticRegression
{
    private readonly float[,] _weights;
    private readonly float[] _bias;

    private LogisticRegression(float[,] weights, float[] bias)
    {
        _weights = weights;
        _bias = bias;
    }

    /// <summary>Trains on <paramref name="inputs"/> with class ids <paramref name="labels"/>.</summary>
    /// <param name="inputs">Feature vectors.</param>
    /// <param name="labels">Class ids, 0 … <paramref name="classes"/> − 1.</param>
    /// <param name="classes">Number of classes.</param>
    /// <param name="features">Number of features.</param>
    /// <param name="l2">The penalty <c>λ/2 · ‖W‖²</c> per example.</param>
    /// <param name="epochs">Passes over the data.</param>
    /// <param name="seed">Seeds the example order.</param>
    public static LogisticRegression Train(IReadOnlyList<SparseVector> inputs, IReadOnlyList<int> labels, int classes, int features, double l2, int epochs = 40, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(labels);
        const float rate = 0.5f;
        const int batch = 16;
        var weights = new float[classes, features];
        var bias = new float[classes];
        var squares = new float[classes, features];
        var biasSquares = new float[classes];
        var gradient = new float[classes, features];
        var touched = new HashSet<int>();
        var order = Enumerable.Range(0, inputs.Count).ToArray();
        var random = new Random(seed);
        var model = new LogisticRegression(weights, bias);
        var probabilities = new double[classes];
        for (var epoch = 0; epoch < epochs; epoch++)
        {
            random.Shuffle(order);
            for (var start = 0; start < order.Length; start += batch)
            {
                var biasGradient = new float[classes];
                touched.Clear();
                var count = Math.Min(batch, order.Length - start);
                for (var b = 0; b < count; b++)
                {
                    var x = inputs[order[start + b]];
                    model.Probabilities(x, probabilities);
                    for (var c = 0; c < classes; c++)
                    {
                        var error = (float)(probabilities[c] - (labels[order[start + b]] == c ? 1 : 0)) / count;
                        biasGradient[c] += error;
                        for (var i = 0; i < x.Indices.Length; i++)
                        {
                            gradient[c, x.Indices[i]] += error * x.Values[i];
                        }
                    }

                    touched.UnionWith(x.Indices);
                }

                // AdaGrad on the features this batch touched; the L2 penalty decays them too (lazily, as is usual for sparse data).
                foreach (var f in touched)
                {
                    for (var c = 0; c < classes; c++)
                    {
                        var g = gradient[c, f] + (float)l2 * weights[c, f];
                        squares[c, f] += g * g;
                        weights[c, f] -= rate * g / (MathF.Sqrt(squares[c, f]) + 1e-8f);
                        gradient[c, f] = 0;
                    }
                }

                for (var c = 0; c < classes; c++)
                {
                    biasSquares[c] += biasGradient[c] * biasGradient[c];
                    bias[c] -= rate * biasGradient[c] / (MathF.Sqrt(biasSquares[c]) + 1e-8f);
                }
            }
        }

        return model;
    }

    /// <summary>The most probable class of <paramref name="input"/>.</summary>
    public int Predict(SparseVector input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var probabilities = new double[_bias.Length];
        Probabilities(input, probabilities);
        return Array.IndexOf(probabilities, probabilities.Max());
    }

    private void Probabilities(SparseVector x, double[] probabilities)
    {
        var max = double.NegativeInfinity;
        for (var c = 0; c < probabilities.Length; c++)
        {
            double z = _bias[c];
            for (var i = 0; i < x.Indices.Length; i++)
            {
                z += _weights[c, x.Indices[i]] * x.Values[i];
            }

            probabilities[c] = z;
            max = Math.Max(max, z);
        }

        var sum = 0.0;
        for (var c = 0; c < probabilities.Length; c++)
        {
            probabilities[c] = Math.Exp(probabilities[c] - max);
            sum += probabilities[c];
        }

        for (var c = 0; c < probabilities.Length; c++)
        {
            probabilities[c] /= sum;
        }
    }
}
