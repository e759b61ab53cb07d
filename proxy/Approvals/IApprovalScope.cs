using SecretlessProxy.Grants;
using SecretlessProxy.Policy;

namespace SecretlessProxy.Approvals;

/// <summary>What grant requests are checked against: the config in force (its rules, grants and approval settings).</summary>
public interface IApprovalScope : IGrantScope
{
    PolicyModel Policy { get; }

    ApprovalSettings Approvals { get; }
}
