using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json.Nodes;

namespace SecretlessProxy.Admin;

/// <summary>
/// The web console's HTML: a page frame with navigation, and tables rendered from the admin API's own JSON (so the
/// console shows exactly what the API shows, secrets already left out). Every value is HTML-encoded; the pages carry
/// no script, and the Content-Security-Policy allows none.
/// </summary>
internal sealed class ConsoleHtml
{
    private readonly StringBuilder _html = new();

    /// <summary>The policy every console answer carries: no script, no framing, forms only to the console itself.</summary>
    public const string ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    public static string Encode(string? text) => HtmlEncoder.Default.Encode(text ?? "");

    public ConsoleHtml Raw(string html)
    {
        _html.Append(html);
        return this;
    }

    public ConsoleHtml Text(string? text)
    {
        _html.Append(Encode(text));
        return this;
    }

    /// <summary>An element with encoded text: <c>&lt;tag attributes&gt;text&lt;/tag&gt;</c> (attributes are written by the caller, encoded).</summary>
    public ConsoleHtml Element(string tag, string? text, string attributes = "")
    {
        _html.Append('<').Append(tag).Append(attributes.Length > 0 ? " " + attributes : "").Append('>').Append(Encode(text)).Append("</").Append(tag).Append('>');
        return this;
    }

    public static string Attribute(string name, string? value) => $"{name}=\"{Encode(value)}\"";

    /// <summary>A table of the objects in <paramref name="rows"/>: one column per key, in order of first appearance.</summary>
    public ConsoleHtml Table(JsonArray? rows, string emptyText, string id, Func<JsonObject, string>? actions = null, IReadOnlyList<string>? columns = null)
    {
        var objects = rows?.OfType<JsonObject>().ToList() ?? [];
        if (objects.Count == 0)
        {
            return Element("p", emptyText, "class=\"empty\" " + Attribute("id", id));
        }
        var keys = columns?.ToList() ?? [.. objects.SelectMany(o => o.Select(p => p.Key)).Distinct(StringComparer.Ordinal)];
        _html.Append("<table ").Append(Attribute("id", id)).Append("><thead><tr>");
        foreach (var key in keys)
        {
            Element("th", key);
        }
        if (actions is not null)
        {
            Element("th", "");
        }
        _html.Append("</tr></thead><tbody>");
        foreach (var row in objects)
        {
            var rowId = row["id"] is JsonValue idValue && idValue.TryGetValue<string>(out var text) ? " " + Attribute("id", id + "-" + text) : "";
            _html.Append("<tr").Append(rowId).Append('>');
            foreach (var key in keys)
            {
                Element("td", Cell(row[key]), Attribute("data-column", key));
            }
            if (actions is not null)
            {
                _html.Append("<td class=\"actions\">").Append(actions(row)).Append("</td>");
            }
            _html.Append("</tr>");
        }
        _html.Append("</tbody></table>");
        return this;
    }

    /// <summary>A table of one object's scalar members: key, value.</summary>
    public ConsoleHtml Facts(IEnumerable<(string Key, string? Value)> facts, string id)
    {
        _html.Append("<table class=\"facts\" ").Append(Attribute("id", id)).Append("><tbody>");
        foreach (var (key, value) in facts)
        {
            _html.Append("<tr>");
            Element("th", key);
            Element("td", value, Attribute("data-fact", key));
            _html.Append("</tr>");
        }
        _html.Append("</tbody></table>");
        return this;
    }

    /// <summary>How a JSON value reads in a cell: text as is, lists of text joined, anything nested as compact JSON.</summary>
    public static string Cell(JsonNode? node) => node switch
    {
        null => "",
        JsonValue value when value.TryGetValue<string>(out var text) => text,
        JsonValue value when value.TryGetValue<DateTimeOffset>(out var instant) => instant.ToString("u", CultureInfo.InvariantCulture),
        JsonArray list when list.All(i => i is JsonValue) => string.Join(", ", list.Select(Cell)),
        _ => node.ToJsonString(),
    };

    /// <summary>The whole page: frame, navigation with <paramref name="current"/> marked, a notice or error banner, and the body.</summary>
    public static string Page(string title, string current, string body, string? notice, string? error, int pending, int live, bool readOnly)
    {
        var page = new ConsoleHtml();
        page.Raw("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
            .Element("title", title + " · SecretlessProxy console")
            .Raw("<link rel=\"stylesheet\" href=\"/console/style.css\"></head><body><header><span class=\"brand\">SecretlessProxy</span><nav>");
        foreach (var (href, name) in new[] { ("/console", "Overview"), ("/console/requests", $"Requests ({pending.ToString(CultureInfo.InvariantCulture)})"),
            ("/console/grants", $"Grants ({live.ToString(CultureInfo.InvariantCulture)})"), ("/console/inventory", "Inventory"), ("/console/decisions", "Decisions") })
        {
            page.Element("a", name, Attribute("href", href) + (href == current ? " aria-current=\"page\"" : ""));
        }
        page.Raw("</nav>").Raw(readOnly ? "<span class=\"mode\">read-only</span>" : "").Raw("</header><main>").Element("h1", title);
        if (notice is not null)
        {
            page.Element("p", notice, "class=\"notice\" role=\"status\" id=\"notice\"");
        }
        if (error is not null)
        {
            page.Element("p", error, "class=\"error\" role=\"alert\" id=\"error\"");
        }
        return page.Raw(body).Raw("</main></body></html>").ToString();
    }

    public override string ToString() => _html.ToString();

    public const string Style = """
        :root { color-scheme: light; --ink: #1d2330; --muted: #5b6475; --line: #d9dee7; --accent: #2456c9; --bad: #b42318; --good: #067647; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--ink); background: #f6f7f9; }
        header { display: flex; gap: 24px; align-items: center; padding: 10px 24px; background: #fff; border-bottom: 1px solid var(--line); }
        .brand { font-weight: 700; }
        nav { display: flex; gap: 16px; }
        nav a { color: var(--muted); text-decoration: none; padding: 4px 0; }
        nav a[aria-current=page] { color: var(--accent); border-bottom: 2px solid var(--accent); }
        .mode { margin-left: auto; color: var(--muted); border: 1px solid var(--line); border-radius: 4px; padding: 0 6px; }
        main { padding: 16px 24px 48px; }
        h1 { font-size: 20px; margin: 8px 0 16px; }
        h2 { font-size: 16px; margin: 24px 0 8px; }
        table { border-collapse: collapse; background: #fff; border: 1px solid var(--line); width: 100%; margin-bottom: 8px; }
        th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere; }
        th { background: #eef1f6; font-weight: 600; }
        table.facts { width: auto; min-width: 420px; }
        .empty { color: var(--muted); }
        .notice { background: #ecfdf3; color: var(--good); border: 1px solid #abefc6; padding: 8px 12px; border-radius: 4px; }
        .error { background: #fef3f2; color: var(--bad); border: 1px solid #fecdca; padding: 8px 12px; border-radius: 4px; }
        form.inline { display: inline-flex; gap: 4px; margin: 0 4px 4px 0; }
        form.filters { display: flex; gap: 8px; margin-bottom: 12px; flex-wrap: wrap; }
        input[type=text] { padding: 3px 6px; border: 1px solid var(--line); border-radius: 4px; }
        button { padding: 3px 10px; border: 1px solid var(--line); border-radius: 4px; background: #fff; cursor: pointer; }
        button.approve { border-color: var(--good); color: var(--good); }
        button.deny, button.revoke { border-color: var(--bad); color: var(--bad); }
        td[data-column=outcome] { font-weight: 600; }
        """;
}
