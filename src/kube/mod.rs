//! The cluster: server-side apply and verify of the rendered objects, through the kube crate.
//!
//! INTERFACE (called by the CLI in src/cli/commands.rs); bodies are implemented in submodules:
//! [`client`] (kubeconfig, context, timeouts, request counting), [`errors`] (messages naming
//! verb, resource and server), [`objects`] (the rendered manifests as API objects), [`decide`]
//! (the plan's decisions as pure functions), `plan` (reads, then dry-run server-side apply and
//! diff), `execute` (the apply), `verify` (the guide's cluster checks) and [`subset`] (telling
//! another preset's ServiceAccount from a left-over in a subset verify).

use crate::bundle::Bundle;
use crate::change::PlanText;
use crate::error::Result;
use crate::report::Check;
use std::path::PathBuf;
use std::time::Duration;

pub mod client;
pub mod credentials;
pub mod decide;
pub mod errors;
mod execute;
pub mod objects;
mod plan;
pub mod subset;
mod verify;

/// Default of `--timeout`: connect and read timeout of every Kubernetes API call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach the cluster: kubeconfig the way kubectl finds it.
#[derive(Debug, Clone)]
pub struct KubeOptions {
    /// `--kubeconfig` (else `KUBECONFIG`, else ~/.kube/config).
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `--timeout`: bounds connecting, sending and each wait for an answer of every API call
    /// (and the whole exec of the test), so a server that never answers is an error, not a hang.
    pub timeout: Duration,
}

impl Default for KubeOptions {
    fn default() -> Self {
        KubeOptions {
            kubeconfig: None,
            context: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
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

/// What a planned change does to its object: the plans' shared [`crate::change::Change`]
/// (a cluster plan lists only creates and updates; objects as rendered are `unchanged`).
pub use crate::change::Change as Action;

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
    /// Human-readable plan with diffs. Markers as in Terraform: `+` create, `~` update; objects
    /// left as they are and skipped ones get plain lines (a skip removes nothing, so no `-`).
    pub fn to_text(&self) -> String {
        let mut t = PlanText::new();
        for c in &self.changes {
            let note = c.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
            t.entry(
                c.action,
                &format!(
                    "kube: {} {} {}{note}",
                    c.action.marker(),
                    c.action.word(),
                    c.object.label()
                ),
            );
            // The diff comes indented, with its newlines.
            t.raw(&c.diff);
        }
        for u in &self.unchanged {
            t.line(&format!("kube:   unchanged {u}"));
        }
        for k in &self.skipped {
            t.line(&format!("kube: note: {k}"));
        }
        t.finish(
            "kube: plan",
            self.unchanged.len(),
            &format!(", {} skipped", self.skipped.len()),
        )
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

/// Flags of `verify --kube`.
#[derive(Debug, Clone)]
pub struct VerifyFlags {
    /// `--exec-test`: also run the test pods.
    pub exec_test: bool,
    /// `--exec-timeout`: how long to wait for each test pod to run.
    pub pod_timeout: Duration,
    /// The presets that are not selected, with the config's overrides ([`subset::others`]):
    /// ServiceAccounts bound to their roles are not "unexpected" in a subset verify.
    pub others: subset::Others,
}

impl Default for VerifyFlags {
    fn default() -> Self {
        VerifyFlags {
            exec_test: false,
            pod_timeout: Duration::from_secs(120),
            others: Default::default(),
        }
    }
}

/// Per preset: whether its ServiceAccount carries the role-arn annotation, and the pods running
/// as it with their credential variables (the migration stage's cluster half).
pub async fn observe(
    opts: &KubeOptions,
    bundle: &Bundle,
) -> Result<std::collections::BTreeMap<String, (bool, Vec<credentials::SaPod>)>> {
    verify::observe(opts, bundle).await
}

pub use verify::{ExecCaller, exec_caller, exec_env_check};

/// The guide's cluster checks; `exec_test` also runs the test pod.
pub async fn verify(opts: &KubeOptions, bundle: &Bundle, exec_test: bool) -> Result<Vec<Check>> {
    let flags = VerifyFlags {
        exec_test,
        ..Default::default()
    };
    verify_with(opts, bundle, &flags).await
}

/// [`verify`] with every flag: the wait for the test pods, the presets not selected.
/// API failures (unreachable, timed out, denied) are errors (exit 3), never failed checks.
pub async fn verify_with(opts: &KubeOptions, bundle: &Bundle, flags: &VerifyFlags) -> Result<Vec<Check>> {
    verify::verify(opts, bundle, flags).await
}
