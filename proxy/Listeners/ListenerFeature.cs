namespace SecretlessProxy.Listeners;

internal sealed class ListenerFeature(string name, ListenerRole role) : IListenerFeature
{
    public string Name { get; } = name;

    public ListenerRole Role { get; } = role;
}
