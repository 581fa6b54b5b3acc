//! Computing the plan: read the cluster ([`observe`]), let [`decide`] choose, then dry-run the
//! server-side apply of every chosen object and keep the ones whose result differs from what is
//! there. Changes nothing.

use super::client::{FIELD_MANAGER, Kube};
use super::decide::{self, Observed, Step, Wanted};
use super::errors::{self, Op};
use super::objects::{self, Desired};
use super::{Action, ApplyFlags, Change, KubeOptions, Plan};
use crate::bundle::Bundle;
use crate::error::{Error, Result};
use kube::api::{Api, DynamicObject, Patch, PatchParams};

/// See [`super::plan`].
pub async fn plan(opts: &KubeOptions, bundle: &Bundle, flags: ApplyFlags) -> Result<Plan> {
    let k = Kube::connect(opts, Some(&bundle.context)).await?;
    let wanted = Wanted::from_bundle(bundle, flags)?;
    let observed = observe(&k, &wanted).await?;
    let decision = decide::decide(&wanted, &observed, flags)?;

    let mut plan = Plan::default();
    for ns in decision.namespaces {
        let d = Desired::namespace(&ns);
        let diff = objects::added(&d.json());
        plan.changes
            .push(Change::new(Action::Create, d, false, None, diff, false));
    }
    for step in decision.steps {
        plan.push(&k, step).await?;
    }
    plan.skipped = decision.skipped;
    plan.requests = k.requests();
    Ok(plan)
}

/// Reads what [`decide::decide`] needs: every namespace the bundle uses, and every object it
/// reads that sits in a namespace that exists (one GET each; nothing else).
async fn observe(k: &Kube, wanted: &Wanted) -> Result<Observed> {
    let mut observed = Observed::default();
    for ns in wanted.namespaces() {
        if get(k, &Desired::namespace(&ns), None).await?.is_some() {
            observed.namespaces.insert(ns);
        }
    }
    for d in wanted.reads() {
        let Some(ns) = d.ns() else { continue };
        if observed.namespaces.contains(ns)
            && let Some(live) = get(k, &d, Some(ns)).await?
        {
            observed.objects.insert(d.label(), live);
        }
    }
    Ok(observed)
}

impl Plan {
    /// Dry-runs the apply of a step (unless deferred) and records a change if it would change
    /// anything.
    async fn push(&mut self, k: &Kube, step: Step) -> Result<()> {
        let Step {
            object: d,
            live,
            force,
            note,
            deferred,
        } = step;
        match live {
            None => {
                if !deferred {
                    // Validates the create on the server (admission, schema) without doing it.
                    apply(k, &d, force, true).await?;
                }
                let diff = objects::added(&d.json());
                self.changes
                    .push(Change::new(Action::Create, d, force, note, diff, deferred));
            }
            Some(live) => {
                let after = apply(k, &d, force, true).await?;
                match decide::compare(&d, &live, &after) {
                    None => self.unchanged.push(d.label()),
                    Some(diff) => self
                        .changes
                        .push(Change::new(Action::Update, d, force, note, diff, false)),
                }
            }
        }
        Ok(())
    }
}

/// GET of `d`'s object; `None` when it does not exist.
pub async fn get(k: &Kube, d: &Desired, ns: Option<&str>) -> Result<Option<DynamicObject>> {
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(k.client.clone(), ns, &d.ar),
        None => Api::all_with(k.client.clone(), &d.ar),
    };
    let resource = d.rbac_resource();
    api.get_opt(d.name()).await.map_err(|e| {
        errors::map(
            k,
            Op {
                verb: "get",
                resource: &resource,
                namespace: ns,
            },
            e,
        )
    })
}

/// Server-side apply of `d` with field manager `irsagen`.
pub async fn apply(k: &Kube, d: &Desired, force: bool, dry_run: bool) -> Result<DynamicObject> {
    let api: Api<DynamicObject> = match d.ns() {
        Some(ns) => Api::namespaced_with(k.client.clone(), ns, &d.ar),
        None => Api::all_with(k.client.clone(), &d.ar),
    };
    let mut pp = PatchParams::apply(FIELD_MANAGER);
    if force {
        pp = pp.force();
    }
    if dry_run {
        pp = pp.dry_run();
    }
    let resource = d.rbac_resource();
    api.patch(d.name(), &pp, &Patch::Apply(&d.obj)).await.map_err(|e| {
        if errors::status_code(&e) == Some(409) {
            let message = match &e {
                kube::Error::Api(s) => s.message.clone(),
                _ => e.to_string(),
            };
            return Error::Kube(format!(
                "conflict applying {}: {message}; another field manager owns a field irsagen sets with a different value. \
                 Inspect it (kubectl get {} {} -n {} --show-managed-fields -o yaml), then rerun with --force to take the field over",
                d.label(),
                d.ar.plural,
                d.name(),
                d.ns().unwrap_or("default"),
            ));
        }
        if errors::status_code(&e) == Some(422) && d.kind() == "Pod" {
            let message = match &e {
                kube::Error::Api(s) => s.message.clone(),
                _ => e.to_string(),
            };
            return Error::Kube(format!(
                "cannot update {}: {message}; a pod's spec cannot change, delete it first (kubectl delete pod {} -n {})",
                d.label(),
                d.name(),
                d.ns().unwrap_or("default")
            ));
        }
        errors::map(k, Op { verb: "patch", resource: &resource, namespace: d.ns() }, e)
    })
}
