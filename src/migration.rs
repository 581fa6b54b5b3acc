//! The staged migration from IRSA to EKS Pod Identity, per preset: the stages `plan-migration`
//! prints, and which stage a cluster is at, decided from live state (is there an association,
//! is the ServiceAccount annotated, which variables do its pods carry). Pure, tested offline.
//!
//! 1. mode `both` → `apply` (association next to the annotation) → restart the pods: they get
//!    both sets of variables and still use IRSA (the SDK takes web identity first).
//! 2. verify: every pod carries `AWS_CONTAINER_CREDENTIALS_FULL_URI`, so it will move to Pod
//!    Identity as soon as the annotation is gone.
//! 3. mode `pod-identity` → `apply` (the trust loses its IRSA statement) → remove the annotations
//!    → restart the pods: they get Pod Identity alone.

use crate::kube::credentials::SaPod;

/// Where one preset's migration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Not started: no association yet (IRSA only).
    NotStarted,
    /// Stage 1 under way: association and annotation exist, some pods lack the Pod Identity
    /// variable (restart them).
    Stage1,
    /// Stage 1 done, stage 2 verified: every pod carries the Pod Identity variable; go on with stage 3.
    ReadyForStage3,
    /// Stage 3 under way: the annotation is gone, some pods still carry IRSA's variables or
    /// none (restart them).
    Stage3,
    /// Done: association, no annotation, every pod on Pod Identity alone.
    Done,
    /// Not enough was read to tell (verify without `--aws` cannot see the association and
    /// infers it only from the pods).
    Unknown,
}

impl Stage {
    /// One line for the verify report.
    pub fn describe(self) -> &'static str {
        match self {
            Stage::NotStarted => "not started (IRSA only): stage 1 is next (--mode both, apply, restart the pods)",
            Stage::Stage1 => {
                "at stage 1: association and annotation in place; restart the pods that lack the Pod Identity variable"
            }
            Stage::ReadyForStage3 => {
                "at stage 2, verified: every pod carries the Pod Identity variable; stage 3 is next (--mode pod-identity, apply, remove the annotation, restart)"
            }
            Stage::Stage3 => {
                "at stage 3: the annotation is gone; restart the pods still on IRSA or without credentials"
            }
            Stage::Done => "done: every pod uses Pod Identity alone",
            Stage::Unknown => "unknown: run verify with both --aws and --kube",
        }
    }
}

/// What verify read for one preset.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The association exists and gives the role; `None` when EKS was not read.
    pub association: Option<bool>,
    /// The ServiceAccount carries the role-arn annotation; `None` when the cluster was not read.
    pub annotation: Option<bool>,
    /// The pods running as the ServiceAccount; `None` when the cluster was not read.
    pub pods: Option<Vec<SaPod>>,
}

/// The stage of one preset from what was read.
pub fn stage(o: &Observed) -> Stage {
    let (Some(annotation), Some(pods)) = (o.annotation, o.pods.as_ref()) else {
        return Stage::Unknown;
    };
    // Without EKS, a pod carrying the Pod Identity variable shows the association existed at its admission.
    let association = o
        .association
        .unwrap_or_else(|| pods.iter().any(|p| p.creds.pod_identity));
    if !association {
        return if annotation || o.association.is_some() {
            Stage::NotStarted
        } else {
            Stage::Unknown
        };
    }
    if annotation {
        return if pods.iter().all(|p| p.creds.pod_identity) {
            Stage::ReadyForStage3
        } else {
            Stage::Stage1
        };
    }
    if pods.iter().all(|p| p.creds.pod_identity && !p.creds.irsa) {
        Stage::Done
    } else {
        Stage::Stage3
    }
}

/// The stages `plan-migration` prints for the selected presets, with the commands. `args`: the
/// input flags to repeat (cluster, account, presets…), already quoted.
pub fn plan_text(presets: &[(String, String)], args: &str) -> String {
    let sas: Vec<String> = presets.iter().map(|(p, sa)| format!("{p} ({sa})")).collect();
    let list = sas.join(", ");
    let mut s = format!("Migration from IRSA to EKS Pod Identity for: {list}\n\n");
    s.push_str(&format!(
        "Stage 1: run both mechanisms side by side.\n  \
         irsagen apply --aws {args} --mode both      # trust for both, the associations, the eks-pod-identity-agent addon\n  \
         irsagen apply --kube {args} --mode both     # the annotation stays\n  \
         then restart the pods of each ServiceAccount (kubectl rollout restart): they get both sets of variables and \
         still use IRSA, because the SDK takes web identity first\n\n"
    ));
    s.push_str(&format!(
        "Stage 2: check every pod carries AWS_CONTAINER_CREDENTIALS_FULL_URI.\n  \
         irsagen verify {args} --mode both           # says \"at stage 2, verified\" when every pod is ready\n\n"
    ));
    s.push_str(&format!(
        "Stage 3: Pod Identity alone.\n  \
         irsagen apply --aws {args} --mode pod-identity   # the trust loses its IRSA statement\n  \
         irsagen apply --kube {args} --mode pod-identity  # removes the annotation irsagen set (others: kubectl annotate sa NAME -n NS eks.amazonaws.com/role-arn-)\n  \
         then restart the pods again, and irsagen verify {args} --mode pod-identity says \"done\"\n"
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::credentials::PodCredentials;

    fn pod(irsa: bool, pod_identity: bool) -> SaPod {
        SaPod {
            name: "p".into(),
            creds: PodCredentials { irsa, pod_identity },
        }
    }

    fn obs(association: Option<bool>, annotation: bool, pods: Vec<SaPod>) -> Observed {
        Observed {
            association,
            annotation: Some(annotation),
            pods: Some(pods),
        }
    }

    #[test]
    fn stages_from_live_state() {
        assert_eq!(
            stage(&obs(Some(false), true, vec![pod(true, false)])),
            Stage::NotStarted
        );
        assert_eq!(
            stage(&obs(Some(true), true, vec![pod(true, true), pod(true, false)])),
            Stage::Stage1
        );
        assert_eq!(
            stage(&obs(Some(true), true, vec![pod(true, true)])),
            Stage::ReadyForStage3
        );
        assert_eq!(stage(&obs(Some(true), false, vec![pod(true, true)])), Stage::Stage3);
        assert_eq!(stage(&obs(Some(true), false, vec![pod(false, false)])), Stage::Stage3);
        assert_eq!(stage(&obs(Some(true), false, vec![pod(false, true)])), Stage::Done);
        // No pods: nothing left to restart.
        assert_eq!(stage(&obs(Some(true), false, vec![])), Stage::Done);
        assert_eq!(stage(&obs(Some(true), true, vec![])), Stage::ReadyForStage3);
    }

    #[test]
    fn without_eks_the_association_is_inferred_from_the_pods() {
        assert_eq!(stage(&obs(None, true, vec![pod(true, true)])), Stage::ReadyForStage3);
        assert_eq!(stage(&obs(None, true, vec![pod(true, false)])), Stage::NotStarted);
        assert_eq!(stage(&obs(None, false, vec![pod(false, true)])), Stage::Done);
        // Neither annotation nor a Pod Identity pod: nothing tells.
        assert_eq!(stage(&obs(None, false, vec![])), Stage::Unknown);
        // Without the cluster: unknown.
        let aws_only = Observed {
            association: Some(true),
            ..Default::default()
        };
        assert_eq!(stage(&aws_only), Stage::Unknown);
    }

    #[test]
    fn plan_names_every_preset_and_the_three_stages_in_order() {
        let t = plan_text(
            &[
                ("cluster-autoscaler".into(), "kube-system/cluster-autoscaler".into()),
                ("efs-csi-driver".into(), "kube-system/efs-csi-controller-sa".into()),
            ],
            "--cluster c",
        );
        assert!(
            t.contains("cluster-autoscaler (kube-system/cluster-autoscaler), efs-csi-driver"),
            "{t}"
        );
        let (a, b, c) = (
            t.find("Stage 1").unwrap(),
            t.find("Stage 2").unwrap(),
            t.find("Stage 3").unwrap(),
        );
        assert!(a < b && b < c);
        assert!(t.contains("--mode both") && t.contains("--mode pod-identity"));
        assert!(t.contains("eks.amazonaws.com/role-arn-"));
    }
}
