using System.Net;
using SecretlessProxy.Identity;
using SecretlessProxy.Policy;

namespace SecretlessProxy.Hooks;

/// <summary>What the hook is asked about: OPA's <c>input</c> document. Holds names and facts, never a credential or a query.</summary>
public readonly record struct HookInput(WorkloadIdentity Caller, string Route, string Method, string Path, string? Listener, IPAddress? Source, ContextFacts? Facts);
