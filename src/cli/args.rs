//! Command-line arguments (clap derive). Only parsing lives here; commands.rs does the work.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Render, apply and verify IAM Roles for Service Accounts (IRSA) for Amazon EKS.
#[derive(Debug, Parser)]
#[command(name = "irsagen", version, about, long_about = None, args_override_self = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether the command was asked for `-o json`: its errors are JSON then too.
    pub fn json_output(&self) -> bool {
        match &self.command {
            Command::Whoami(c) => c.output == Format::Json,
            Command::Verify(c) => c.output == Format::Json,
            Command::Render(c) => c.output == CheckFormat::Json,
            Command::Lint(c) => c.output == Format::Json,
            _ => false,
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render every IRSA artifact (policies, trust policies, eksctl config, Helm values, manifests, script).
    Render(RenderCmd),
    /// List the built-in presets, or show one.
    Presets(PresetsCmd),
    /// Print the JSON Schema of the config file (irsagen.yaml).
    Schema,
    /// Show the AWS identity in use (STS GetCallerIdentity).
    Whoami(WhoamiCmd),
    /// Plan, then create or update what the bundle needs in AWS IAM and/or the cluster.
    Apply(ApplyCmd),
    /// Check AWS IAM and/or the cluster against the bundle (the guide's Verify and Troubleshooting).
    Verify(VerifyCmd),
    /// Print the stages of a migration from IRSA to EKS Pod Identity for the selected presets.
    PlanMigration(PlanMigrationCmd),
    /// Check the IAM policies of a rendered folder (or policy files): unknown actions, wide
    /// resources, size, and trust policies that let in more than one ServiceAccount.
    Lint(LintCmd),
    /// Print a shell completion script.
    Completions {
        /// Shell to complete for.
        shell: clap_complete::Shell,
    },
}

/// Inputs shared by every command that renders.
#[derive(Debug, Args, Clone)]
pub struct InputArgs {
    /// Config file with the same inputs, per-preset overrides and tags (flags win).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// EKS cluster name.
    #[arg(long)]
    pub cluster: Option<String>,
    /// AWS region of the cluster.
    #[arg(long)]
    pub region: Option<String>,
    /// AWS account id (12 digits), or `auto` to ask STS.
    #[arg(long)]
    pub account: Option<String>,
    /// ARN partition: aws, aws-cn or aws-us-gov (default: from the region).
    #[arg(long)]
    pub partition: Option<String>,
    /// The cluster's OIDC issuer URL (https://…), or `auto` to ask EKS. Trust policies need it.
    #[arg(long, value_name = "URL")]
    pub oidc_issuer: Option<String>,
    /// The cluster's Kubernetes minor version (e.g. 1.31): picks the matching cluster-autoscaler image.
    #[arg(long, value_name = "1.NN")]
    pub kubernetes_version: Option<String>,
    /// How pods get their roles: irsa (default), pod-identity, or both (for a migration).
    #[arg(long, value_name = "MODE")]
    pub mode: Option<String>,
    /// Preset to render (repeatable; default: cluster-autoscaler, ebs-csi-driver, efs-csi-driver).
    #[arg(long = "preset", value_name = "NAME")]
    pub presets: Vec<String>,
    /// Per-preset override, e.g. `cluster-autoscaler.namespace=smallest` (repeatable).
    #[arg(long = "set", value_name = "PRESET.FIELD=VALUE")]
    pub sets: Vec<String>,
    /// Folder of extra or replacement presets (*.yaml).
    #[arg(long, value_name = "DIR")]
    pub presets_dir: Option<PathBuf>,
    /// Folder of replacement templates (*.j2, same relative ids as the built-in ones).
    #[arg(long, value_name = "DIR")]
    pub templates_dir: Option<PathBuf>,
    /// AWS profile for `auto` values, apply and verify; wins over AWS_ACCESS_KEY_ID in the
    /// environment (AWS_PROFILE alone keeps the SDK's order, where environment keys come first).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

/// `render`.
#[derive(Debug, Args)]
pub struct RenderCmd {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub inputs: InputArgs,
    /// Write the files into DIR (default: print them all to stdout under `==== path ====` headers).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// With --out-dir: write nothing; exit 1 with a diff if DIR is not what would be rendered.
    #[arg(long, requires = "out_dir")]
    pub check: bool,
    /// With --out-dir: remove files in DIR that the render no longer produces.
    #[arg(long, requires = "out_dir", conflicts_with = "check")]
    pub prune: bool,
    /// Print no diff or file list, only the exit status (and errors).
    #[arg(long, short)]
    pub quiet: bool,
    /// With --check: `markdown` or `json` print a summary of what the change does (actions,
    /// resources, trust, keys; widenings of access flagged) above the diffs.
    #[arg(
        long,
        short,
        value_enum,
        default_value = "text",
        requires = "check",
        conflicts_with = "quiet"
    )]
    pub output: CheckFormat,
    /// Print only the Kubernetes objects to apply as they are (the ServiceAccounts; with
    /// `--format ack` the ACK resources too) as one multi-document YAML stream, e.g. for an Argo
    /// CD plugin.
    #[arg(long, conflicts_with = "out_dir")]
    pub kubernetes_only: bool,
    /// Output format: `default` (IAM documents, eksctl config, setup script, manifests, Helm
    /// values) or `ack` (AWS Controllers for Kubernetes Role, Policy and PodIdentityAssociation
    /// resources instead of the eksctl config and the script).
    #[arg(long, value_enum, default_value = "default")]
    pub format: OutputFormat,
    /// Every cluster of the config file's `clusters:`, each into DIR/<cluster>/ (in parallel).
    #[arg(long, requires_all = ["config", "out_dir"], conflicts_with = "cluster")]
    pub all: bool,
}

/// `render --format`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    // Plain comments: see CheckFormat.
    // Today's files.
    Default,
    // AWS Controllers for Kubernetes resources.
    Ack,
}

impl OutputFormat {
    /// The library's format.
    pub fn library(self) -> irsagen::ack::Format {
        match self {
            OutputFormat::Default => irsagen::ack::Format::Default,
            OutputFormat::Ack => irsagen::ack::Format::Ack,
        }
    }
}

/// How `render --check` reports.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum CheckFormat {
    // Plain comments, not doc comments: documented variants would switch clap to the long
    // help layout for the whole command.
    // Unified diffs, and the command that regenerates the folder.
    Text,
    // A change summary for a pull-request comment, then the diffs.
    Markdown,
    // The change summary and the diffs as one JSON document.
    Json,
}

/// `presets`.
#[derive(Debug, Args)]
pub struct PresetsCmd {
    /// `show NAME` to show one preset, `diff NAME FROM TO` to compare two versions' policies.
    #[command(subcommand)]
    pub show: Option<PresetsSub>,
    /// Folder of extra or replacement presets.
    #[arg(long, value_name = "DIR", global = true)]
    pub presets_dir: Option<PathBuf>,
    /// Print the catalogue as the README's Markdown table.
    #[arg(long)]
    pub markdown: bool,
}

/// `presets show` and `presets diff`.
#[derive(Debug, Subcommand)]
pub enum PresetsSub {
    /// Show a preset: ServiceAccount, policy, its source, and the artifacts it renders.
    Show {
        /// Preset name.
        name: String,
    },
    /// The policy change between two controller versions: a unified diff of the two documents
    /// (as upstream wrote them), then the added and removed actions.
    Diff {
        /// Preset name.
        name: String,
        /// The version upgraded from (e.g. v2.9.0).
        from: String,
        /// The version upgraded to.
        to: String,
    },
}

/// Output format for reports.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// One line per item.
    Text,
    /// JSON.
    Json,
}

/// `whoami`.
#[derive(Debug, Args)]
pub struct WhoamiCmd {
    /// AWS profile; wins over AWS_ACCESS_KEY_ID in the environment (AWS_PROFILE alone keeps
    /// the SDK's order, where environment keys come first).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region for the STS call.
    #[arg(long)]
    pub region: Option<String>,
    /// Seconds one AWS call may take, retries included (also the connect timeout).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "text")]
    pub output: Format,
}

/// Where apply and verify look.
#[derive(Debug, Args, Clone)]
pub struct TargetArgs {
    /// AWS IAM (default: both AWS and the cluster when neither is given).
    #[arg(long)]
    pub aws: bool,
    /// The Kubernetes cluster.
    #[arg(long)]
    pub kube: bool,
    /// kubeconfig file (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context (default: the current one).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Seconds one AWS call (retries included) or one Kubernetes API call (connect and read) may take (1-3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

/// `--all` and `--from` of apply and verify.
#[derive(Debug, Args, Clone)]
pub struct FleetArgs {
    /// Every cluster of the config file's `clusters:` (or, with --from, every cluster folder of
    /// DIR), one after the other with a header each; the kube context of each is the one
    /// `aws eks update-kubeconfig` names, `arn:<partition>:eks:<region>:<account>:cluster/<name>`.
    #[arg(long, conflicts_with_all = ["cluster", "context"])]
    pub all: bool,
    /// Act on the reviewed files in DIR (written by `render --out-dir`), not on a fresh render:
    /// refused when DIR differs from what its manifest's inputs render.
    #[arg(long, value_name = "DIR", conflicts_with_all = [
        "config", "cluster", "region", "account", "partition", "oidc_issuer", "kubernetes_version", "presets", "sets",
    ])]
    pub from: Option<PathBuf>,
}

/// `apply`.
#[derive(Debug, Args)]
pub struct ApplyCmd {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub inputs: InputArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: TargetArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub fleet: FleetArgs,
    /// Print the plan and stop (the cluster half uses the API server's dry run).
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long, short)]
    pub yes: bool,
    /// Take over an IAM role or policy of the same name that irsagen did not create.
    #[arg(long)]
    pub adopt: bool,
    /// Replace a ServiceAccount's different eks.amazonaws.com/role-arn annotation.
    #[arg(long)]
    pub force: bool,
    /// Create namespaces that do not exist.
    #[arg(long)]
    pub create_namespace: bool,
    /// Also create the test pods.
    #[arg(long)]
    pub test_pods: bool,
}

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyCmd {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub inputs: InputArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: TargetArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub fleet: FleetArgs,
    /// Create each test pod, exec `aws sts get-caller-identity` in it and check the role (needs nodes).
    #[arg(long)]
    pub exec_test: bool,
    /// With --exec-test: seconds to wait for each test pod to run.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub exec_timeout: u64,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "text")]
    pub output: Format,
}

/// `plan-migration`.
#[derive(Debug, Args)]
pub struct PlanMigrationCmd {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub inputs: InputArgs,
}

/// `lint`.
#[derive(Debug, Args)]
pub struct LintCmd {
    /// A folder `render --out-dir` wrote (default: the current folder), or policy JSON files.
    #[arg(value_name = "DIR|FILE")]
    pub paths: Vec<PathBuf>,
    /// A trust policy file (repeatable); other files are trust policies when a statement has a
    /// Principal, or allows sts:AssumeRole* and none has a Resource.
    #[arg(long, value_name = "FILE")]
    pub trust: Vec<PathBuf>,
    /// Folder of extra or replacement presets the folder was rendered with (their narrowing rules).
    #[arg(long, value_name = "DIR")]
    pub presets_dir: Option<PathBuf>,
    /// For policy files: the AWS account trust principals must be in (a folder's manifest names its own).
    #[arg(long)]
    pub account: Option<String>,
    /// For policy files: the ARN partition principals must be in.
    #[arg(long)]
    pub partition: Option<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "text")]
    pub output: Format,
}
