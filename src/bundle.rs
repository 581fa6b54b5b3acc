//! The bundle: every artifact of one render, in memory, with the model it came from.

use crate::component::Component;
use crate::context::Context;
use crate::overrides::SaCreator;
use serde::Serialize;

/// What an artifact is; decides how it is validated and described.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    /// IAM managed policy document.
    Policy,
    /// IAM role trust policy.
    TrustPolicy,
    /// eksctl ClusterConfig.
    EksctlConfig,
    /// Helm values file.
    HelmValues,
    /// ServiceAccount manifest.
    ServiceAccount,
    /// Test pod manifest.
    TestPod,
    /// Controller Deployment patch.
    ControllerPatch,
    /// bash setup script.
    SetupScript,
    /// README of the output.
    Readme,
    /// An AWS Controllers for Kubernetes resource (`--format ack`, [`crate::ack`]).
    AckResource,
}

impl ArtifactKind {
    /// One line for the output README and `presets show`.
    pub fn about(self) -> &'static str {
        match self {
            ArtifactKind::Policy => "IAM policy document (the guide's \"Create IAM Policy\")",
            ArtifactKind::TrustPolicy => {
                "IAM role trust policy: this cluster's OIDC provider, exact ServiceAccount subject and sts.amazonaws.com audience"
            }
            ArtifactKind::EksctlConfig => {
                "eksctl ClusterConfig: withOIDC, iamserviceaccounts with fixed role names, addons"
            }
            ArtifactKind::HelmValues => "Helm values with the real role ARN (the guide's \"Update Helm Values\")",
            ArtifactKind::ServiceAccount => "ServiceAccount with the eks.amazonaws.com/role-arn annotation",
            ArtifactKind::TestPod => "test pod running as the ServiceAccount (the guide's test-pod.yaml)",
            ArtifactKind::ControllerPatch => {
                "Deployment patch pointing the controller at the ServiceAccount (the guide's kubectl patch)"
            }
            ArtifactKind::SetupScript => {
                "bash script doing the whole setup with aws, eksctl and kubectl (the guide's setup-irsa.sh, for every preset)"
            }
            ArtifactKind::Readme => "this file",
            ArtifactKind::AckResource => {
                "AWS Controllers for Kubernetes resource (IAM Role or Policy, EKS PodIdentityAssociation)"
            }
        }
    }
}

/// One rendered file.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    /// Path relative to the output directory, `/`-separated.
    pub path: String,
    /// What it is.
    pub kind: ArtifactKind,
    /// The preset it belongs to, if any.
    pub preset: Option<String>,
    /// File contents (LF, one final newline).
    pub content: String,
}

/// Everything one render produced, sorted by path.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The cluster variables.
    pub context: Context,
    /// The resolved components, sorted by preset name.
    pub components: Vec<Component>,
    /// The files, sorted by path.
    pub artifacts: Vec<Artifact>,
    /// The presets and their overrides as given, sorted by name: the output folder's manifest
    /// records them so `apply --from` can render the folder again and compare.
    pub selection: crate::render::Selection,
    /// The output format the artifacts are in.
    pub format: crate::ack::Format,
}

impl Bundle {
    /// The artifact at `path`.
    pub fn get(&self, path: &str) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.path == path)
    }

    /// Artifacts of one kind.
    pub fn of_kind(&self, kind: ArtifactKind) -> impl Iterator<Item = &Artifact> {
        self.artifacts.iter().filter(move |a| a.kind == kind)
    }

    /// The whole bundle as one text: each file under a `==== path ====` header.
    pub fn to_stream(&self) -> String {
        let mut s = String::new();
        for a in &self.artifacts {
            s.push_str(&format!("==== {} ====\n", a.path));
            s.push_str(&a.content);
        }
        s
    }
}

/// What decides which files a component renders, for a resolved component
/// ([`ComponentFiles::of`]) and for a preset before any cluster is known (`presets show`).
#[derive(Debug, Clone)]
pub struct ComponentFiles<'a> {
    /// Preset name.
    pub preset: &'a str,
    /// Whether a customer managed policy document is rendered: not when the role gets AWS
    /// managed policies (`policy: aws-managed`), which irsagen never creates.
    pub policy: bool,
    /// The preset's names of its further customer managed policies (`policy.additional`), each
    /// rendered to its own file after the main one (with `policy`).
    pub additional: Vec<&'a str>,
    /// Whether a trust policy is rendered (the cluster's OIDC issuer is known).
    pub trust_policy: bool,
    /// Who creates the ServiceAccount.
    pub service_account_created_by: SaCreator,
    /// Deployment whose `serviceAccountName` is patched.
    pub controller_patch: Option<&'a str>,
    /// Chart whose values are rendered.
    pub chart: Option<&'a str>,
}

impl<'a> ComponentFiles<'a> {
    /// The facts of a resolved component.
    pub fn of(c: &'a Component) -> Self {
        ComponentFiles {
            preset: &c.preset,
            policy: c.aws_managed.is_none(),
            additional: c
                .additional_policies
                .iter()
                .map(|a| layout::additional_policy_key(&a.file))
                .collect(),
            trust_policy: c.trust_policy.is_some(),
            service_account_created_by: c.service_account_created_by,
            controller_patch: c.controller_patch.as_deref(),
            chart: c.helm.as_ref().map(|h| h.chart.as_str()),
        }
    }

    /// Every file of the component, with its kind, in render order. The one place that decides
    /// it: `render` renders exactly these and `presets show` lists them.
    pub fn artifacts(&self) -> Vec<(String, ArtifactKind)> {
        let p = self.preset;
        let mut out = Vec::new();
        if self.policy {
            out.push((layout::policy(p), ArtifactKind::Policy));
            for name in &self.additional {
                out.push((layout::additional_policy(p, name), ArtifactKind::Policy));
            }
        }
        if self.trust_policy {
            out.push((layout::trust_policy(p), ArtifactKind::TrustPolicy));
        }
        if self.service_account_created_by.renders_manifest() {
            out.push((layout::service_account(p), ArtifactKind::ServiceAccount));
        }
        out.push((layout::test_pod(p), ArtifactKind::TestPod));
        if let Some(d) = self.controller_patch {
            out.push((layout::controller_patch(p, d), ArtifactKind::ControllerPatch));
        }
        if let Some(chart) = self.chart {
            out.push((layout::helm_values(chart), ArtifactKind::HelmValues));
        }
        out
    }
}

/// Where each artifact goes in the output directory: one place that fixes the layout.
pub mod layout {
    /// `iam/<preset>/policy.json`
    pub fn policy(preset: &str) -> String {
        format!("iam/{preset}/policy.json")
    }
    /// `iam/<preset>/policy-<name>.json`: a further customer managed policy (`policy.additional`),
    /// `name` being the preset's name for it (without the cluster suffix).
    pub fn additional_policy(preset: &str, name: &str) -> String {
        format!("iam/{preset}/policy-{name}.json")
    }
    /// The `name` of an [`additional_policy`] path.
    pub fn additional_policy_key(path: &str) -> &str {
        let file = path.rsplit('/').next().unwrap_or(path);
        file.strip_prefix("policy-")
            .and_then(|f| f.strip_suffix(".json"))
            .unwrap_or(file)
    }
    /// `iam/<preset>/trust-policy.json`
    pub fn trust_policy(preset: &str) -> String {
        format!("iam/{preset}/trust-policy.json")
    }
    /// `eksctl/cluster-config.yaml`
    pub const EKSCTL_CONFIG: &str = "eksctl/cluster-config.yaml";
    /// `helm/<chart>-values.yaml`
    pub fn helm_values(chart: &str) -> String {
        format!("helm/{chart}-values.yaml")
    }
    /// `kubernetes/<preset>/serviceaccount.yaml`
    pub fn service_account(preset: &str) -> String {
        format!("kubernetes/{preset}/serviceaccount.yaml")
    }
    /// `kubernetes/<preset>/test-pod.yaml`
    pub fn test_pod(preset: &str) -> String {
        format!("kubernetes/{preset}/test-pod.yaml")
    }
    /// `kubernetes/<preset>/<deployment>-patch.yaml`
    pub fn controller_patch(preset: &str, deployment: &str) -> String {
        format!("kubernetes/{preset}/{deployment}-patch.yaml")
    }
    /// `setup-irsa.sh`
    pub const SETUP_SCRIPT: &str = "setup-irsa.sh";
    /// `README.md`
    pub const README: &str = "README.md";
}
