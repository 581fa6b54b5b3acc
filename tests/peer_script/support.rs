//! One rendered bundle in a scratch dir, the script run through logging wrappers, and readers of
//! what it did: every aws/kubectl/eksctl call it (or the stand-in) made, and the cluster's
//! resourceVersions, so "no writes" is checked on both sides.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const ACCOUNT: &str = "123456789012";
/// The EFS driver from the overlay `Setup::new` writes beside `out/` (relative paths are relative
/// to the script's folder): no github.com in tests.
pub const LOCAL_OVERLAY: &str = "efs-csi-driver.installSource=path:../efs-overlay";
pub const ISSUER: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";

fn need(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: run `scripts/aws-peer run -- scripts/kube-peer run -- scripts/script-tools run -- \
             cargo test --features peer-tests --test peer_script -- --test-threads=1`"
        )
    })
}

/// One call made while the script ran: who made it (`script` or `eksctl-stand-in`), the tool
/// (`aws`, `kubectl`, `eksctl`, or `state-write` for the stand-in's addon state) and its arguments.
/// `aws eks` calls for addons and Pod Identity associations are logged as `aws` like any other,
/// though the EKS stand-in answers them.
#[derive(Debug, Clone)]
pub struct Call {
    pub caller: String,
    pub tool: String,
    pub args: String,
}

impl Call {
    fn verb(&self, n: usize) -> &str {
        self.args.split_whitespace().nth(n).unwrap_or("")
    }

    /// Whether the call can change anything. eksctl lines are intents: what the stand-in did for
    /// them is logged as its own aws/kubectl/state-write lines.
    pub fn is_write(&self) -> bool {
        const AWS_WRITES: [&str; 11] = [
            "create-", "delete-", "update-", "tag-", "untag-", "attach-", "detach-", "put-", "set-", "add-", "remove-",
        ];
        match self.tool.as_str() {
            "aws" => AWS_WRITES.iter().any(|p| self.verb(1).starts_with(p)),
            "kubectl" => matches!(
                self.verb(0),
                "apply" | "annotate" | "patch" | "create" | "delete" | "label" | "replace" | "edit" | "scale" | "set"
            ),
            "state-write" => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {} {}", self.caller, self.tool, self.args)
    }
}

/// A rendered bundle for one cluster in its own namespace, and the means to run its script.
pub struct Setup {
    _dir: tempfile::TempDir,
    pub out: PathBuf,
    pub namespace: String,
    pub cluster: String,
    log: PathBuf,
    state: PathBuf,
    tools: String,
}

impl Setup {
    /// Resets moto, creates the namespace's EFS overlay (a local copy, as `installSource=path:`
    /// uses it) and renders the three presets into `namespace` with `extra` flags.
    pub fn new(tag: &str, extra: &[&str]) -> Setup {
        Self::render(tag, None, extra)
    }

    /// As [`Setup::new`], with these presets (`--preset`, each in `namespace`) instead of the
    /// default three; `extra` may add `--presets-dir`.
    pub fn with_presets(tag: &str, presets: &[&str], extra: &[&str]) -> Setup {
        Self::render(tag, Some(presets), extra)
    }

    fn render(tag: &str, presets: Option<&[&str]>, extra: &[&str]) -> Setup {
        need("IRSAGEN_AWS_PEER");
        need("IRSAGEN_KUBE_PEER");
        let tools = need("IRSAGEN_SCRIPT_TOOLS");
        let endpoint = need("AWS_ENDPOINT_URL");
        let reset = Command::new("curl")
            .args(["-fsS", "-X", "POST", &format!("{endpoint}/moto-api/reset")])
            .output()
            .unwrap();
        assert!(
            reset.status.success(),
            "moto reset: {}",
            String::from_utf8_lossy(&reset.stderr)
        );
        let dir = tempfile::tempdir().unwrap();
        let suffix = format!(
            "{:x}",
            std::process::id() ^ (dir.path().to_string_lossy().len() as u32 * 7919)
        );
        let namespace = format!("script-{tag}-{suffix}");
        let cluster = format!("script-{tag}-{suffix}");
        write_overlay(&dir.path().join("efs-overlay"), &namespace);
        let out = dir.path().join("out");
        let mut args: Vec<String> = [
            "render",
            "--cluster",
            &cluster,
            "--region",
            "us-east-1",
            "--account",
            ACCOUNT,
            "--oidc-issuer",
            ISSUER,
            "--out-dir",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(list) = presets {
            for p in list {
                args.push("--preset".into());
                args.push(p.to_string());
            }
        }
        for p in presets.unwrap_or(&["cluster-autoscaler", "ebs-csi-driver", "efs-csi-driver"]) {
            args.push("--set".into());
            args.push(format!("{p}.namespace={namespace}"));
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let o = Command::new(env!("CARGO_BIN_EXE_irsagen"))
            .args(&args)
            .output()
            .unwrap();
        assert!(o.status.success(), "render: {}", String::from_utf8_lossy(&o.stderr));
        let state = dir.path().join("stand-in-state");
        std::fs::create_dir_all(&state).unwrap();
        Setup {
            log: dir.path().join("calls.log"),
            state,
            tools,
            out,
            namespace,
            cluster,
            _dir: dir,
        }
    }

    /// Runs `setup-irsa.sh ARGS` with the wrappers and the stand-in first on PATH; returns its
    /// output and the calls it made (the log starts empty for each run).
    pub fn script(&self, args: &[&str], env: &[(&str, &str)]) -> (Output, Vec<Call>) {
        std::fs::write(&self.log, "").unwrap();
        let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peer_script/bin");
        let path = format!(
            "{}:{}:{}",
            bin.display(),
            self.tools,
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new("bash");
        c.arg(self.out.join("setup-irsa.sh"))
            .args(args)
            .env("PATH", path)
            .env("IRSAGEN_CALL_LOG", &self.log)
            .env("IRSAGEN_STANDIN_STATE", &self.state)
            .env("IRSAGEN_STANDIN_ISSUER", ISSUER)
            .env_remove("IRSAGEN_CALLER");
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        (o, self.calls())
    }

    fn calls(&self) -> Vec<Call> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(|l| {
                let mut p = l.splitn(3, '\t');
                Call {
                    caller: p.next().unwrap_or_default().into(),
                    tool: p.next().unwrap_or_default().into(),
                    args: p.next().unwrap_or_default().into(),
                }
            })
            .collect()
    }

    /// The real AWS CLI, not logged (the test's own reads and drifts); must succeed.
    pub fn aws(&self, args: &[&str]) -> String {
        run_ok(Command::new(format!("{}/aws", self.tools)).args(args))
    }

    /// The real kubectl, not logged; must succeed.
    pub fn kubectl(&self, args: &[&str]) -> String {
        run_ok(Command::new(format!("{}/kubectl", self.tools)).args(args))
    }

    /// The EKS stand-in (lib/eks-stand-in, the Pod Identity and addon calls moto does not have)
    /// called directly, not logged (the test's own reads and drifts); must succeed.
    pub fn eks(&self, op: &str, args: &[&str]) -> String {
        let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peer_script/lib/eks-stand-in");
        run_ok(
            Command::new(standin)
                .arg(op)
                .args(["--cluster-name", &self.cluster])
                .args(args)
                .env("IRSAGEN_STANDIN_STATE", &self.state),
        )
    }

    /// The association of ServiceAccount `sa` (in the test's namespace) as the EKS stand-in
    /// keeps it (DescribePodIdentityAssociation's shape); `None` when there is none.
    pub fn association(&self, sa: &str) -> Option<serde_json::Value> {
        let f = self
            .state
            .join(&self.cluster)
            .join("associations")
            .join(format!("{}.{sa}.json", self.namespace));
        let text = std::fs::read_to_string(f).ok()?;
        Some(serde_json::from_str(&text).expect("the stand-in writes JSON"))
    }

    /// Whether the stand-ins hold EKS addon `name` (created by `aws eks create-addon` or eksctl).
    pub fn has_addon(&self, name: &str) -> bool {
        self.state.join(&self.cluster).join("addons").join(name).is_file()
    }

    /// resourceVersion of every ServiceAccount and Deployment in the namespace: a change is a write.
    pub fn resource_versions(&self) -> BTreeMap<String, String> {
        self.kubectl(&[
            "get",
            "serviceaccounts,deployments",
            "-n",
            &self.namespace,
            "-o",
            r#"jsonpath={range .items[*]}{.kind}/{.metadata.name}{"\t"}{.metadata.resourceVersion}{"\n"}{end}"#,
        ])
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    pub fn role_name(&self, sa: &str) -> String {
        format!("irsa-{}-{}-{sa}", self.cluster, self.namespace)
    }

    pub fn role_arn(&self, sa: &str) -> String {
        format!("arn:aws:iam::{ACCOUNT}:role/{}", self.role_name(sa))
    }

    pub fn annotation(&self, sa: &str) -> String {
        self.kubectl(&[
            "get",
            "serviceaccount",
            sa,
            "-n",
            &self.namespace,
            "-o",
            r"jsonpath={.metadata.annotations.eks\.amazonaws\.com/role-arn}",
        ])
    }

    /// Deletes the test's namespace (its ServiceAccounts and Deployment), without waiting.
    pub fn cleanup(&self) {
        let _ = Command::new(format!("{}/kubectl", self.tools))
            .args(["delete", "namespace", &self.namespace, "--wait=false"])
            .output();
    }
}

fn run_ok(c: &mut Command) -> String {
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "{c:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A stand-in for the EFS driver's stable overlay, as a downloaded copy would be: the controller
/// ServiceAccount (no annotation, like upstream's) and Deployment running as it.
fn write_overlay(dir: &Path, namespace: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {namespace}\nresources:\n  - controller.yaml\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("controller.yaml"),
        r#"apiVersion: v1
kind: ServiceAccount
metadata:
  name: efs-csi-controller-sa
  labels:
    app.kubernetes.io/name: aws-efs-csi-driver
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: efs-csi-controller
spec:
  replicas: 0
  selector:
    matchLabels: {app: efs-csi-controller}
  template:
    metadata:
      labels: {app: efs-csi-controller}
    spec:
      serviceAccountName: efs-csi-controller-sa
      containers:
        - name: efs-plugin
          image: public.ecr.aws/efs-csi-driver/amazon/aws-efs-csi-driver:v1.7.7
"#,
    )
    .unwrap();
}

/// The calls that can change something.
pub fn writes(calls: &[Call]) -> Vec<String> {
    calls.iter().filter(|c| c.is_write()).map(ToString::to_string).collect()
}

/// stdout + stderr of a run, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
