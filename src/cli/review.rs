//! The reviewer-facing outputs of `render`: the change summary of `--check -o markdown|json`
//! and the Kubernetes-only stream of `--kubernetes-only` (Argo CD plugin). Kept apart from
//! commands.rs so the render glue stays small.

use super::args::CheckFormat;
use irsagen::bundle::Bundle;
use irsagen::change_summary::{self, Documents, Side};
use irsagen::{Result, emit};
use std::path::Path;

/// `render --out-dir DIR --check -o markdown|json`: prints the summary (diffs included) on
/// stdout; exit status as plain `--check` (0 up to date, 1 stale via [`irsagen::Error::Stale`]).
pub fn check_summary(
    bundle: &Bundle,
    dir: &Path,
    command: &str,
    format: CheckFormat,
    wait: emit::LockWait<'_>,
) -> Result<i32> {
    let found = emit::inspect(bundle, dir, wait)?;
    let mut docs = Documents::from_bundle(bundle);
    docs.old = found
        .old
        .iter()
        .map(|(p, f)| {
            let side = match f {
                emit::OldFile::Text(t) => Side::Text(t.clone()),
                emit::OldFile::Unreadable(n) => Side::Unreadable(n.clone()),
            };
            (p.clone(), side)
        })
        .collect();
    let dir_text = dir.display().to_string();
    let up_to_date = found.comparison.differences() == 0;
    let mut summary = change_summary::summarize(&bundle.context.cluster, &dir_text, &docs, up_to_date);
    summary.diff = found.diff.clone();
    let clusters = [summary];
    match format {
        CheckFormat::Json => print!("{}", change_summary::to_json(&clusters)),
        _ => print!("{}", change_summary::to_markdown(&clusters)),
    }
    // The diffs are in the summary: the error carries none, so they are not printed twice.
    emit::stale(&found, dir, command, String::new()).map(|()| 0)
}

/// `render --kubernetes-only`: the objects a GitOps controller may apply as they are, as one
/// multi-document YAML stream. Only ServiceAccounts: a test pod would run for ever under a
/// controller, the controller patch is a partial Deployment (applying or pruning it as a
/// whole object would break the real one), and Helm values, policies and the script are not
/// Kubernetes objects.
pub fn kubernetes_stream(bundle: &Bundle) -> String {
    // With `--format ack`, the ACK resources too: they are what creates the roles then.
    use irsagen::bundle::ArtifactKind;
    let docs: Vec<&str> = bundle
        .artifacts
        .iter()
        .filter(|a| matches!(a.kind, ArtifactKind::ServiceAccount | ArtifactKind::AckResource))
        .map(|a| a.content.as_str())
        .collect();
    let mut out = String::new();
    for d in docs {
        out.push_str("---\n");
        out.push_str(d);
    }
    out
}
