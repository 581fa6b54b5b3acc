//! A component is a preset made concrete for one cluster: names, ARNs, tags and the identity
//! (namespace/ServiceAccount) that every artifact must agree on. It is computed once here, and
//! every template, the AWS apply and the cluster apply read the same values.

use crate::chart_schema::ChartValues;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::identity::{self, IdentityMode, Mechanism, PodIdentityAssociation, PodIdentityScope, PodIdentityTrust};
use crate::install_source::{self, Install};
use crate::overrides::{ChartLayout, PresetOverrides, SaCreator};
use crate::parameters::ParamValue;
use crate::preset::{GUIDE_VARIANT, LoadedPreset, PolicyKind, PolicySource, PresetChartServiceAccount};
use crate::preset_policy;
use crate::{names, policy_doc, rules};
use serde::Serialize;
use std::collections::BTreeMap;

/// Tag every resource irsagen manages carries; apply refuses to touch resources without it.
pub const MANAGED_BY_KEY: &str = "managed-by";
/// Value of [`MANAGED_BY_KEY`].
pub const MANAGED_BY_VALUE: &str = "irsagen";
/// [`MANAGED_BY_KEY`] of roles created through eksctl: their CloudFormation stack owns them.
pub const MANAGED_BY_EKSCTL: &str = "eksctl";
/// Prefix of irsagen's own tag keys; user tags may not use it.
pub const TAG_PREFIX: &str = "irsagen:";
/// IAM attaches at most 20 managed policies to a role (the default quota is 10, raisable to
/// 20), the preset's own included.
pub const MAX_EXTRA_POLICY_ARNS: usize = crate::managed_policy::MAX_ATTACHED - 1;

/// The Kubernetes identity a role trusts.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceAccountRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ServiceAccountRef {
    /// `system:serviceaccount:<namespace>:<name>`: the OIDC `sub` claim of its tokens.
    pub fn subject(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }
}

impl std::fmt::Display for ServiceAccountRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Helm settings of a chart component.
#[derive(Debug, Clone, Serialize)]
pub struct HelmSettings {
    /// Chart name (and the umbrella key).
    pub chart: String,
    /// Template id of the values file.
    pub values_template: String,
    /// `umbrella` or `standalone`.
    pub layout: ChartLayout,
    /// Release namespace; always the ServiceAccount's namespace (the chart runs the pod there).
    pub release_namespace: String,
    /// `image.tag` for the cluster's Kubernetes minor version, when that version is known.
    pub image_tag: Option<String>,
    /// The user's `helmValues`, merged into the rendered values ([`crate::helm_values`]).
    pub user_values: BTreeMap<String, serde_json::Value>,
    /// The chart's repository (`https://…` or `oci://…`).
    pub repository: String,
    /// The pinned chart version.
    pub version: String,
    /// What `helm install` is given: `<repository alias>/<chart>`, or the OCI reference.
    pub chart_ref: String,
    /// Where the chart reads its ServiceAccount settings.
    pub service_account: PresetChartServiceAccount,
    /// The chart's values.yaml, whose keys the rendered values must use.
    #[serde(skip)]
    pub values_reference: std::sync::Arc<ChartValues>,
}

impl HelmSettings {
    /// The dotted chart key of one ServiceAccount setting (`key` is the preset's key name).
    pub fn service_account_key(&self, key: &str) -> String {
        format!("{}.{key}", self.service_account.path)
    }
}

/// The AWS managed policies a component attaches instead of a customer managed policy.
#[derive(Debug, Clone, Serialize)]
pub struct AwsManagedPolicies {
    /// Full ARNs, in the cluster's partition.
    pub arns: Vec<String>,
    /// Their names (the ARN's last part), for prose.
    pub names: Vec<String>,
    /// Where AWS documents them for this controller.
    pub source: PolicySource,
    /// Whether this is the preset's default (`policy.default: aws-managed`) rather than the
    /// user's choice, for the README's "why".
    pub preset_default: bool,
}

/// A further customer managed policy of a component (the preset's `policy.additional`).
#[derive(Debug, Clone, Serialize)]
pub struct AdditionalPolicy {
    /// Managed policy name.
    pub name: String,
    /// Managed policy ARN.
    pub arn: String,
    /// The document, with ARNs in the cluster's partition.
    pub document: serde_json::Value,
    /// Where it is rendered (`iam/<preset>/policy-<preset's name for it>.json`).
    pub file: String,
    /// Where the document comes from.
    pub source: PolicySource,
}

/// One preset, resolved for one cluster. Load-bearing: templates read these fields by name.
#[derive(Debug, Clone, Serialize)]
pub struct Component {
    /// Preset name.
    pub preset: String,
    /// Preset description.
    pub description: String,
    /// The ServiceAccount the role trusts.
    pub service_account: ServiceAccountRef,
    /// `system:serviceaccount:<ns>:<name>`.
    pub subject: String,
    /// Who creates the ServiceAccount: the one place this is decided (the eksctl entry's
    /// `roleOnly`, the chart's create flag and whether irsagen renders the manifest follow).
    pub service_account_created_by: SaCreator,
    /// Which mechanisms bind the ServiceAccount to the role ([`identity`]).
    pub identity_mode: IdentityMode,
    /// How far the Pod Identity trust reaches (only read when the mode uses Pod Identity).
    pub pod_identity_trust: PodIdentityTrust,
    /// Whether the Pod Identity association disables session tags (only with an unscoped trust).
    pub disable_session_tags: bool,
    /// IAM role name (≤ 64).
    pub role_name: String,
    /// IAM role ARN, known before anything exists because the name is fixed.
    pub role_arn: String,
    /// Customer-managed policy name.
    pub policy_name: String,
    /// Customer-managed policy ARN.
    pub policy_arn: String,
    /// Managed policies attached besides the preset's own (`extraPolicyArns`), as declared.
    pub extra_policy_arns: Vec<String>,
    /// `Some` when the role gets the preset's AWS managed policies (`policy: aws-managed`)
    /// instead of a customer managed policy: then nothing is created and `policy_name`,
    /// `policy_arn` and `policy_document` name the document that is NOT used.
    pub aws_managed: Option<AwsManagedPolicies>,
    /// Every managed policy the role gets, in attachment order: the customer managed policy
    /// (`policy_arn`) or the AWS managed ones, then `extra_policy_arns`. The eksctl entry, the
    /// script, apply and verify all attach exactly these.
    pub policy_arns: Vec<String>,
    /// The policy document, with ARNs in the cluster's partition.
    pub policy_document: serde_json::Value,
    /// The preset's further customer managed policies (`policy.additional`), in order, attached
    /// after `policy_arn` (`policy_arns` lists them); empty with `policy: aws-managed`.
    pub additional_policies: Vec<AdditionalPolicy>,
    /// The role's trust policy ([`identity::trust_policy`]); `None` when the mode uses IRSA and
    /// the OIDC issuer is unknown.
    /// Templates print it, checks compare with it, apply sends it.
    pub trust_policy: Option<serde_json::Value>,
    /// The other clusters whose providers the trust names too (`trustClusters`), sorted.
    pub trust_clusters: Vec<String>,
    /// Where the document comes from.
    pub policy_source: PolicySource,
    /// Which of the preset's documents was rendered: `guide` or a `policy.variants` name.
    pub policy_variant: String,
    /// Every document the preset offers, by variant name, with what it grants (for the README).
    pub policy_variants: BTreeMap<String, String>,
    /// The `from` of the `policy.versions` entry rendered (presets with versions).
    pub policy_version: Option<String>,
    /// `document` (the customer managed policy above) or `aws-managed` (the ARNs below instead).
    pub policy_kind: PolicyKind,
    /// With `aws-managed`: the AWS managed policies attached, in the cluster's partition.
    pub aws_managed_policy_arns: Vec<String>,
    /// The preset's parameters as resolved (a string, or a list for a list parameter).
    pub parameters: BTreeMap<String, ParamValue>,
    /// Role tags: irsagen's own, then the user's.
    pub tags: BTreeMap<String, String>,
    /// Tags of the managed policy: `managed-by`, `irsagen:preset` and the user's tags (the same
    /// user tags as the role). Read by `apply --aws` and the setup script, which create policies;
    /// the eksctl ClusterConfig cannot tag a policy it only attaches.
    pub policy_tags: BTreeMap<String, String>,
    /// Helm chart settings, for chart presets.
    pub helm: Option<HelmSettings>,
    /// EKS addon bound to the role.
    pub addon: Option<String>,
    /// `kubectl apply -k` argument that installs the component.
    pub install_kustomize: Option<String>,
    /// How the component is installed (`installSource`), for presets with an install step.
    pub install: Option<Install>,
    /// The preset's `mechanisms.podIdentity.minVersion`, compared with the install's version.
    pub pod_identity_min_version: Option<String>,
    /// Deployment whose `serviceAccountName` is patched.
    pub controller_patch: Option<String>,
    /// Name of the test pod that runs as the ServiceAccount.
    pub test_pod_name: String,
}

impl Component {
    /// The customer managed policies irsagen creates for the role, in attachment order, as
    /// (name, ARN, document): the main one, then `additional_policies`; none with
    /// `policy: aws-managed`.
    pub fn customer_policies(&self) -> Vec<(&str, &str, &serde_json::Value)> {
        if self.aws_managed.is_some() {
            return Vec::new();
        }
        std::iter::once((
            self.policy_name.as_str(),
            self.policy_arn.as_str(),
            &self.policy_document,
        ))
        .chain(
            self.additional_policies
                .iter()
                .map(|a| (a.name.as_str(), a.arn.as_str(), &a.document)),
        )
        .collect()
    }

    /// Whether the pods get the role through `m`.
    pub fn uses(&self, m: Mechanism) -> bool {
        self.identity_mode.uses(m)
    }

    /// Warnings for the user: this binding is looser than irsagen's default, or its install
    /// source installs a controller too old to read EKS Pod Identity credentials.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.uses(Mechanism::PodIdentity) && self.pod_identity_trust == PodIdentityTrust::Unscoped {
            out.push(format!(
                "preset {}: role {} trusts EKS Pod Identity of every cluster in the account (podIdentityTrust: unscoped); any Pod Identity association in the account can use it",
                self.preset, self.role_name
            ));
        }
        if let (true, Some(min), Some(i)) = (
            self.uses(Mechanism::PodIdentity),
            self.pod_identity_min_version.as_deref(),
            self.install.as_ref(),
        ) {
            if let Some(v) = i.version.as_deref() {
                let older = crate::preset_policy::parse_version(v) < crate::preset_policy::parse_version(min);
                if older {
                    out.push(format!(
                        "preset {}: installSource `{}` installs {v} ({}), older than {min}, the first version that reads EKS Pod Identity credentials; its pods would not get role {}. Use `--set {}.installSource=addon` (or a ref of a newer release)",
                        self.preset,
                        i.source,
                        i.kustomize.as_deref().unwrap_or_default(),
                        self.role_name,
                        self.preset
                    ));
                }
            }
        }
        out
    }

    /// The ServiceAccount annotations this binding needs: IRSA's role-arn annotation, or none in
    /// `pod-identity` (a leftover annotation would win over Pod Identity in the SDKs).
    pub fn service_account_annotations(&self) -> BTreeMap<String, String> {
        if self.uses(Mechanism::Irsa) {
            identity::service_account_annotations(&self.role_arn)
        } else {
            BTreeMap::new()
        }
    }

    /// The EKS Pod Identity association of this binding in `cluster`.
    pub fn pod_identity_association(&self, cluster: &str) -> PodIdentityAssociation {
        PodIdentityAssociation::new(cluster, &self.service_account, &self.role_arn, &self.tags)
    }
}

/// The ServiceAccount a preset's role trusts, with its overrides: one namespace for the
/// ServiceAccount and the chart's release.
fn service_account_of(loaded: &LoadedPreset, o: &PresetOverrides) -> Result<ServiceAccountRef> {
    let p = &loaded.preset;
    let field = |f: &str| format!("presets.{}.{f}", p.name);
    let namespace = match (&o.namespace, &o.release_namespace) {
        (Some(ns), Some(rel)) if ns != rel => {
            return Err(Error::invalid(
                field("releaseNamespace"),
                rel,
                format!(
                    "must equal namespace `{ns}`: the chart runs the pod as {rel}/<serviceAccount> while the role would trust {ns}/<serviceAccount>; set only one of them"
                ),
            ));
        }
        (Some(ns), _) | (None, Some(ns)) => ns.clone(),
        (None, None) => p.service_account.namespace.clone(),
    };
    rules::namespace(&field("namespace"), &namespace)?;
    let sa_name = o
        .service_account
        .clone()
        .unwrap_or_else(|| p.service_account.name.clone());
    rules::object_name(&field("serviceAccount"), &sa_name)?;
    Ok(ServiceAccountRef {
        namespace: namespace.clone(),
        name: sa_name,
    })
}

/// The IAM role name of a preset's component: the override, or the name derived from the cluster
/// and the ServiceAccount.
fn role_name_of(ctx: &Context, loaded: &LoadedPreset, sa: &ServiceAccountRef, o: &PresetOverrides) -> Result<String> {
    let role_name = match &o.role_name {
        Some(r) => r.clone(),
        None => names::role_name(&ctx.cluster, &sa.namespace, &sa.name),
    };
    rules::role_name(&format!("presets.{}.roleName", loaded.preset.name), &role_name)?;
    Ok(role_name)
}

/// The role ARN a preset resolves to, without resolving the rest of the component: it depends
/// on the ServiceAccount and role name only, so a preset whose required parameters are not given
/// here (an unselected one, in `verify --kube` on a subset) still has one.
pub fn role_arn(ctx: &Context, loaded: &LoadedPreset, o: &PresetOverrides) -> Result<String> {
    let sa = service_account_of(loaded, o)?;
    Ok(ctx.iam_arn(&format!("role/{}", role_name_of(ctx, loaded, &sa, o)?)))
}

/// Resolves one preset with its overrides for the cluster in `ctx`.
pub fn resolve(ctx: &Context, loaded: &LoadedPreset, o: &PresetOverrides) -> Result<Component> {
    let p = &loaded.preset;
    let field = |f: &str| format!("presets.{}.{f}", p.name);

    // One namespace: the chart runs its pod in the release namespace, so for a chart preset the
    // release namespace *is* the ServiceAccount's namespace. Two different values would give a
    // role that trusts one identity while the pod runs as another (the guide's own pages do this).
    if let (None, Some(_)) = (&p.helm, &o.release_namespace) {
        return Err(Error::invalid(
            field("releaseNamespace"),
            o.release_namespace.clone().unwrap_or_default(),
            "only applies to presets with a Helm chart",
        ));
    }
    if p.helm.is_none() && !o.helm_values.is_empty() {
        return Err(Error::invalid(
            field("helmValues"),
            policy_doc::compact(&serde_json::to_value(&o.helm_values).unwrap_or_default()),
            "only applies to presets with a Helm chart",
        ));
    }
    if let (None, Some(layout)) = (&p.helm, &o.chart_layout) {
        return Err(Error::invalid(
            field("chartLayout"),
            format!("{layout:?}").to_lowercase(),
            "only applies to presets with a Helm chart",
        ));
    }
    let service_account = service_account_of(loaded, o)?;
    let namespace = service_account.namespace.clone();

    let created_by = o.service_account_created_by.unwrap_or(p.service_account.created_by);
    if created_by == SaCreator::Helm && p.helm.is_none() {
        return Err(Error::invalid(
            field("serviceAccountCreatedBy"),
            "helm",
            "needs a preset with a Helm chart; use `eksctl`",
        ));
    }

    let identity_mode = o.identity_mode.unwrap_or_default();
    let pod_identity_trust = o.pod_identity_trust.unwrap_or_default();
    let disable_session_tags = o.disable_session_tags.unwrap_or(false);
    // The scoped trust conditions on the session tags; without them EKS's AssumeRole would be
    // denied for every pod, which only shows when a pod asks for credentials.
    if identity_mode.uses(Mechanism::PodIdentity)
        && disable_session_tags
        && pod_identity_trust == PodIdentityTrust::Scoped
    {
        return Err(Error::invalid(
            field("disableSessionTags"),
            "true",
            format!(
                "the scoped Pod Identity trust conditions on the session tags EKS sets ({}, {}, {}); with them disabled no pod could assume the role: keep session tags, or set `podIdentityTrust: unscoped`",
                identity::session_tag::CLUSTER_ARN,
                identity::session_tag::NAMESPACE,
                identity::session_tag::SERVICE_ACCOUNT
            ),
        ));
    }

    let role_name = role_name_of(ctx, loaded, &service_account, o)?;
    check_mechanisms(p, identity_mode)?;
    let parameters = crate::parameters::resolve(
        &p.name,
        &p.parameters,
        &o.parameters,
        ctx.partition.as_str(),
        crate::overrides::SET_FIELDS,
    )?;
    let policy = policy_choice(ctx, loaded, o, &parameters)?;
    let policy_name = o.policy_name.clone().unwrap_or_else(|| policy.default_name.clone());
    // A preset that only attaches AWS managed policies may have no name: nothing is created.
    if policy.kind == PolicyKind::Document || !policy_name.is_empty() {
        rules::policy_name(&field("policyName"), &policy_name)?;
    }

    let policy_arn = ctx.iam_arn(&format!("policy/{policy_name}"));
    // The user's `policy` choice (document | aws-managed), else the preset's default.
    let aws_managed = aws_managed(ctx, p, o.policy)?;
    let additional_policies: Vec<AdditionalPolicy> = match &aws_managed {
        Some(_) => Vec::new(),
        None => policy
            .additional
            .iter()
            .map(|(declared, name, document, source)| AdditionalPolicy {
                arn: ctx.iam_arn(&format!("policy/{name}")),
                name: name.clone(),
                document: policy_doc::with_partition(document, ctx.partition),
                file: crate::bundle::layout::additional_policy(&p.name, declared),
                source: source.clone(),
            })
            .collect(),
    };
    for a in &additional_policies {
        rules::policy_name(&field("policy.additional"), &a.name)?;
        if a.name == policy_name {
            return Err(Error::invalid(
                field("policyName"),
                &policy_name,
                "is also the name of one of the preset's additional policies; each policy needs its own name",
            ));
        }
    }
    let own_arns = match &aws_managed {
        Some(m) => m.arns.clone(),
        None => std::iter::once(policy_arn.clone())
            .chain(additional_policies.iter().map(|a| a.arn.clone()))
            .collect(),
    };
    let extra_policy_arns = o.extra_policy_arns.clone().unwrap_or_default();
    let extra_field = field("extraPolicyArns");
    // MAX_EXTRA_POLICY_ARNS with one own policy; fewer when several AWS managed ones are attached.
    let room = crate::managed_policy::MAX_ATTACHED.saturating_sub(own_arns.len());
    if extra_policy_arns.len() > room {
        return Err(Error::invalid(
            &extra_field,
            extra_policy_arns.len().to_string(),
            format!(
                "lists more than {room} policies: IAM attaches at most {} managed policies to a role, the preset's own included",
                crate::managed_policy::MAX_ATTACHED
            ),
        ));
    }
    for (i, arn) in extra_policy_arns.iter().enumerate() {
        rules::managed_policy_arn(&extra_field, arn, ctx.partition.as_str())?;
        if own_arns.contains(arn) {
            return Err(Error::invalid(
                &extra_field,
                arn,
                "is the preset's own policy, which irsagen attaches anyway; list only other policies",
            ));
        }
        if extra_policy_arns[..i].contains(arn) {
            return Err(Error::invalid(
                &extra_field,
                arn,
                "is listed twice; list each policy once",
            ));
        }
    }

    let mut tags = BTreeMap::from([
        (MANAGED_BY_KEY.to_string(), MANAGED_BY_VALUE.to_string()),
        (format!("{TAG_PREFIX}cluster"), ctx.cluster.clone()),
        (format!("{TAG_PREFIX}preset"), p.name.clone()),
        (format!("{TAG_PREFIX}service-account"), service_account.to_string()),
    ]);
    for (k, v) in ctx.tags.iter().chain(o.tags.iter()) {
        let f = field(&format!("tags.{k}"));
        rules::tag_key(&f, k)?;
        rules::tag_value(&f, v)?;
        tags.insert(k.clone(), v.clone());
    }
    if tags.len() > 50 {
        return Err(Error::invalid(
            field("tags"),
            tags.len().to_string(),
            "a role takes at most 50 tags, irsagen's 4 included",
        ));
    }

    // One role shared by several clusters: the trust names each one's provider, and the
    // cluster tag names them all, so every cluster renders the same role.
    let trusted = crate::shared_trust::resolve(
        ctx,
        &field("trustClusters"),
        o.trust_clusters.as_deref().unwrap_or_default(),
    )?;
    if !trusted.is_empty() {
        let value = crate::shared_trust::cluster_tag(ctx, &trusted);
        rules::tag_value(&field("trustClusters"), &value)?;
        tags.insert(format!("{TAG_PREFIX}cluster"), value);
    }
    let cluster_arn = ctx.eks_cluster_arn();
    let pod_scope = PodIdentityScope {
        account: &ctx.account,
        cluster_arn: &cluster_arn,
        service_account: &service_account,
        trust: pod_identity_trust,
    };
    crate::shared_trust::check_size(ctx, &field("trustClusters"), identity_mode, &trusted, &pod_scope)?;
    let trust_policy = crate::shared_trust::trust_policy(ctx, identity_mode, &trusted, &pod_scope);

    // The guide's "Tag Resources" tags the policies too, so the user's tags go on the policy as
    // well. irsagen's own policy tags stay cluster-neutral (no `irsagen:cluster`): a policy name is
    // account-wide, and every cluster that uses the preset shares the one policy.
    let mut policy_tags = BTreeMap::from([
        (MANAGED_BY_KEY.to_string(), MANAGED_BY_VALUE.to_string()),
        (format!("{TAG_PREFIX}preset"), p.name.clone()),
    ]);
    for (k, v) in ctx.tags.iter().chain(o.tags.iter()) {
        policy_tags.insert(k.clone(), v.clone());
    }

    let install = install_source::resolve(&field("installSource"), p.install.as_ref(), o.install_source.as_deref())?;
    // Installed as the EKS addon: the addon runs its controller as this ServiceAccount already,
    // and a patch of a Deployment that EKS manages would be undone or conflict.
    let by_addon = install.as_ref().and_then(|i| i.addon.clone());
    if created_by == SaCreator::Addon && p.addon.is_none() && by_addon.is_none() {
        return Err(Error::invalid(
            field("serviceAccountCreatedBy"),
            "addon",
            "needs a preset installed as an EKS addon; use `eksctl`",
        ));
    }

    let helm = match &p.helm {
        None => None,
        Some(h) => Some(HelmSettings {
            chart: h.chart.clone(),
            values_template: h.values_template.clone(),
            layout: o.chart_layout.unwrap_or(h.layout),
            release_namespace: namespace.clone(),
            image_tag: image_tag(ctx, p)?,
            user_values: o.helm_values.clone(),
            repository: h.repository.clone(),
            version: h.version.clone(),
            chart_ref: crate::chart_schema::chart_ref(h),
            service_account: h.service_account.clone(),
            values_reference: loaded.chart_values.clone().ok_or_else(|| {
                Error::invalid(
                    field("helm.valuesReference"),
                    &h.values_reference,
                    "was not loaded with the preset (a preset is loaded through preset::Catalog)",
                )
            })?,
        }),
    };

    Ok(Component {
        preset: p.name.clone(),
        description: p.description.clone(),
        subject: service_account.subject(),
        test_pod_name: names::bounded(&format!("test-irsa-{}", service_account.name), 63),
        identity_mode,
        pod_identity_trust,
        disable_session_tags,
        trust_policy,
        trust_clusters: trusted.into_iter().map(|t| t.name).collect(),
        service_account,
        service_account_created_by: created_by,
        role_arn: ctx.iam_arn(&format!("role/{role_name}")),
        role_name,
        policy_arns: [own_arns, extra_policy_arns.clone()].concat(),
        policy_arn,
        policy_name,
        extra_policy_arns,
        aws_managed,
        policy_document: policy_doc::with_partition(&policy.document, ctx.partition),
        additional_policies,
        policy_source: policy.source,
        policy_variant: policy.variant,
        policy_variants: policy.variants,
        policy_version: policy.version,
        policy_kind: policy.kind,
        aws_managed_policy_arns: policy.aws_managed_arns,
        parameters,
        tags,
        policy_tags,
        helm,
        controller_patch: p
            .controller_patch
            .as_ref()
            .filter(|_| by_addon.is_none())
            .map(|c| c.name.clone()),
        addon: p.addon.as_ref().map(|a| a.name.clone()).or(by_addon),
        install_kustomize: install.as_ref().and_then(|i| i.kustomize.clone()),
        install,
        pod_identity_min_version: p
            .mechanisms
            .as_ref()
            .and_then(|m| m.pod_identity.as_ref())
            .map(|pi| pi.min_version.clone()),
    })
}

/// A role's tags as the eksctl path writes them: [`MANAGED_BY_KEY`] says `eksctl` (its stack
/// owns the role, so `apply --aws` must not change it unasked); every other tag is kept.
pub fn eksctl_tags(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut t = tags.clone();
    t.insert(MANAGED_BY_KEY.to_string(), MANAGED_BY_EKSCTL.to_string());
    t
}

/// The chart's image tag for the cluster's Kubernetes minor version. The autoscaler's minor
/// must match the cluster's (upstream's compatibility table), so a version the preset's table
/// does not know is refused rather than rendered with the chart's default image.
fn image_tag(ctx: &Context, p: &crate::preset::Preset) -> Result<Option<String>> {
    let (Some(version), Some(h)) = (&ctx.kubernetes_version, &p.helm) else {
        return Ok(None);
    };
    if h.image_tags.is_empty() {
        return Ok(None);
    }
    match h.image_tags.get(version) {
        Some(tag) => Ok(Some(tag.clone())),
        None => Err(Error::invalid(
            "--kubernetes-version",
            version,
            format!(
                "preset `{}` knows the {} image for Kubernetes {} only; give one of those, or leave the version out to keep the chart's default image",
                p.name,
                h.chart,
                h.image_tags.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// The AWS managed policies `p`'s role gets, when the policy is `aws-managed`: `chosen` (the
/// user's `policy`), else the preset's `policy.default`. ARNs are put in the cluster's partition.
fn aws_managed(
    ctx: &Context,
    p: &crate::preset::Preset,
    chosen: Option<PolicyKind>,
) -> Result<Option<AwsManagedPolicies>> {
    if chosen.unwrap_or(p.policy.default.unwrap_or_default()) != PolicyKind::AwsManaged {
        return Ok(None);
    }
    let Some(m) = &p.policy.aws_managed else {
        return Err(Error::invalid(
            format!("presets.{}.policy", p.name),
            "aws-managed",
            "this preset names no AWS managed policy (policy.awsManaged); use `document`",
        ));
    };
    let arns: Vec<String> = m
        .arns
        .iter()
        .map(|suffix| crate::managed_policy::arn(ctx.partition.as_str(), suffix))
        .collect();
    for a in &arns {
        rules::managed_policy_arn(
            &format!("presets.{}.policy.awsManaged.arns", p.name),
            a,
            ctx.partition.as_str(),
        )?;
    }
    Ok(Some(AwsManagedPolicies {
        names: arns
            .iter()
            .map(|a| crate::managed_policy::name(a).to_string())
            .collect(),
        arns,
        source: m.source.clone(),
        preset_default: chosen.is_none(),
    }))
}

/// The policy document a component uses, picked by `version` and `policyVariant`, with the
/// preset's `substitute` and `narrow` applied (the partition rewrite comes after).
struct PolicyChoice {
    variant: String,
    document: serde_json::Value,
    source: PolicySource,
    default_name: String,
    variants: BTreeMap<String, String>,
    version: Option<String>,
    kind: PolicyKind,
    aws_managed_arns: Vec<String>,
    /// The `policy.additional` documents rendered: (preset's name, policy name, document, source).
    additional: Vec<(String, String, serde_json::Value, PolicySource)>,
}

/// Refuses a mode whose mechanism the preset does not declare (no `mechanisms`: IRSA only).
fn check_mechanisms(p: &crate::preset::Preset, mode: IdentityMode) -> Result<()> {
    for m in mode.mechanisms() {
        if !p.supports(*m) {
            let supported: Vec<&str> = [(Mechanism::Irsa, "irsa"), (Mechanism::PodIdentity, "pod-identity")]
                .into_iter()
                .filter(|(m, _)| p.supports(*m))
                .map(|(_, n)| n)
                .collect();
            return Err(Error::invalid(
                format!("presets.{}.identityMode", p.name),
                mode.to_string(),
                format!(
                    "preset `{}` does not declare support for {}; it supports: {}",
                    p.name,
                    match m {
                        Mechanism::Irsa => "IRSA",
                        Mechanism::PodIdentity => "EKS Pod Identity",
                    },
                    supported.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn policy_choice(
    ctx: &Context,
    loaded: &LoadedPreset,
    o: &PresetOverrides,
    parameters: &BTreeMap<String, ParamValue>,
) -> Result<PolicyChoice> {
    let p = &loaded.preset;
    let mut variants = BTreeMap::from([(
        GUIDE_VARIANT.to_string(),
        p.policy
            .about
            .clone()
            .unwrap_or_else(|| "the document the guide uses".into()),
    )]);
    variants.extend(p.policy.variants.iter().map(|(k, v)| (k.clone(), v.about.clone())));
    let kind = preset_policy::kind(loaded, o.policy)?;
    if kind == PolicyKind::AwsManaged {
        if let Some(param) = preset_policy::extensions_set(loaded, parameters).first() {
            return Err(Error::invalid(
                format!("presets.{}.{param}", p.name),
                match &parameters[*param] {
                    ParamValue::One(v) => v.clone(),
                    ParamValue::Many(v) => v.join(","),
                },
                format!(
                    "adds statements to the customer managed policy, but the component attaches AWS managed policies (`policy: aws-managed`), which cannot be extended; set `{}.policy=document` or leave `{param}` out",
                    p.name
                ),
            ));
        }
    }
    let picked = preset_policy::pick_version(loaded, o.version.as_deref())?;
    let aws_managed_arns = match kind {
        PolicyKind::AwsManaged => preset_policy::aws_managed_arns(loaded, ctx.partition.as_str()),
        PolicyKind::Document => Vec::new(),
    };
    let vars = preset_policy::Vars {
        preset: &p.name,
        partition: ctx.partition.as_str(),
        region: &ctx.region,
        account: &ctx.account,
        cluster: &ctx.cluster,
        params: parameters,
        declared: &p.parameters,
    };
    let name = o.policy_variant.as_deref().unwrap_or(GUIDE_VARIANT);
    if name == GUIDE_VARIANT {
        let (document, source, version) = match (picked, loaded.document.as_ref(), p.policy.source.as_ref()) {
            (Some((v, source)), _, _) => (v.document.clone(), source.clone(), Some(v.from.clone())),
            (None, Some(doc), Some(source)) => (doc.clone(), source.clone(), None),
            // Only AWS managed policies (kind() refused `document`): no document to render; the
            // source is where AWS documents the managed policies.
            _ => match &p.policy.aws_managed {
                Some(m) => (serde_json::Value::Null, m.source.clone(), None),
                None => {
                    return Err(Error::invalid(
                        format!("presets.{}.policy", p.name),
                        kind.as_str(),
                        "the preset has neither a document nor AWS managed policies",
                    ));
                }
            },
        };
        let document = match (kind, document.is_null()) {
            // The document is rendered only where it is attached: an aws-managed component does
            // not need the parameters that only the document uses.
            (PolicyKind::Document, false) => preset_policy::render(&document, loaded, &vars)?,
            _ => document,
        };
        // A policy name is account-wide. A document made for this cluster (its parameters, or
        // an older controller version than the preset's default) must not share its name with
        // another cluster's different document, so, as for a variant's cluster placeholder, the
        // default name gets `-<cluster>`. The preset's own default document keeps the plain name.
        let default_name = if kind == PolicyKind::Document && Some(&document) != loaded.default_document() {
            names::bounded(&format!("{}-{}", p.policy.name, ctx.cluster), 128)
        } else {
            p.policy.name.clone()
        };
        // The same rule for each additional policy: `-<cluster>` when rendering changed it.
        let mut additional = Vec::new();
        if kind == PolicyKind::Document {
            for ((decl, raw), name) in p
                .policy
                .additional
                .iter()
                .zip(&loaded.additional_documents)
                .zip(&loaded.additional_names)
            {
                let rendered = preset_policy::render_additional(raw, loaded, &vars)?;
                let n = if &rendered != raw {
                    names::bounded(&format!("{name}-{}", ctx.cluster), 128)
                } else {
                    name.clone()
                };
                additional.push((name.clone(), n, rendered, decl.source.clone()));
            }
        }
        return Ok(PolicyChoice {
            additional,
            variant: name.to_string(),
            document,
            source,
            default_name,
            variants,
            version,
            kind,
            aws_managed_arns,
        });
    }
    let (Some(v), Some(doc)) = (p.policy.variants.get(name), loaded.variant_documents.get(name)) else {
        return Err(Error::invalid(
            format!("presets.{}.policyVariant", p.name),
            name,
            format!(
                "is not a policy variant of this preset; known: {}",
                variants.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    let (document, default_name) = match &v.cluster_placeholder {
        Some(ph) => (
            replace_in_strings(doc, ph, &ctx.cluster),
            names::bounded(&format!("{}-{}", v.name, ctx.cluster), 128),
        ),
        None => (doc.clone(), v.name.clone()),
    };
    let (document, default_name) = match kind {
        PolicyKind::Document => {
            let rendered = preset_policy::render(&document, loaded, &vars)?;
            // Made for this cluster by its parameters: a per-cluster name, as above (a
            // placeholder variant has one already).
            let name = if rendered != document && v.cluster_placeholder.is_none() {
                names::bounded(&format!("{default_name}-{}", ctx.cluster), 128)
            } else {
                default_name
            };
            (rendered, name)
        }
        PolicyKind::AwsManaged => (document, default_name),
    };
    Ok(PolicyChoice {
        additional: Vec::new(),
        variant: name.to_string(),
        document,
        source: v.source.clone(),
        default_name,
        variants,
        version: picked.map(|(v, _)| v.from.clone()),
        kind,
        aws_managed_arns,
    })
}

/// `doc` with `from` replaced by `to` in every string and object key.
fn replace_in_strings(doc: &serde_json::Value, from: &str, to: &str) -> serde_json::Value {
    use serde_json::Value;
    match doc {
        Value::String(s) => Value::String(s.replace(from, to)),
        Value::Array(a) => Value::Array(a.iter().map(|v| replace_in_strings(v, from, to)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.replace(from, to), replace_in_strings(v, from, to)))
                .collect(),
        ),
        _ => doc.clone(),
    }
}

/// Checks what must hold across components: one role per ServiceAccount (the guide's "Use
/// Separate Roles"), unique role names, and one document per policy name.
pub fn check_set(components: &[Component]) -> Result<()> {
    for (i, a) in components.iter().enumerate() {
        for b in &components[i + 1..] {
            if a.service_account == b.service_account {
                return Err(Error::invalid(
                    format!("presets.{}.serviceAccount", b.preset),
                    b.service_account.to_string(),
                    format!(
                        "is also preset `{}`'s ServiceAccount; each ServiceAccount gets its own role",
                        a.preset
                    ),
                ));
            }
            if a.role_name == b.role_name {
                return Err(Error::invalid(
                    format!("presets.{}.roleName", b.preset),
                    &b.role_name,
                    format!("is also preset `{}`'s role name", a.preset),
                ));
            }
            // Only customer managed policies are created, so only theirs can clash.
            let both_create = a.aws_managed.is_none() && b.aws_managed.is_none();
            if both_create {
                for (bn, _, bd) in b.customer_policies() {
                    for (an, _, ad) in a.customer_policies() {
                        if an == bn && ad != bd {
                            return Err(Error::invalid(
                                format!("presets.{}.policyName", b.preset),
                                bn,
                                format!(
                                    "is also preset `{}`'s policy, with a different document; one name, one document",
                                    a.preset
                                ),
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
