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
    public void Refuses_ambiguous_paths(string target, string? reason) =>
        Assert.Equal(reason, PathGuard.Check(target)?.Reason);
}
