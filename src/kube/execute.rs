//! Executing a plan: one server-side apply per planned change, in order.

use super::client::Kube;
use super::plan::apply;
use super::{Action, KubeOptions, Plan};
use crate::error::Result;

/// See [`super::execute`].
pub async fn execute(opts: &KubeOptions, plan: &Plan, dry_run: bool) -> Result<String> {
    let k = Kube::connect(opts, None).await?;
    let mut out = String::new();
    let (mut created, mut updated, mut unchecked) = (0, 0, 0);
    for c in &plan.changes {
        let verb = match (c.action, dry_run) {
            (Action::Create, false) => "created",
            (Action::Update, false) => "updated",
            (Action::Create, true) => "dry run: would create",
            (Action::Update, true) => "dry run: would update",
            // A cluster plan lists objects as rendered apart (`unchanged`), never here.
            (Action::NoChange, _) => continue,
        };
        if dry_run && c.deferred {
            // Its namespace or ServiceAccount does not exist yet, so the server cannot dry-run it.
            out.push_str(&format!(
                "kube: {verb} {} (not dry-run on the server: it needs an object this plan creates first)\n",
                c.object.label()
            ));
            unchecked += 1;
            continue;
        }
        apply(&k, &c.object, c.force, dry_run).await?;
        out.push_str(&format!("kube: {verb} {}\n", c.object.label()));
        match c.action {
            Action::Create => created += 1,
            Action::Update => updated += 1,
            Action::NoChange => {}
        }
    }
    let applied = k.requests();
    let what = if dry_run { "server dry run" } else { "applied" };
    out.push_str(&format!(
        "kube: {what}: {created} created, {updated} updated{}; {} API requests (plan {}, apply {applied})\n",
        if unchecked > 0 {
            format!(", {unchecked} not dry-run")
        } else {
            String::new()
        },
        plan.requests + applied,
        plan.requests,
    ));
    Ok(out)
}
