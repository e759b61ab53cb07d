namespace SecretlessProxy.Policy;

/// <summary>
/// A weekly time window in one time zone, e.g. Mon–Fri 08:00–18:00 Europe/Berlin. A window whose end is
/// before its start runs overnight (22:00–06:00). The day is the day the window starts on.
/// </summary>
public sealed class Schedule(IReadOnlySet<DayOfWeek> days, TimeOnly from, TimeOnly to, TimeZoneInfo timeZone)
{
    public bool IsActive(DateTimeOffset now)
    {
        var local = TimeZoneInfo.ConvertTime(now, timeZone);
        var time = TimeOnly.FromDateTime(local.DateTime);
        if (from <= to)
        {
            return days.Contains(local.DayOfWeek) && time >= from && time < to;
        }
        // Overnight: the evening part belongs to today, the morning part to the day before.
        return time >= from ? days.Contains(local.DayOfWeek) : time < to && days.Contains(local.AddDays(-1).DayOfWeek);
    }

    public override string ToString() => $"{string.Join(',', days)} {from:HH\\:mm}-{to:HH\\:mm} {timeZone.Id}";
}
