//! Rendering: context + presets + templates → a validated [`Bundle`], all in memory.

use crate::bundle::{Artifact, ArtifactKind, Bundle, ComponentFiles, layout};
use crate::bundle_check::Checker;
use crate::component::{self, Component};
use crate::context::Context;
use crate::error::Result;
use crate::identity::{Mechanism, POD_IDENTITY_AGENT_ADDON};
use crate::overrides::PresetOverrides;
use crate::preset::Catalog;
use crate::templates::{Templates, ids};
use minijinja::context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

pub use crate::overrides::Selection;

/// Renders bundles; holds the catalog, templates and compiled validators so a batch of
/// clusters pays for loading them once.
pub struct Renderer {
    /// Presets known to this renderer.
    pub catalog: Catalog,
    templates: Templates,
    checker: Checker,
    /// Whether to refuse what eksctl's CloudFormation stacks cannot take ([`crate::eksctl`]).
    eksctl_limits: bool,
    /// The output format ([`crate::ack`]), and the ACK resources' checker.
    format: crate::ack::Format,
    ack: crate::ack::Checker,
}

/// An IAM tag as the AWS CLI's JSON form wants it.
#[derive(Serialize)]
struct Tag<'a> {
    #[serde(rename = "Key")]
    key: &'a str,
    #[serde(rename = "Value")]
    value: &'a str,
}

/// What templates see for a component: the component plus where its files go.
#[derive(Serialize)]
struct ComponentView<'a> {
    #[serde(flatten)]
    c: &'a Component,
    policy_file: String,
    patch_file: Option<String>,
    values_file: Option<String>,
    /// The component's policy tags and role tags as the AWS CLI's `[{"Key":…,"Value":…}]` lists.
    policy_tag_list: Vec<Tag<'a>>,
    tag_list: Vec<Tag<'a>>,
    /// Role tags on the eksctl path (eksctl config and setup script): `managed-by: eksctl`,
    /// because a CloudFormation stack owns those roles, plus the same irsagen labels and user tags.
    eksctl_tags: BTreeMap<String, String>,
    /// From [`Component::service_account_created_by`]: irsagen renders the manifest.
    renders_service_account: bool,
    /// From [`Component::service_account_created_by`]: the chart's ServiceAccount create flag.
    chart_creates_service_account: bool,
    /// From [`Component::identity_mode`]: IRSA binds (role-arn annotation, OIDC trust).
    uses_irsa: bool,
    /// From [`Component::identity_mode`]: an EKS Pod Identity association binds.
    uses_pod_identity: bool,
    /// The association belongs to the component's EKS addon (its `podIdentityAssociations`),
    /// not to `iam.podIdentityAssociations`: the addon creates its own ServiceAccount.
    pod_identity_on_addon: bool,
    /// The ServiceAccount annotations the mode needs (none without IRSA).
    annotations: BTreeMap<String, String>,
}

fn tag_list(tags: &BTreeMap<String, String>) -> Vec<Tag<'_>> {
    tags.iter().map(|(k, v)| Tag { key: k, value: v }).collect()
}

impl<'a> ComponentView<'a> {
    fn new(c: &'a Component) -> Self {
        ComponentView {
            c,
            policy_file: layout::policy(&c.preset),
            patch_file: c
                .controller_patch
                .as_ref()
                .map(|d| layout::controller_patch(&c.preset, d)),
            values_file: c.helm.as_ref().map(|h| layout::helm_values(&h.chart)),
            policy_tag_list: tag_list(&c.policy_tags),
            tag_list: tag_list(&c.tags),
            eksctl_tags: component::eksctl_tags(&c.tags),
            renders_service_account: c.service_account_created_by.renders_manifest(),
            chart_creates_service_account: c.service_account_created_by.by_chart(),
            uses_irsa: c.uses(Mechanism::Irsa),
            uses_pod_identity: c.uses(Mechanism::PodIdentity),
            pod_identity_on_addon: c.uses(Mechanism::PodIdentity) && c.addon.is_some(),
            annotations: c.service_account_annotations(),
        }
    }
}

impl Renderer {
    /// Loads presets (embedded + `presets_dir`) and templates (embedded + `templates_dir`).
    pub fn new(presets_dir: Option<&Path>, templates_dir: Option<&Path>) -> Result<Self> {
        Ok(Renderer {
            catalog: Catalog::with_dir(presets_dir)?,
            templates: Templates::new(templates_dir)?,
            checker: Checker::new(),
            eksctl_limits: true,
            format: crate::ack::Format::Default,
            ack: crate::ack::Checker::new(),
        })
    }

    /// Renders in `format`. The ACK format has no eksctl files, so eksctl's limits do not apply.
    pub fn with_format(mut self, format: crate::ack::Format) -> Self {
        if format == crate::ack::Format::Ack {
            self.eksctl_limits = false;
        }
        self.format = format;
        self
    }

    /// For `apply` and `verify`, which create and read roles directly: the bundle's eksctl
    /// ClusterConfig and script are not used, so CloudFormation's limits on eksctl's stacks
    /// (stack name length, non-empty stack tag values) do not apply and are not checked.
    pub fn without_eksctl_limits(mut self) -> Self {
        self.eksctl_limits = false;
        self
    }

    /// Resolves the selection into components, sorted by preset name.
    pub fn components(&self, ctx: &Context, selection: &[(String, PresetOverrides)]) -> Result<Vec<Component>> {
        let mut comps = Vec::with_capacity(selection.len());
        for (name, o) in selection {
            comps.push(component::resolve(ctx, self.catalog.get(name)?, o)?);
        }
        comps.sort_by(|a, b| a.preset.cmp(&b.preset));
        component::check_set(&comps)?;
        Ok(comps)
    }

    /// Renders and validates every artifact. Nothing touches the disk.
    pub fn render(&self, ctx: &Context, selection: &[(String, PresetOverrides)]) -> Result<Bundle> {
        let components = self.components(ctx, selection)?;
        if self.eksctl_limits {
            crate::eksctl::check(ctx, &components)?;
        }
        let views: Vec<ComponentView> = components.iter().map(ComponentView::new).collect();
        let ctx_v = crate::templates::value(ctx);
        let mut out = Vec::new();
        let mut add = |path: String, kind, preset: Option<&str>, content| {
            out.push(Artifact {
                path,
                kind,
                preset: preset.map(str::to_string),
                content,
            });
        };

        for view in &views {
            let c = view.c;
            let cv = crate::templates::value(view);
            let one = |id: &str| {
                self.templates
                    .render(id, context! { ctx => ctx_v.clone(), c => cv.clone() })
            };
            for (path, kind) in ComponentFiles::of(c).artifacts() {
                let content = match kind {
                    ArtifactKind::Policy => match c.additional_policies.iter().find(|a| a.file == path) {
                        // The same template prints each further policy's document.
                        Some(a) => self.templates.render(
                            ids::POLICY,
                            context! { ctx => ctx_v.clone(), c => crate::templates::value(serde_json::json!({ "policy_document": &a.document })) },
                        )?,
                        None => one(ids::POLICY)?,
                    },
                    ArtifactKind::TrustPolicy => one(ids::TRUST_POLICY)?,
                    ArtifactKind::ServiceAccount => one(ids::SERVICE_ACCOUNT)?,
                    ArtifactKind::TestPod => one(ids::TEST_POD)?,
                    ArtifactKind::ControllerPatch => one(ids::DEPLOYMENT_PATCH)?,
                    ArtifactKind::HelmValues => {
                        // ComponentFiles lists values only for a chart.
                        let Some(h) = &c.helm else { continue };
                        let content = crate::helm_values::wrap(c, &one(&h.values_template)?);
                        if h.user_values.is_empty() {
                            content
                        } else {
                            crate::helm_values::merge(&c.preset, h, &content, &h.user_values)?
                        }
                    }
                    // Bundle-wide files are rendered below, once.
                    // ACK resources come from `ack::convert`.
                    ArtifactKind::EksctlConfig
                    | ArtifactKind::SetupScript
                    | ArtifactKind::Readme
                    | ArtifactKind::AckResource => continue,
                };
                add(path, kind, Some(&c.preset), content);
            }
        }

        let all = crate::templates::value(&views);
        add(
            layout::EKSCTL_CONFIG.into(),
            ArtifactKind::EksctlConfig,
            None,
            self.templates.render(
                ids::EKSCTL_CONFIG,
                context! { ctx => ctx_v.clone(), components => all.clone(), pod_identity_agent => POD_IDENTITY_AGENT_ADDON },
            )?,
        );
        add(
            layout::SETUP_SCRIPT.into(),
            ArtifactKind::SetupScript,
            None,
            self.templates.render(
                ids::SETUP_SCRIPT,
                context! { ctx => ctx_v.clone(), components => all.clone(), pod_identity_agent => POD_IDENTITY_AGENT_ADDON },
            )?,
        );
        out.sort_by(|a, b| a.path.cmp(&b.path));
        let mut files: Vec<BTreeMap<&str, String>> = out
            .iter()
            .map(|a| BTreeMap::from([("path", a.path.clone()), ("about", a.kind.about().to_string())]))
            .collect();
        files.push(BTreeMap::from([
            ("path", layout::README.to_string()),
            ("about", ArtifactKind::Readme.about().to_string()),
        ]));
        files.sort_by(|a, b| a["path"].cmp(&b["path"]));
        let readme = self.templates.render(
            ids::README,
            context! { ctx => ctx_v, components => all, files => files, pod_identity_agent => POD_IDENTITY_AGENT_ADDON },
        )?;
        out.push(Artifact {
            path: layout::README.into(),
            kind: ArtifactKind::Readme,
            preset: None,
            content: readme,
        });
        out.sort_by(|a, b| a.path.cmp(&b.path));

        let bundle = Bundle {
            context: ctx.clone(),
            components,
            artifacts: out,
            selection: selection.to_vec(),
            format: crate::ack::Format::Default,
        };
        self.checker.check(&bundle)?;
        match self.format {
            crate::ack::Format::Default => Ok(bundle),
            crate::ack::Format::Ack => crate::ack::convert(bundle, &self.ack),
        }
    }
}
