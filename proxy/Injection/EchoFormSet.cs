namespace SecretlessProxy.Injection;

/// <summary>Builds the list of <see cref="Abstractions.IPreparedInjection.EchoForms"/>: distinct, longest first, none too short to mean anything.</summary>
internal static class EchoFormSet
{
    /// <summary>Shorter values are not masked: they would match ordinary text and say nothing about the secret.</summary>
    public const int MinimumLength = 6;

    public static string[] Of(IEnumerable<string> forms) =>
        [.. forms.Where(f => f.Length >= MinimumLength).Distinct(StringComparer.Ordinal).OrderByDescending(f => f.Length)];
}
