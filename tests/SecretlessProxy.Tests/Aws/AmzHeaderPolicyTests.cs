using SecretlessProxy.Abstractions;
using SecretlessProxy.Plugins.Aws;

namespace SecretlessProxy.Tests.Aws;

/// <summary>Which client x-amz-* headers a SigV4 route signs: one row per header class the review found.</summary>
public sealed class AmzHeaderPolicyTests
{
    private sealed class Request(params (string Name, string Value)[] headers) : IForwardedRequest
    {
        public string Method => "PUT";

        public string UpstreamPath => "/shared/tenant-a/x.csv";

        public IEnumerable<KeyValuePair<string, string>> Headers => headers.Select(h => KeyValuePair.Create(h.Name, h.Value));
    }

    [Theory]
    [InlineData("x-amz-copy-source", "/shared/tenant-b/payroll.csv")]
    [InlineData("X-Amz-Copy-Source", "shared/tenant-b/payroll.csv")]
    [InlineData("x-amz-acl", "public-read")]
    [InlineData("x-amz-grant-read", "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")]
    [InlineData("x-amz-grant-full-control", "id=123")]
    [InlineData("x-amz-bypass-governance-retention", "true")]
    [InlineData("x-amz-object-lock-mode", "GOVERNANCE")]
    [InlineData("x-amz-website-redirect-location", "https://evil.example/")]
    [InlineData("x-amz-server-side-encryption-customer-key", "a2V5")]
    [InlineData("x-amz-server-side-encryption-aws-kms-key-id", "arn:aws:kms:us-east-1:1:key/x")]
    [InlineData("x-amz-something-new", "1")]
    public void S3_refuses_headers_that_reach_other_resources_or_change_access(string name, string value)
    {
        var inspection = new AmzHeaderPolicy(isS3: true, []).Inspect(new Request((name, value)));
        Assert.Equal("aws_header_not_allowed", inspection.Refusal);
        Assert.Contains(name.ToLowerInvariant(), inspection.Detail, StringComparison.Ordinal);
        Assert.Contains("inject.allowHeaders", inspection.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("x-amz-meta-owner", "team-a")]
    [InlineData("x-amz-storage-class", "STANDARD_IA")]
    [InlineData("x-amz-checksum-crc32", "AAAAAA==")]
    [InlineData("x-amz-tagging", "a=b")]
    [InlineData("x-amz-server-side-encryption", "AES256")]
    [InlineData("Content-Type", "text/csv")]
    public void S3_signs_harmless_headers(string name, string value) =>
        Assert.Null(new AmzHeaderPolicy(isS3: true, []).Inspect(new Request((name, value))).Refusal);

    [Fact]
    public void Other_services_keep_their_operation_header_but_not_s3_ones()
    {
        var policy = new AmzHeaderPolicy(isS3: false, []);
        Assert.Null(policy.Inspect(new Request(("X-Amz-Target", "DynamoDB_20120810.GetItem"))).Refusal);
        Assert.Equal("aws_header_not_allowed", policy.Inspect(new Request(("x-amz-meta-x", "1"))).Refusal);
    }

    [Fact]
    public void An_allowed_copy_source_is_handed_back_as_a_read_and_brings_its_conditions()
    {
        var policy = new AmzHeaderPolicy(isS3: true, ["x-amz-copy-source"]);
        var inspection = policy.Inspect(new Request(("x-amz-copy-source", "shared/tenant-b/pay%20roll.csv?versionId=3"), ("x-amz-copy-source-if-match", "\"e\""), ("x-amz-metadata-directive", "COPY")));
        Assert.Null(inspection.Refusal);
        Assert.Equal(["/shared/tenant-b/pay%20roll.csv"], inspection.ReadsUpstreamPaths!);
    }

    [Theory]
    [InlineData("arn:aws:s3:us-east-1:1:accesspoint/ap/object/k")]
    [InlineData("/bucket-only")]
    [InlineData("")]
    public void A_copy_source_that_is_not_a_bucket_and_key_is_refused(string value) =>
        Assert.Equal("aws_copy_source_invalid", new AmzHeaderPolicy(isS3: true, ["x-amz-copy-source"]).Inspect(new Request(("x-amz-copy-source", value))).Refusal);

    [Fact]
    public void A_route_may_allow_a_header_family_by_prefix()
    {
        var policy = new AmzHeaderPolicy(isS3: true, ["x-amz-grant-*", "x-amz-acl"]);
        Assert.Null(policy.Inspect(new Request(("x-amz-grant-read", "id=1"), ("x-amz-acl", "private"))).Refusal);
        Assert.Equal("aws_header_not_allowed", policy.Inspect(new Request(("x-amz-copy-source", "/b/k"))).Refusal);
    }

    [Theory]
    [InlineData("x-amz-acl", null)]
    [InlineData("x-amz-grant-*", null)]
    [InlineData("content-type", "is not an x-amz-* header name")]
    [InlineData("x-amz-date", "is a header the signature itself sets")]
    [InlineData("x-amz-a b", "holds a character")]
    public void Allow_header_entries_are_checked(string name, string? problem)
    {
        var found = AmzHeaderPolicy.Problem(name);
        if (problem is null)
        {
            Assert.Null(found);
        }
        else
        {
            Assert.StartsWith(problem, found, StringComparison.Ordinal);
        }
    }
}
