//! Pod Identity checks, decided from a read state (pure): per association `pod-identity-association`
//! (it exists and gives the pods this role), per cluster `pod-identity-agent` (the addon is ACTIVE).
//!
//! The agent's status: only `ACTIVE` passes. `DEGRADED` fails: EKS says the agent's DaemonSet is
//! not healthy everywhere, so pods on some nodes get no credentials, which is what verify is
//! there to catch. `CREATE_FAILED`, `UPDATE_FAILED`, `DELETE_FAILED` and `DELETING` fail with
//! the health issues EKS reports. `CREATING` and `UPDATING` fail too (the report has no
//! warning level; a check that passes while the agent is not serving yet would mislead), with
//! the advice to wait and verify again.

use super::{AGENT_ADDON, DesiredAssociation, LiveAddon, LiveAssociation, PodIdentityState, clusters};
use crate::report::Check;

const SCOPE: &str = "aws";

/// Every check, in a stable order: the agent per cluster of `agent_clusters` (sorted), then per
/// association.
pub fn decide(desired: &[DesiredAssociation], agent_clusters: &[String], live: &PodIdentityState) -> Vec<Check> {
    let mut out = Vec::new();
    for cluster in clusters(agent_clusters) {
        out.push(agent_check(cluster, live.addons.get(cluster).and_then(Option::as_ref)));
    }
    for d in desired {
        out.push(association_check(
            d,
            live.associations.get(&d.key()).and_then(Option::as_ref),
        ));
    }
    out
}

fn agent_check(cluster: &str, addon: Option<&LiveAddon>) -> Check {
    let name = "pod-identity-agent";
    let describe = format!("`aws eks describe-addon --cluster-name {cluster} --addon-name {AGENT_ADDON}`");
    let Some(a) = addon else {
        return Check::fail(
            SCOPE,
            None,
            name,
            format!("{AGENT_ADDON} is not installed in cluster {cluster}: no pod gets Pod Identity credentials"),
            format!(
                "`irsagen apply --aws` installs it (or `aws eks create-addon --cluster-name {cluster} --addon-name {AGENT_ADDON}`)"
            ),
        );
    };
    let version = a.version.as_deref().unwrap_or("(version unknown)");
    let issues = if a.issues.is_empty() {
        String::new()
    } else {
        format!("; health issues: {}", a.issues.join("; "))
    };
    let detail = format!("{AGENT_ADDON} {version} in cluster {cluster} is {}{issues}", a.status);
    match a.status.as_str() {
        "ACTIVE" => Check::pass(SCOPE, None, name, detail),
        "CREATING" | "UPDATING" => Check::fail(
            SCOPE,
            None,
            name,
            detail,
            format!(
                "EKS is still installing or updating it: run verify again in a few minutes; {describe} shows progress"
            ),
        ),
        _ => Check::fail(
            SCOPE,
            None,
            name,
            detail,
            format!(
                "pods on nodes where the agent is not running get no credentials: see the health issues with {describe} and \
                 the agent's pods with `kubectl -n kube-system get pods -l app.kubernetes.io/name={AGENT_ADDON}`"
            ),
        ),
    }
}

fn association_check(d: &DesiredAssociation, live: Option<&LiveAssociation>) -> Check {
    let name = "pod-identity-association";
    let preset = Some(d.preset.as_str());
    let sa = format!("{}/{}", d.namespace, d.service_account);
    let Some(a) = live else {
        return Check::fail(
            SCOPE,
            preset,
            name,
            format!("no Pod Identity association for {sa} in cluster {}", d.cluster),
            format!(
                "`irsagen apply --aws` creates it (or `aws eks create-pod-identity-association --cluster-name {} --namespace {} \
                 --service-account {} --role-arn {}`)",
                d.cluster, d.namespace, d.service_account, d.role_arn
            ),
        );
    };
    let list = format!(
        "`aws eks describe-pod-identity-association --cluster-name {} --association-id {}`",
        d.cluster, a.id
    );
    if a.role_arn != d.role_arn {
        return Check::fail(
            SCOPE,
            preset,
            name,
            format!(
                "association {} for {sa} gives role {}, expected {}",
                a.id, a.role_arn, d.role_arn
            ),
            format!(
                "`irsagen apply --aws` points it at the rendered role (with --adopt when it is not irsagen's); inspect it with {list}"
            ),
        );
    }
    if let Some(target) = &a.target_role_arn {
        // With a target role, the pods end up with the target role's credentials, not this role's.
        return Check::fail(
            SCOPE,
            preset,
            name,
            format!(
                "association {} for {sa} gives role {} but chains to target role {target}: the pods get the target role's \
                 permissions",
                a.id, a.role_arn
            ),
            format!("remove the target role from the association (irsagen does not set one); inspect it with {list}"),
        );
    }
    Check::pass(
        SCOPE,
        preset,
        name,
        format!("association {} gives {sa} role {}", a.id, a.role_arn),
    )
}
