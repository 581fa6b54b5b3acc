//! The cluster: server-side apply and verify of the rendered objects, through the kube crate.
//!
//! INTERFACE (called by the CLI in src/cli/commands.rs); bodies are implemented in submodules:
//! [`client`] (kubeconfig, context, request counting), [`errors`] (messages naming verb and
//! resource), [`objects`] (the rendered manifests as API objects), `plan` (dry-run server-side
//! apply and diff), `execute` (the apply) and `verify` (the guide's cluster checks).

use crate::bundle::Bundle;
use crate::error::Result;
use crate::report::Check;
use std::path::PathBuf;
use std::time::Duration;

pub mod client;
pub mod errors;
mod execute;
pub mod objects;
mod plan;
mod verify;

/// How to reach the cluster: kubeconfig the way kubectl finds it.
#[derive(Debug, Clone, Default)]
pub struct KubeOptions {
    /// `--kubeconfig` (else `KUBECONFIG`, else ~/.kube/config).
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
}

/// Flags of `apply --kube`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyFlags {
    /// Replace a different existing role-arn annotation.
    pub force: bool,
    /// Create missing namespaces.
    pub create_namespace: bool,
    /// Also apply the test pods.
    pub test_pods: bool,
}

/// What a planned change does to its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The object does not exist yet.
    Create,
    /// The object exists and the apply would change it.
    Update,
}

/// One object the apply would create or change.
#[derive(Debug, Clone)]
pub struct Change {
    /// Create or update.
    pub action: Action,
    /// The object as it is applied.
    pub object: objects::Desired,
    /// Apply with `force` (only with `--force`, to take over the role-arn annotation or the
    /// Deployment's `serviceAccountName` from another field manager).
    pub force: bool,
    /// Why it is forced, or other remarks.
    pub note: Option<String>,
    /// Unified diff (update) or the object (create), indented.
    pub diff: String,
    /// Not dry-run on the server: it depends on a namespace or ServiceAccount the same plan
    /// creates first.
    pub deferred: bool,
}

impl Change {
    fn new(
        action: Action,
        object: objects::Desired,
        force: bool,
        note: Option<String>,
        diff: String,
        deferred: bool,
    ) -> Self {
        Change {
            action,
            object,
            force,
            note,
            diff,
            deferred,
        }
    }
}

/// The cluster changes an apply would make.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Objects to create or change, in apply order (namespaces, ServiceAccounts, Deployment
    /// patches, test pods).
    pub changes: Vec<Change>,
    /// Objects already as rendered (`Kind ns/name`).
    pub unchanged: Vec<String>,
    /// Lines for objects not applied, with the reason.
    pub skipped: Vec<String>,
    /// API requests the plan sent.
    pub requests: usize,
}

impl Plan {
    /// True when nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
    /// Human-readable plan with diffs.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for c in &self.changes {
            let verb = match c.action {
                Action::Create => "create",
                Action::Update => "update",
            };
            let note = c.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
            s.push_str(&format!("kube: {verb} {}{note}\n{}", c.object.label(), c.diff));
        }
        for u in &self.unchanged {
            s.push_str(&format!("kube: unchanged {u}\n"));
        }
        for k in &self.skipped {
            s.push_str(&format!("kube: {k}\n"));
        }
        s
    }
}

/// Reads the cluster and computes the plan; changes nothing.
pub async fn plan(opts: &KubeOptions, bundle: &Bundle, flags: ApplyFlags) -> Result<Plan> {
    plan::plan(opts, bundle, flags).await
}

/// Executes a plan (server-side apply, field manager `irsagen`); `dry_run` uses the API
/// server's dry run. Returns a summary.
pub async fn execute(opts: &KubeOptions, plan: &Plan, dry_run: bool) -> Result<String> {
    execute::execute(opts, plan, dry_run).await
}

/// The guide's cluster checks; `exec_test` also runs the test pod.
pub async fn verify(opts: &KubeOptions, bundle: &Bundle, exec_test: bool) -> Result<Vec<Check>> {
    verify_with(opts, bundle, exec_test, Duration::from_secs(120)).await
}

/// [`verify`] with an explicit wait for the test pods to run.
pub async fn verify_with(
    opts: &KubeOptions,
    bundle: &Bundle,
    exec_test: bool,
    pod_timeout: Duration,
) -> Result<Vec<Check>> {
    verify::verify(opts, bundle, exec_test, pod_timeout).await
}
