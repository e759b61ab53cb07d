namespace SecretlessProxy.Listeners;

/// <summary>Which configured listener accepted the connection (set once per connection).</summary>
public interface IListenerFeature
{
    string Name { get; }

    ListenerRole Role { get; }
}
