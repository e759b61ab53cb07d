using SecretlessProxy.Policy;

namespace SecretlessProxy.Tests.Policy;

public sealed class PathGuardTests
{
    [Theory]
    [InlineData("/")]
    [InlineData("/allowed/repos/x")]
    [InlineData("/allowed/a%20b")]
    [InlineData("/allowed/caf%C3%A9")]
    [InlineData("/allowed/file.txt")]
    [InlineData("/allowed/...")]
    [InlineData("/allowed/x?next=../../etc&y=%2F")]
    [InlineData("/allowed/%E2%82%AC")]
    [InlineData("/allowed/\u00e9t\u00e9")]
    [InlineData("/allowed/%E6%97%A5%E6%9C%AC")]
    [InlineData("/allowed/x?q=%EF%BC%8E%EF%BC%8E")]
    public void Passes_unambiguous_paths(string target) => Assert.Null(PathGuard.Check(target));

    [Theory]
    [InlineData("/allowed/..%2Fdenied", "path_ambiguous_encoding")]
    [InlineData("/allowed/%2e%2e/denied", "path_ambiguous_encoding")]
    [InlineData("/allowed/%2E%2E/denied", "path_ambiguous_encoding")]
    [InlineData("/allowed%5c..%5cdenied", "path_ambiguous_encoding")]
    [InlineData("/allowed/%252e%252e/denied", "path_ambiguous_encoding")]
    [InlineData("/allowed/%3Bx", "path_ambiguous_encoding")]
    [InlineData("/allowed/%00", "path_ambiguous_encoding")]
    [InlineData("/allowed/../denied", "path_dot_segment")]
    [InlineData("/allowed/./x", "path_dot_segment")]
    [InlineData("/allowed/..", "path_dot_segment")]
    [InlineData("//denied", "path_empty_segment")]
    [InlineData("/allowed//x", "path_empty_segment")]
    [InlineData("/allowed/x/", null)]
    [InlineData("/allowed;jsessionid=1/x", "path_parameter")]
    [InlineData("/allowed\\..\\denied", "path_backslash")]
    [InlineData("/allowed/%zz", "path_bad_encoding")]
    [InlineData("/allowed/%2", "path_bad_encoding")]
    [InlineData("http://evil/denied", "request_target_not_origin_form")]
    [InlineData("*", "request_target_not_origin_form")]
    // A fragment is never sent by a browser; Kestrel keeps it in the path, so what follows would be resolved upstream.
    [InlineData("/h/x#/../admin;x/users", "request_target_fragment")]
    [InlineData("/h/x#\\..\\admin", "request_target_fragment")]
    [InlineData("/h/x?a=1#frag", "request_target_fragment")]
    [InlineData("/h/x%23/../admin", "path_dot_segment")]
    // Characters whose NFKC form is a separator, percent-encoded or plain.
    [InlineData("/allowed/%EF%BC%8E%EF%BC%8E/denied", "path_unicode_separator")]
    [InlineData("/allowed/a%E2%88%95denied", "path_unicode_separator")]
    [InlineData("/allowed/a%EF%BC%8Fdenied", "path_unicode_separator")]
    [InlineData("/allowed/a%EF%BC%BCdenied", "path_unicode_separator")]
    [InlineData("/allowed/a%EF%BC%85%32%46", "path_unicode_separator")]
    [InlineData("/allowed/a%EF%BC%9Bx", "path_unicode_separator")]
    [InlineData("/allowed/\uFF0E\uFF0E/denied", "path_unicode_separator")]
    [InlineData("/allowed/a\u2215denied", "path_unicode_separator")]
    [InlineData("/allowed/a\u2024b", "path_unicode_separator")]
    [InlineData("/allowed/a%E2%80%A4b", "path_unicode_separator")]
    public void Refuses_ambiguous_paths(string target, string? reason) =>
        Assert.Equal(reason, PathGuard.Check(target)?.Reason);
}
