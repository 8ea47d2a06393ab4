using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PeftSharp.Methods.Sora;

/// <summary>How the gate optimizer thresholds after its Adam step.</summary>
public enum SoraThresholdMode
{
    /// <summary>
    /// The official code's three in-place updates with a fixed ξ: values above ξ shrink by ξ, values
    /// below −ξ grow by ξ, then values with |v| &lt; ξ become 0. Because the last test sees shrunk
    /// values, the effective dead zone is |x| &lt; 2ξ (except |x| = ξ exactly, left unchanged).
    /// </summary>
    Reference,

    /// <summary>The textbook soft-threshold with η·ξ (η the gate learning rate of the step): <c>sign(x)·max(|x| − ηξ, 0)</c>.</summary>
    Proximal,
}

/// <summary>How ξ moves through its list at stage boundaries (the official sparsifying scheduler).</summary>
public enum SoraLambdaSchedule
{
    /// <summary>ξ stays fixed.</summary>
    None,

    /// <summary><c>linspace(ξ0, ξmax, n)</c>.</summary>
    Linear,

    /// <summary><c>log(linspace(exp ξ0, exp ξmax, n))</c>.</summary>
    LogLinear,

    /// <summary><c>exp(linspace(log ξ0, log ξmax, n))</c> (needs ξ0 &gt; 0).</summary>
    ExpLinear,
}

/// <summary>
/// The official SoRA gate optimizer (<c>SparseAdamW</c>): per gate an Adam step with Hugging Face
/// semantics (<c>denom = √v + eps</c>, bias correction folded into the step size
/// <c>lr·√(1−β2ᵗ)/(1−β1ᵗ)</c>, no weight decay), then the threshold with the current ξ. Adam's
/// moments are not touched by the threshold, so a zeroed gate can re-open.
/// </summary>
public sealed class SoraGateOptimizer
{
    private readonly IReadOnlyList<Parameter> _gates;
    private readonly Tensor[] _expAvg;
    private readonly Tensor[] _expAvgSq;
    private readonly double[] _lambdas;

    /// <summary>Creates the optimizer for <paramref name="gates"/> with threshold ξ = <paramref name="lambda"/>.</summary>
    public SoraGateOptimizer(IReadOnlyList<Parameter> gates, double lambda, SoraThresholdMode mode = SoraThresholdMode.Reference,
        SoraLambdaSchedule schedule = SoraLambdaSchedule.None, double? maxLambda = null, int? lambdaCount = null,
        double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-6)
    {
        _gates = gates;
        (Mode, Beta1, Beta2, Eps) = (mode, beta1, beta2, eps);
        _expAvg = gates.Select(g => zeros_like(g).DetachFromDisposeScope()).ToArray();
        _expAvgSq = gates.Select(g => zeros_like(g).DetachFromDisposeScope()).ToArray();
        _lambdas = LambdaList(lambda, schedule, maxLambda, lambdaCount);
        Lambda = _lambdas[0];
    }

    /// <summary>The threshold mode.</summary>
    public SoraThresholdMode Mode { get; }

    /// <summary>Adam's β1.</summary>
    public double Beta1 { get; }

    /// <summary>Adam's β2.</summary>
    public double Beta2 { get; }

    /// <summary>Adam's ε (the official default 1e-6).</summary>
    public double Eps { get; }

    /// <summary>The current ξ.</summary>
    public double Lambda { get; private set; }

    /// <summary>The position of <see cref="Lambda"/> in the schedule's list.</summary>
    public int LambdaIndex { get; private set; }

    /// <summary>The schedule's ξ values (one value without a schedule).</summary>
    public IReadOnlyList<double> Lambdas => _lambdas;

    /// <summary>Adam steps taken.</summary>
    public long StepCount { get; private set; }

    /// <summary>The first and second moments of gate <paramref name="index"/> (live tensors, for checks and checkpoints).</summary>
    public (Tensor ExpAvg, Tensor ExpAvgSq) Moments(int index) => (_expAvg[index], _expAvgSq[index]);

    /// <summary>The official <c>lambda_schedule</c> lists (numpy's linspace: <c>start + i·(stop − start)/(n − 1)</c>, last = stop).</summary>
    public static double[] LambdaList(double start, SoraLambdaSchedule schedule, double? max, int? count)
    {
        if (schedule == SoraLambdaSchedule.None)
        {
            return [start];
        }

        if (max is not { } stop || count is not { } n || n < 1)
        {
            throw new PeftConfigurationException($"the {schedule} ξ schedule needs max_lambda and lambda_num ≥ 1");
        }

        static double[] Linspace(double a, double b, int n)
        {
            var step = n > 1 ? (b - a) / (n - 1) : 0;
            var values = Enumerable.Range(0, n).Select(i => i * step + a).ToArray();
            values[^1] = n > 1 ? b : a;
            return values;
        }

        return schedule switch
        {
            SoraLambdaSchedule.Linear => Linspace(start, stop, n),
            SoraLambdaSchedule.LogLinear => Linspace(Math.Exp(start), Math.Exp(stop), n).Select(v => Math.Log(v)).ToArray(),
            SoraLambdaSchedule.ExpLinear when start > 0 && stop > 0 => Linspace(Math.Log(start), Math.Log(stop), n).Select(v => Math.Exp(v)).ToArray(),
            _ => throw new PeftConfigurationException($"the exp_linear ξ schedule needs sparse_lambda_2 > 0 and max_lambda > 0, got {start} and {stop}"),
        };
    }

    /// <summary>One step at learning rate <paramref name="lr"/>: Adam update, then the threshold. Gates without a gradient are skipped.</summary>
    public void Step(double lr)
    {
        using var noGrad = no_grad();
        StepCount++;
        var stepSize = lr * Math.Sqrt(1 - Math.Pow(Beta2, StepCount)) / (1 - Math.Pow(Beta1, StepCount));
        for (var i = 0; i < _gates.Count; i++)
        {
            using var scope = NewDisposeScope();
            var p = _gates[i];
            if (p.grad is not { } grad)
            {
                continue;
            }

            _expAvg[i].mul_(Beta1).add_(grad, alpha: 1 - Beta1);
            _expAvgSq[i].mul_(Beta2).addcmul_(grad, grad, value: 1 - Beta2);
            p.addcdiv_(_expAvg[i], _expAvgSq[i].sqrt().add_(Eps), value: -stepSize);
            Threshold(p, Mode == SoraThresholdMode.Reference ? Lambda : Lambda * lr, Mode);
        }
    }

    /// <summary>Applies the threshold of <paramref name="mode"/> with ξ = <paramref name="xi"/> to <paramref name="values"/> in place.</summary>
    public static void Threshold(Tensor values, double xi, SoraThresholdMode mode)
    {
        if (xi <= 0)
        {
            return;
        }

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        if (mode == SoraThresholdMode.Reference)
        {
            values.sub_(values.gt(xi).to(values.dtype).mul_(xi));
            values.add_(values.lt(-xi).to(values.dtype).mul_(xi));
            values.masked_fill_(values.abs().lt(xi), 0.0);
        }
        else
        {
            values.copy_(values.sign() * (values.abs() - xi).clamp_min_(0));
        }
    }

    /// <summary>Moves ξ to the next value of the schedule (the official <c>step_lambda</c>); false at the end of the list.</summary>
    public bool StepLambda()
    {
        if (LambdaIndex >= _lambdas.Length - 1)
        {
            return false;
        }

        LambdaIndex++;
        Lambda = _lambdas[LambdaIndex];
        return true;
    }

    /// <summary>Restores step count, ξ position and moments (from a checkpoint).</summary>
    public void Restore(long stepCount, int lambdaIndex, IReadOnlyList<Tensor> expAvg, IReadOnlyList<Tensor> expAvgSq)
    {
        if (lambdaIndex < 0 || lambdaIndex >= _lambdas.Length || expAvg.Count != _gates.Count || expAvgSq.Count != _gates.Count)
        {
            throw new ArgumentException($"gate optimizer state does not match: ξ index {lambdaIndex} of {_lambdas.Length}, {expAvg.Count} moments for {_gates.Count} gates");
        }

        using var noGrad = no_grad();
        StepCount = stepCount;
        LambdaIndex = lambdaIndex;
        Lambda = _lambdas[lambdaIndex];
        for (var i = 0; i < _gates.Count; i++)
        {
            _expAvg[i].copy_(expAvg[i]);
            _expAvgSq[i].copy_(expAvgSq[i]);
        }
    }
}
