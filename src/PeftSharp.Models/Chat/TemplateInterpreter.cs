using E = PeftSharp.Models.Chat.TemplateExpression;
using S = PeftSharp.Models.Chat.TemplateStatement;

namespace PeftSharp.Models.Chat;

/// <summary>Renders a parsed template: runs its statements and evaluates its expressions within a <see cref="TemplateBudget"/>.</summary>
internal sealed class TemplateInterpreter
{
    private readonly TemplateSource _source;
    private readonly TemplateBudget _budget;
    private readonly Stack<StringBuilder> _outputs = new();
    private int _callDepth;
    private int _loopControl = -1;

    public TemplateInterpreter(TemplateSource source, TemplateBudget budget)
    {
        _source = source;
        _budget = budget;
    }

    /// <summary>Renders <paramref name="body"/> with the variables of <paramref name="scope"/>.</summary>
    public string Render(S[] body, TemplateScope scope) => Capture(body, scope);

    /// <summary>Python's <c>item in container</c>.</summary>
    public static bool Contains(object? container, object? item, TemplateBudget budget)
    {
        switch (container)
        {
            case string s:
                return item is string sub
                    ? s.Contains(sub, StringComparison.Ordinal)
                    : throw new TemplateRuntimeException($"'in <string>' requires string as left operand, not {TemplateValues.TypeName(item)}");
            case IReadOnlyList<object?> list:
                return list.Any(x => TemplateValues.AreEqual(x, item, budget));
            case OrderedDictionary<string, object?> dict:
                return item is string key && dict.ContainsKey(key);
            case TemplateUndefined:
                return false;
            default:
                throw new TemplateRuntimeException($"argument of type '{TemplateValues.TypeName(container)}' is not iterable");
        }
    }

    /// <summary>Runs <paramref name="body"/> (the template, a macro, a set or filter block) and returns what it wrote.</summary>
    private string Capture(S[] body, TemplateScope scope)
    {
        _outputs.Push(new StringBuilder());
        var flow = Execute(body, scope);
        if (flow != TemplateFlow.Normal)
        {
            throw _source.Error(_loopControl, $"'{(flow == TemplateFlow.Break ? "break" : "continue")}' outside a loop");
        }

        return _outputs.Pop().ToString();
    }

    private void Write(string text, int offset)
    {
        var output = _outputs.Peek();
        if ((long)output.Length + text.Length > _budget.Options.MaxOutputLength)
        {
            throw _source.Error(offset, $"the output exceeds {_budget.Options.MaxOutputLength} characters (limit of the sandbox)");
        }

        try
        {
            _budget.Charge(1 + (text.Length >> 4));
        }
        catch (TemplateRuntimeException e)
        {
            throw _source.Error(offset, e.Message);
        }

        output.Append(text);
    }

    private void Charge(int offset)
    {
        try
        {
            _budget.Charge(1);
        }
        catch (TemplateRuntimeException e)
        {
            throw _source.Error(offset, e.Message);
        }
    }

    private TemplateFlow Execute(S[] body, TemplateScope scope)
    {
        foreach (var statement in body)
        {
            Charge(statement.Offset);
            var flow = ExecuteOne(statement, scope);
            if (flow != TemplateFlow.Normal)
            {
                return flow;
            }
        }

        return TemplateFlow.Normal;
    }

    private TemplateFlow ExecuteOne(S statement, TemplateScope scope)
    {
        switch (statement)
        {
            case S.Text text:
                Write(text.Value, text.Offset);
                return TemplateFlow.Normal;
            case S.Output output:
                var value = Eval(output.Value, scope);
                Write(Guard(output.Value.Offset, () => TemplateValues.Str(value, _budget)), output.Offset);
                return TemplateFlow.Normal;
            case S.If branch:
                for (var i = 0; i < branch.Conditions.Length; i++)
                {
                    if (TemplateValues.IsTrue(Eval(branch.Conditions[i], scope)))
                    {
                        return Execute(branch.Bodies[i], scope);
                    }
                }

                return branch.Otherwise is null ? TemplateFlow.Normal : Execute(branch.Otherwise, scope);
            case S.For loop:
                return For(loop, scope);
            case S.Set set:
                Assign(set.Targets, set.Unpack, Eval(set.Value, scope), scope, set.Offset);
                return TemplateFlow.Normal;
            case S.SetAttribute set:
                if (!scope.TryGet(set.Target, out var target) || target is not TemplateNamespace ns)
                {
                    throw _source.Error(set.Offset, $"cannot assign attribute on non-namespace object '{set.Target}'");
                }

                ns.Attributes[set.Member] = Eval(set.Value, scope);
                return TemplateFlow.Normal;
            case S.SetBlock block:
                scope.Set(block.Target, ApplyFilters(block.Filters, Capture(block.Body, scope), scope));
                return TemplateFlow.Normal;
            case S.FilterBlock block:
                Write(Guard(block.Offset, () => TemplateValues.Str(ApplyFilters(block.Filters, Capture(block.Body, scope), scope), _budget)), block.Offset);
                return TemplateFlow.Normal;
            case S.Macro macro:
                scope.Set(macro.Name, MakeMacro(macro, scope));
                return TemplateFlow.Normal;
            case S.CallBlock call:
                var caller = new TemplateCallable("caller", _ => Capture(call.Body, new TemplateScope(scope)));
                var result = Invoke(call.Call, scope, caller);
                Write(Guard(call.Offset, () => TemplateValues.Str(result, _budget)), call.Offset);
                return TemplateFlow.Normal;
            case S.Generation generation:
                return Execute(generation.Body, scope);
            case S.Break:
                _loopControl = statement.Offset;
                return TemplateFlow.Break;
            case S.Continue:
                _loopControl = statement.Offset;
                return TemplateFlow.Continue;
            default:
                throw _source.Error(statement.Offset, "unsupported statement");
        }
    }

    private T Guard<T>(int offset, Func<T> action)
    {
        try
        {
            return action();
        }
        catch (TemplateRuntimeException e)
        {
            throw _source.Error(offset, e.Message, e.RaisedByTemplate);
        }
    }

    private object? ApplyFilters(E.Filter[] filters, object? value, TemplateScope scope)
    {
        foreach (var filter in filters)
        {
            var arguments = Arguments(filter.Arguments, filter.Named, scope);
            var input = value;
            value = Guard(filter.Offset, () => TemplateFilters.Apply(filter.FilterName, input, arguments, _budget));
        }

        return value;
    }

    private void Assign(string[] targets, bool unpack, object? value, TemplateScope scope, int offset)
    {
        if (!unpack)
        {
            scope.Set(targets[0], value);
            return;
        }

        var items = Guard(offset, () => TemplateFilters.Iterate(value, _budget));
        if (items.Count != targets.Length)
        {
            throw _source.Error(offset, $"cannot unpack {items.Count} values into {targets.Length} names");
        }

        for (var i = 0; i < targets.Length; i++)
        {
            scope.Set(targets[i], items[i]);
        }
    }

    private TemplateFlow For(S.For loop, TemplateScope scope)
    {
        var iterable = Eval(loop.Iterable, scope);
        var items = Guard(loop.Iterable.Offset, () => TemplateFilters.Iterate(iterable, _budget));
        if (loop.Filter is not null)
        {
            var kept = new List<object?>();
            foreach (var item in items)
            {
                Charge(loop.Offset);
                var filterScope = new TemplateScope(scope);
                Assign(loop.Targets, loop.Unpack, item, filterScope, loop.Offset);
                if (TemplateValues.IsTrue(Eval(loop.Filter, filterScope)))
                {
                    kept.Add(item);
                }
            }

            items = kept;
        }

        if (items.Count == 0)
        {
            return loop.Otherwise is null ? TemplateFlow.Normal : Execute(loop.Otherwise, scope);
        }

        var state = new TemplateLoop(items);
        for (var i = 0; i < items.Count; i++)
        {
            Charge(loop.Offset);
            var iteration = new TemplateScope(scope);
            Assign(loop.Targets, loop.Unpack, items[i], iteration, loop.Offset);
            state.Index0 = i;
            iteration.Set("loop", state);
            if (Execute(loop.Body, iteration) == TemplateFlow.Break)
            {
                break;
            }
        }

        return TemplateFlow.Normal;
    }

    private TemplateCallable MakeMacro(S.Macro macro, TemplateScope defining) => new(macro.Name, arguments =>
    {
        if (arguments.Positional.Count > macro.Parameters.Length)
        {
            throw new TemplateRuntimeException($"macro '{macro.Name}' takes not more than {macro.Parameters.Length} argument(s)");
        }

        if (++_callDepth > _budget.Options.MaxCallDepth)
        {
            throw new TemplateRuntimeException($"macro calls nest deeper than {_budget.Options.MaxCallDepth} (limit of the sandbox)");
        }

        try
        {
            var scope = new TemplateScope(defining);
            for (var i = 0; i < macro.Parameters.Length; i++)
            {
                var name = macro.Parameters[i];
                scope.Set(name, i < arguments.Positional.Count ? arguments.Positional[i]
                    : arguments.Named.TryGetValue(name, out var named) ? named
                    : macro.Defaults[i] is { } fallback ? Eval(fallback, scope)
                    : new TemplateUndefined($"'{name}' is undefined"));
            }

            foreach (var (name, value) in arguments.Named)
            {
                if (name == "caller")
                {
                    scope.Set(name, value);
                }
                else if (!macro.Parameters.Contains(name))
                {
                    throw new TemplateRuntimeException($"macro '{macro.Name}' takes no keyword argument '{name}'");
                }
            }

            return Capture(macro.Body, scope);
        }
        finally
        {
            _callDepth--;
        }
    });

    private TemplateArguments Arguments(E[] positional, KeyValuePair<string, E>[] named, TemplateScope scope)
    {
        var values = new List<object?>(positional.Length);
        foreach (var argument in positional)
        {
            values.Add(Eval(argument, scope));
        }

        var names = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, argument) in named)
        {
            names[name] = Eval(argument, scope);
        }

        return new TemplateArguments(values, names);
    }

    private object? Invoke(E.Call call, TemplateScope scope, TemplateCallable? caller)
    {
        var callee = Eval(call.Callee, scope);
        var arguments = Arguments(call.Arguments, call.Named, scope);
        if (caller is not null)
        {
            arguments.Named["caller"] = caller;
        }

        return Guard(call.Offset, () => callee switch
        {
            TemplateCallable callable => callable.Invoke(arguments),
            TemplateUndefined undefined => throw new TemplateRuntimeException(undefined.Description),
            _ => throw new TemplateRuntimeException($"'{TemplateValues.TypeName(callee)}' object is not callable"),
        });
    }

    private object? Eval(E expression, TemplateScope scope)
    {
        try
        {
            _budget.Charge(1);
            var value = EvalCore(expression, scope);
            if (expression is E.Call or E.Filter)
            {
                // What calls and filters return may be new: charge its size, so what a render allocates follows its steps.
                switch (value)
                {
                    case string s:
                        _budget.ChargeSize(s.Length);
                        break;
                    case IReadOnlyList<object?> list:
                        _budget.ChargeSize(list.Count);
                        break;
                }
            }

            return value;
        }
        catch (TemplateRuntimeException e)
        {
            throw _source.Error(expression.Offset, e.Message, e.RaisedByTemplate);
        }
    }

    private object? EvalCore(E expression, TemplateScope scope)
    {
        switch (expression)
        {
            case E.Literal literal:
                return literal.Value;
            case E.Name name:
                return scope.TryGet(name.Identifier, out var value) ? value : new TemplateUndefined($"'{name.Identifier}' is undefined");
            case E.ListLiteral list:
                return list.Items.Select(i => Eval(i, scope)).ToList();
            case E.TupleLiteral tuple:
                return tuple.Items.Select(i => Eval(i, scope)).ToArray();
            case E.DictLiteral dict:
                var result = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                for (var i = 0; i < dict.Keys.Length; i++)
                {
                    var key = Eval(dict.Keys[i], scope) as string ?? throw _source.Error(dict.Keys[i].Offset, "dict keys must be strings in this sandbox");
                    result[key] = Eval(dict.Values[i], scope);
                }

                return result;
            case E.Attribute attribute:
                return TemplateMembers.Attribute(Eval(attribute.Target, scope), attribute.Member, _budget);
            case E.Item { Index: E.Slice slice } item:
                return TemplateMembers.Slice(
                    Eval(item.Target, scope),
                    slice.Start is null ? null : Eval(slice.Start, scope),
                    slice.Stop is null ? null : Eval(slice.Stop, scope),
                    slice.Step is null ? null : Eval(slice.Step, scope),
                    _budget);
            case E.Item item:
                return TemplateMembers.Item(Eval(item.Target, scope), Eval(item.Index, scope), _budget);
            case E.Slice:
                throw new TemplateRuntimeException("a slice is only allowed inside []");
            case E.Call call:
                return Invoke(call, scope, null);
            case E.Filter filter:
                var input = Eval(filter.Value, scope);
                return TemplateFilters.Apply(filter.FilterName, input, Arguments(filter.Arguments, filter.Named, scope), _budget);
            case E.Test test:
                var tested = Eval(test.Value, scope);
                var arguments = test.Arguments.Select(a => Eval(a, scope)).ToList();
                return TemplateTests.Apply(test.TestName, tested, arguments, _budget) != test.Negated;
            case E.Unary unary:
                var operand = Eval(unary.Operand, scope);
                if (unary.Operator == "not")
                {
                    return !TemplateValues.IsTrue(operand);
                }

                TemplateValues.ThrowIfUndefined(operand);
                return (unary.Operator, operand) switch
                {
                    ("-", long l) => l == long.MinValue ? throw new TemplateRuntimeException("integer overflow in '-'") : (object)(-l),
                    ("-", double d) => -d,
                    ("-", bool negated) => negated ? -1L : 0L,
                    ("+", long or double) => operand,
                    ("+", bool positive) => positive ? 1L : 0L,
                    _ => throw new TemplateRuntimeException($"bad operand type for unary {unary.Operator}: '{TemplateValues.TypeName(operand)}'"),
                };
            case E.Binary { Operator: "and" } and:
                var left = Eval(and.Left, scope);
                return TemplateValues.IsTrue(left) ? Eval(and.Right, scope) : left;
            case E.Binary { Operator: "or" } or:
                var first = Eval(or.Left, scope);
                return TemplateValues.IsTrue(first) ? first : Eval(or.Right, scope);
            case E.Binary { Operator: "~" } concat:
                var a = TemplateValues.Str(Eval(concat.Left, scope), _budget);
                var b = TemplateValues.Str(Eval(concat.Right, scope), _budget);
                _budget.ChargeSize((long)a.Length + b.Length);
                return a + b;
            case E.Binary binary:
                var x = Eval(binary.Left, scope);
                var y = Eval(binary.Right, scope);
                return TemplateOperators.Binary(binary.Operator, x, y, _budget);
            case E.Compare compare:
                var current = Eval(compare.First, scope);
                for (var i = 0; i < compare.Operators.Length; i++)
                {
                    var next = Eval(compare.Operands[i], scope);
                    var op = compare.Operators[i];
                    var holds = op switch
                    {
                        "==" => TemplateValues.AreEqual(current, next, _budget),
                        "!=" => !TemplateValues.AreEqual(current, next, _budget),
                        "<" => TemplateValues.CompareOrder(current, next, op, _budget) < 0,
                        "<=" => TemplateValues.CompareOrder(current, next, op, _budget) <= 0,
                        ">" => TemplateValues.CompareOrder(current, next, op, _budget) > 0,
                        ">=" => TemplateValues.CompareOrder(current, next, op, _budget) >= 0,
                        "in" => Contains(next, current, _budget),
                        _ => !Contains(next, current, _budget),
                    };
                    if (!holds)
                    {
                        return false;
                    }

                    current = next;
                }

                return true;
            case E.Conditional conditional:
                return TemplateValues.IsTrue(Eval(conditional.Condition, scope))
                    ? Eval(conditional.Then, scope)
                    : conditional.Otherwise is null ? new TemplateUndefined("the inline if expression evaluated to false and no else section was defined") : Eval(conditional.Otherwise, scope);
            default:
                throw new TemplateRuntimeException("unsupported expression");
        }
    }
}
