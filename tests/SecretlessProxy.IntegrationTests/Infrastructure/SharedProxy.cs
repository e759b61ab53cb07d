namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>One proxy with the default config for a whole test class (tests that change config start their own).</summary>
public sealed class SharedProxy : IAsyncLifetime
{
    public TestPki Pki { get; } = new();

    public ProxyUnderTest Proxy { get; private set; } = null!;

    public async Task InitializeAsync() => Proxy = await ProxyUnderTest.StartAsync(Pki);

    public async Task DisposeAsync()
    {
        await Proxy.DisposeAsync();
        Pki.Dispose();
    }
}
