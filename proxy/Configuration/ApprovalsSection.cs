using System.Globalization;
using SecretlessProxy.Approvals;
using SecretlessProxy.Policy;

namespace SecretlessProxy.Configuration;

/// <summary>Compiles <c>approvals</c>: request expiry, the OIDC issuer of approvers' ID tokens, the webhook.</summary>
internal static class ApprovalsSection
{
    public static ApprovalSettings Compile(ConfigDocument document, ConfigErrorList errors, PolicyModel policy)
    {
        var takesRequests = policy.TakesGrantRequests;
        if (ConfigSections.Optional(document, "approvals", ["requestTtl", "maxPendingPerRequester", "oidc", "webhook"], errors) is not { } section)
        {
            return ApprovalSettings.Default;
        }
        if (!takesRequests)
        {
            errors.Warn(section.Path, "no policy rule lists approvers, so no grant can be requested", "add approvers: [...] to a rule with requireGrant: true");
        }
        var ttl = PostureSection.Duration(section, "requestTtl", ApprovalSettings.DefaultRequestTtl, TimeSpan.FromSeconds(1), errors);
        var maxPending = ApprovalSettings.DefaultMaxPendingPerRequester;
        if (ConfigSections.Value(section, "maxPendingPerRequester") is { } text && (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out maxPending) || maxPending < 1 || maxPending > 1000))
        {
            errors.Add(section.Path + ":maxPendingPerRequester", "is not a whole number from 1 to 1000", "write e.g. maxPendingPerRequester: 5");
            maxPending = ApprovalSettings.DefaultMaxPendingPerRequester;
        }
        return new ApprovalSettings(ttl, maxPending, Oidc(section, errors, policy), Webhook(document, section, errors));
    }

    private static OidcApproverSettings? Oidc(Microsoft.Extensions.Configuration.IConfigurationSection parent, ConfigErrorList errors, PolicyModel policy)
    {
        var section = parent.GetSection("oidc");
        if (!section.Exists())
        {
            if (policy.Rules.Any(r => r.Approvers is { } a && (a.Groups.Count > 0 || a.Names.Count > 0)))
            {
                errors.Add(parent.Path + ":oidc", "is required: a rule's approvers name OIDC groups or names", "configure approvals.oidc (issuer, audience) so approvers can sign in with an ID token");
            }
            return null;
        }
        ConfigSections.CheckKnownKeys(section, ["issuer", "audience", "nameClaim", "groupsClaim", "timeout"], errors, "approvals.oidc");
        Uri? issuer = null;
        if (ConfigSections.Value(section, "issuer") is not { } issuerText)
        {
            errors.Add(section.Path + ":issuer", "is required", "give the issuer of approvers' ID tokens, e.g. issuer: https://login.example.org (its /.well-known/openid-configuration names the keys)");
        }
        else if (!Uri.TryCreate(issuerText, UriKind.Absolute, out issuer) || issuer.Scheme is not ("http" or "https") || !string.IsNullOrEmpty(issuer.UserInfo) || issuer.Query.Length > 0)
        {
            errors.Add(section.Path + ":issuer", $"'{issuerText}' is not an http(s) issuer URL", "write e.g. issuer: https://login.example.org");
            issuer = null;
        }
        var audience = ConfigSections.Value(section, "audience");
        if (audience is null)
        {
            errors.Add(section.Path + ":audience", "is required", "give the client id the ID tokens are issued to (their aud), e.g. audience: secretless-approvals");
        }
        var timeout = PostureSection.Duration(section, "timeout", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(100), errors);
        return issuer is null || audience is null
            ? null
            : new OidcApproverSettings(issuer, audience, ConfigSections.Value(section, "nameClaim") ?? OidcApproverSettings.DefaultNameClaim,
                ConfigSections.Value(section, "groupsClaim") ?? OidcApproverSettings.DefaultGroupsClaim, timeout);
    }

    private static WebhookSettings? Webhook(ConfigDocument document, Microsoft.Extensions.Configuration.IConfigurationSection parent, ConfigErrorList errors)
    {
        var section = parent.GetSection("webhook");
        if (!section.Exists())
        {
            return null;
        }
        ConfigSections.CheckKnownKeys(section, ["url", "urlFile", "urlEnv", "timeout", "retries"], errors, "approvals.webhook");
        var url = ConfigSections.Value(section, "url");
        var file = ConfigSections.Value(section, "urlFile");
        var env = ConfigSections.Value(section, "urlEnv");
        if (new[] { url, file, env }.Count(v => v is not null) != 1)
        {
            errors.Add(section.Path, "needs exactly one of url, urlFile and urlEnv", "name the file or variable holding the URL (a Slack webhook URL is itself a secret), or write url: for one that is not", showValue: false);
        }
        Uri? parsed = null;
        if (url is not null && (!Uri.TryCreate(url, UriKind.Absolute, out parsed) || parsed.Scheme is not ("http" or "https")))
        {
            errors.Add(section.Path + ":url", "is not an http(s) URL", "write e.g. url: https://hooks.example.org/approvals", showValue: false);
            parsed = null;
        }
        var timeout = PostureSection.Duration(section, "timeout", WebhookSettings.DefaultTimeout, TimeSpan.FromMilliseconds(100), errors);
        var retries = WebhookSettings.DefaultRetries;
        if (ConfigSections.Value(section, "retries") is { } text && (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out retries) || retries > 10))
        {
            errors.Add(section.Path + ":retries", "is not a whole number from 0 to 10", "write e.g. retries: 4");
            retries = WebhookSettings.DefaultRetries;
        }
        return new WebhookSettings(parsed, file is null ? null : Path.GetFullPath(file, document.Directory), env, timeout, retries);
    }
}
