namespace PeftSharp.Models.Chat;

/// <summary>A template's text and name, mapping offsets to lines and columns for errors.</summary>
internal sealed class TemplateSource
{
    private readonly List<int> _lineStarts = [0];

    public TemplateSource(string text, string name)
    {
        Text = text;
        Name = name;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                _lineStarts.Add(i + 1);
            }
        }
    }

    public string Text { get; }

    public string Name { get; }

    /// <summary>An error at <paramref name="offset"/> (negative: no position).</summary>
    public ChatTemplateException Error(int offset, string problem, bool raisedByTemplate = false)
    {
        if (offset < 0)
        {
            return new ChatTemplateException(Name, 0, 0, problem, raisedByTemplate);
        }

        var line = _lineStarts.BinarySearch(Math.Min(offset, Text.Length));
        if (line < 0)
        {
            line = ~line - 1;
        }

        return new ChatTemplateException(Name, line + 1, offset - _lineStarts[line] + 1, problem, raisedByTemplate);
    }
}
