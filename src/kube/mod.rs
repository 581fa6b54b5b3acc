//! The cluster: server-side apply and verify of the rendered objects, through the kube crate.
//!
//! INTERFACE (called by the CLI in src/cli/commands.rs); bodies are implemented in submodules.

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::report::Check;
use std::path::PathBuf;

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

/// The cluster changes an apply would make.
#[derive(Debug, Clone, Default)]
pub struct Plan {}

impl Plan {
    /// True when nothing needs to change.
    pub fn is_empty(&self) -> bool {
        true
    }
    /// Human-readable plan with diffs.
    pub fn to_text(&self) -> String {
        String::new()
    }
}

/// Reads the cluster and computes the plan; changes nothing.
pub async fn plan(_opts: &KubeOptions, _bundle: &Bundle, _flags: ApplyFlags) -> Result<Plan> {
    Err(Error::Kube("not implemented".into()))
}

/// Executes a plan (server-side apply, field manager `irsagen`); `dry_run` uses the API
/// server's dry run. Returns a summary.
pub async fn execute(_opts: &KubeOptions, _plan: &Plan, _dry_run: bool) -> Result<String> {
    Err(Error::Kube("not implemented".into()))
}

/// The guide's cluster checks; `exec_test` also runs the test pod.
pub async fn verify(_opts: &KubeOptions, _bundle: &Bundle, _exec_test: bool) -> Result<Vec<Check>> {
    Err(Error::Kube("not implemented".into()))
}
