using System.Globalization;
using SecretlessProxy.Audit;

namespace SecretlessProxy.Configuration;

/// <summary>Compiles <c>decisionLog</c>: the audit sink, file rotation and queue bound.</summary>
internal static class DecisionLogSection
{
    public static DecisionLogSettings Compile(ConfigDocument document, ConfigErrorList errors)
    {
        if (ConfigSections.Optional(document, "decisionLog", ["sink", "path", "maxFileSize", "maxFiles", "queueCapacity"], errors) is not { } section)
        {
            return DecisionLogSettings.Default;
        }
        var sinkText = ConfigSections.Value(section, "sink") ?? "stdout";
        if (!Enum.TryParse<DecisionSink>(sinkText, ignoreCase: true, out var sink) || int.TryParse(sinkText, out _))
        {
            errors.Add(section.Path + ":sink", $"'{sinkText}' is not a decision log sink", "use stdout (default), file or none");
            return DecisionLogSettings.Default;
        }
        var path = ConfigSections.Value(section, "path");
        if (sink == DecisionSink.File)
        {
            if (path is null)
            {
                errors.Add(section.Path + ":path", "is required when sink is file", "set path to the file records are appended to, e.g. path: /var/log/secretless/audit.jsonl");
                return DecisionLogSettings.Default;
            }
            path = Path.GetFullPath(path, document.Directory);
            if (!document.Offline && !Directory.Exists(Path.GetDirectoryName(path)))
            {
                errors.Add(section.Path + ":path", $"the folder of '{path}' does not exist", "create the folder or choose another path");
            }
        }
        var maxBytes = DecisionLogSettings.DefaultMaxFileBytes;
        if (ConfigSections.Value(section, "maxFileSize") is { } sizeText && !TryParseSize(sizeText, out maxBytes))
        {
            errors.Add(section.Path + ":maxFileSize", $"'{sizeText}' is not a size of at least 1 KiB", "write a number of bytes or one with a unit, e.g. 100MiB, 512KiB, 1GiB");
        }
        var maxFiles = DecisionLogSettings.DefaultMaxFiles;
        if (ConfigSections.Value(section, "maxFiles") is { } filesText && (!int.TryParse(filesText, NumberStyles.None, CultureInfo.InvariantCulture, out maxFiles) || maxFiles > 1000))
        {
            errors.Add(section.Path + ":maxFiles", $"'{filesText}' is not a number from 0 to 1000", "write how many rotated files to keep besides the current one, e.g. maxFiles: 5");
        }
        var capacity = DecisionLogSettings.DefaultQueueCapacity;
        if (ConfigSections.Value(section, "queueCapacity") is { } capacityText && (!int.TryParse(capacityText, NumberStyles.None, CultureInfo.InvariantCulture, out capacity) || capacity is < 1 or > 10_000_000))
        {
            errors.Add(section.Path + ":queueCapacity", $"'{capacityText}' is not a number from 1 to 10000000", "write how many records may wait for a slow sink before new ones are dropped, e.g. queueCapacity: 10000");
        }
        return new DecisionLogSettings(sink, path) { MaxFileBytes = maxBytes, MaxFiles = maxFiles, QueueCapacity = capacity };
    }

    /// <summary>Parses <c>1048576</c>, <c>512KiB</c>, <c>100MiB</c>, <c>1GiB</c> (KB/MB/GB and K/M/G mean the same binary units).</summary>
    internal static bool TryParseSize(string text, out long bytes)
    {
        bytes = 0;
        var trimmed = text.Trim();
        var digits = 0;
        while (digits < trimmed.Length && char.IsAsciiDigit(trimmed[digits]))
        {
            digits++;
        }
        if (digits == 0 || !long.TryParse(trimmed.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return false;
        }
        long unit = trimmed[digits..].Trim().ToUpperInvariant() switch
        {
            "" or "B" => 1,
            "K" or "KB" or "KIB" => 1024,
            "M" or "MB" or "MIB" => 1024 * 1024,
            "G" or "GB" or "GIB" => 1024 * 1024 * 1024,
            _ => 0,
        };
        if (unit == 0 || number > long.MaxValue / unit)
        {
            return false;
        }
        bytes = number * unit;
        return bytes >= 1024;
    }
}
