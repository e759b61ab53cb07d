using SecretlessProxy.Identity;
using SecretlessProxy.Identity.Unix;

namespace SecretlessProxy.Tests.Identity;

public sealed class LocalIdentityTests
{
    private static string Self => new FileInfo("/proc/self/exe").LinkTarget!;

    [Fact]
    public void This_process_is_read_with_its_executable_hash_and_groups()
    {
        var (process, refusal) = PeerReader.ReadProcess(Environment.ProcessId, 1234, 5678, PeerReader.AcceptedAt(), new PeerReadOptions(true, true));
        Assert.Null(refusal);
        Assert.NotNull(process);
        Assert.Equal(Self, process.ExecutablePath);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Self))), process.Sha256);
        Assert.Equal(1234u, process.Uid);
        Assert.True(process.StartTime > 0);
        Assert.Equal("1234", process.Facts()["uid"]);
    }

    [Fact]
    public void A_process_that_started_after_the_connection_was_accepted_is_not_the_caller()
    {
        // Accepted at tick 0 (boot): this process started later, so the PID names a process that cannot have connected.
        var (process, refusal) = PeerReader.ReadProcess(Environment.ProcessId, 0, 0, acceptedAt: 0, new PeerReadOptions(true, false));
        Assert.Null(process);
        Assert.Equal("peer_process_changed", refusal!.Reason);
        Assert.Contains("started after the connection was accepted", refusal.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pid_that_no_longer_exists_is_refused()
    {
        var (process, refusal) = PeerReader.ReadProcess(int.MaxValue, 0, 0, PeerReader.AcceptedAt(), default);
        Assert.Null(process);
        Assert.Equal("peer_process_changed", refusal!.Reason);
    }

    [Theory]
    [InlineData("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0b5c2d1e_8f3a_4c6b_9d2e_1a2b3c4d5e6f.slice/cri-containerd-5f2c8e6a1b3d4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a.scope",
        "0b5c2d1e-8f3a-4c6b-9d2e-1a2b3c4d5e6f", "5f2c8e6a1b3d4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a")]
    [InlineData("/kubepods/besteffort/pod0b5c2d1e-8f3a-4c6b-9d2e-1a2b3c4d5e6f/5f2c8e6a1b3d4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a",
        "0b5c2d1e-8f3a-4c6b-9d2e-1a2b3c4d5e6f", "5f2c8e6a1b3d4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a")]
    [InlineData("/system.slice/docker-5f2c8e6a1b3d4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a.scope", null, "5f2c8e6a1b3d4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a")]
    [InlineData("/user.slice/user-1000.slice/session-2.scope", null, null)]
    public void Cgroup_paths_yield_the_pod_uid_and_container_id_where_they_carry_one(string cgroup, string? podUid, string? containerId)
    {
        var facts = new PeerProcess { Pid = 1, Uid = 0, Gid = 0, Cgroup = cgroup }.Facts();
        Assert.Equal(cgroup, facts["cgroup"]);
        Assert.Equal(podUid, facts.GetValueOrDefault("podUid"));
        Assert.Equal(containerId, facts.GetValueOrDefault("containerId"));
    }

    [Fact]
    public void Every_given_selector_must_match()
    {
        var caller = new PeerProcess { Pid = 7, Uid = 1001, Gid = 100, SupplementaryGids = [27, 2000], ExecutablePath = "/usr/local/bin/worker", Sha256 = new string('a', 64), Cgroup = "/kubepods.slice/x" };
        Assert.True(new UnixSelectors { Uid = 1001, Path = "/usr/local/bin/worker", Sha256 = new string('a', 64) }.Matches(caller));
        Assert.True(new UnixSelectors { SupplementaryGids = [27, 100], CgroupPrefix = "/kubepods.slice/" }.Matches(caller));
        Assert.False(new UnixSelectors { Uid = 1001, Path = "/usr/local/bin/other" }.Matches(caller));
        Assert.False(new UnixSelectors { Uid = 1001, Sha256 = new string('b', 64) }.Matches(caller));
        Assert.False(new UnixSelectors { SupplementaryGids = [27, 3000] }.Matches(caller));
        Assert.False(new UnixSelectors { Gid = 27 }.Matches(caller));
        Assert.False(new UnixSelectors { CgroupPrefix = "/system.slice/" }.Matches(caller));
        Assert.False(new UnixSelectors { Path = "/usr/local/bin/worker" }.Matches(new PeerProcess { Pid = 7, Uid = 1001, Gid = 100 }));
    }

    [Theory]
    [InlineData(1001u, null, 1002u, null, true)]
    [InlineData(1001u, null, 1001u, null, false)]
    [InlineData(1001u, "/a", null, "/b", true)]
    [InlineData(1001u, null, null, "/b", false)]
    [InlineData(null, "/a", null, "/a", false)]
    public void Selectors_exclude_each_other_only_when_some_selector_both_give_differs(uint? uidA, string? pathA, uint? uidB, string? pathB, bool exclusive)
    {
        var a = new UnixSelectors { Uid = uidA, Path = pathA };
        var b = new UnixSelectors { Uid = uidB, Path = pathB };
        Assert.Equal(exclusive, a.ExcludesEachOther(b));
        Assert.Equal(exclusive, b.ExcludesEachOther(a));
    }

    [Fact]
    public void Cgroup_prefixes_overlap_when_one_starts_the_other()
    {
        Assert.False(new UnixSelectors { CgroupPrefix = "/kubepods.slice/" }.ExcludesEachOther(new UnixSelectors { CgroupPrefix = "/kubepods.slice/burstable/" }));
        Assert.True(new UnixSelectors { CgroupPrefix = "/kubepods.slice/" }.ExcludesEachOther(new UnixSelectors { CgroupPrefix = "/system.slice/" }));
    }

    [Fact]
    public void A_caller_matching_no_identity_is_named_by_uid_and_executable_only()
    {
        var map = new LocalIdentityMap([new LocalIdentity("worker", SpiffeId.Parse("spiffe://example.org/worker"), new UnixSelectors { Uid = 1001 })]);
        var stranger = new UnixPeerConnection(new PeerProcess { Pid = 99, Uid = 1002, Gid = 1002, ExecutablePath = "/usr/bin/curl", Sha256 = new string('c', 64) }, null);
        var attestation = stranger.Current(new AttestationScope(new object(), DateTimeOffset.UtcNow, null, map, null), out var lapsed);
        Assert.False(lapsed);
        Assert.Equal("unknown_local_caller", attestation.Reason);
        Assert.Equal("no identity's unix selectors match this caller (uid 1002, executable /usr/bin/curl)", attestation.Detail);

        var worker = new UnixPeerConnection(new PeerProcess { Pid = 98, Uid = 1001, Gid = 1001 }, null);
        var config = new object();
        var verified = worker.Current(new AttestationScope(config, DateTimeOffset.UtcNow, null, map, null), out _);
        Assert.Equal("spiffe://example.org/worker", verified.Identity!.SpiffeId.Value);
        Assert.Equal(AttestationKind.UnixPeer, verified.Identity.Kind);
        // A reload that removes the identity takes it from connections already open.
        var after = worker.Current(new AttestationScope(new object(), DateTimeOffset.UtcNow, null, LocalIdentityMap.Empty, null), out lapsed);
        Assert.True(lapsed);
        Assert.Null(after.Identity);
    }
}
