namespace PeftSharp.Models.Chat;

/// <summary>Python's <c>datetime.strftime</c> in the C locale, with glibc's <c>%-d</c> (no padding) flag.</summary>
internal static class TemplateStrftime
{
    public static string Format(DateTimeOffset time, string format)
    {
        var c = CultureInfo.InvariantCulture;
        var builder = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                builder.Append(format[i]);
                continue;
            }

            var pad = true;
            var code = format[++i];
            if (code == '-' && i + 1 < format.Length)
            {
                pad = false;
                code = format[++i];
            }

            string Number(int value, int width) => pad ? value.ToString(new string('0', width), c) : value.ToString(c);
            builder.Append(code switch
            {
                'Y' => time.Year.ToString(c),
                'y' => Number(time.Year % 100, 2),
                'm' => Number(time.Month, 2),
                'd' => Number(time.Day, 2),
                'e' => time.Day.ToString(c).PadLeft(pad ? 2 : 1),
                'H' => Number(time.Hour, 2),
                'I' => Number(time.Hour % 12 == 0 ? 12 : time.Hour % 12, 2),
                'M' => Number(time.Minute, 2),
                'S' => Number(time.Second, 2),
                'f' => (time.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", c),
                'p' => time.Hour < 12 ? "AM" : "PM",
                'B' => time.ToString("MMMM", c),
                'b' or 'h' => time.ToString("MMM", c),
                'A' => time.ToString("dddd", c),
                'a' => time.ToString("ddd", c),
                'j' => Number(time.DayOfYear, 3),
                'w' => ((int)time.DayOfWeek).ToString(c),
                'u' => (time.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)time.DayOfWeek).ToString(c),
                'z' => (time.Offset < TimeSpan.Zero ? "-" : "+") + time.Offset.ToString("hhmm", c),
                'F' => time.ToString("yyyy-MM-dd", c),
                'T' => time.ToString("HH:mm:ss", c),
                'D' => time.ToString("MM/dd/yy", c),
                '%' => "%",
                _ => "%" + (pad ? string.Empty : "-") + code,
            });
        }

        return builder.ToString();
    }
}
