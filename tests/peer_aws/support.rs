//! Shared helpers: the peer (moto) it runs against, serial tests with a reset emulator, the
//! guide's bundle, an IAM client for out-of-band changes, and the CLI binary.

use irsagen::aws::{self, AwsOptions, ExecReport, Plan};
use irsagen::bundle::Bundle;
use irsagen::context::{ClusterInputs, Context};
use irsagen::overrides::PresetOverrides;
use irsagen::render::Renderer;
use irsagen::report::{Check, Status};
use std::io::{Read, Write};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

/// moto's account (`MOTO_ACCOUNT_ID` set by scripts/aws-peer).
pub const ACCOUNT: &str = "123456789012";
/// The guide's cluster.
pub const CLUSTER: &str = "smallest-cluster";
/// An issuer (AWS's documented example id).
pub const ISSUER: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
/// Its IAM host/path.
pub const HOST: &str = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";

/// The provider ARN for [`ISSUER`].
pub fn provider_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}")
}

/// The emulator's URL. A missing peer is a failure, never a skip.
pub fn endpoint() -> String {
    let peer = std::env::var("IRSAGEN_AWS_PEER").unwrap_or_default();
    let url = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    if peer != "1" || url.is_empty() {
        panic!(
            "the AWS peer suite needs moto: run it as `scripts/aws-peer run -- cargo test --features peer-tests --test peer_aws -- --test-threads=1` \
             (IRSAGEN_AWS_PEER={peer:?}, AWS_ENDPOINT_URL={url:?})"
        );
    }
    url
}

static SERIAL: Mutex<()> = Mutex::new(());

/// `POST /moto-api/reset`: forget every resource.
fn reset(url: &str) {
    let hostport = url
        .strip_prefix("http://")
        .expect("AWS_ENDPOINT_URL is http://host:port")
        .trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(hostport).unwrap_or_else(|e| panic!("cannot reach moto at {url}: {e}"));
    write!(
        s,
        "POST /moto-api/reset HTTP/1.1\r\nHost: {hostport}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"),
        "moto reset failed: {resp}"
    );
}

/// Runs one test body: serially, against a freshly reset emulator, on a current-thread runtime.
pub fn peer_test<F: std::future::Future<Output = ()>>(body: F) {
    let url = endpoint();
    let _guard: MutexGuard<()> = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    reset(&url);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(body);
}

/// The guide's cluster inputs, with the issuer.
pub fn inputs() -> ClusterInputs {
    ClusterInputs {
        cluster: Some(CLUSTER.into()),
        region: Some("us-east-1".into()),
        account: Some(ACCOUNT.into()),
        partition: None,
        oidc_issuer: Some(ISSUER.into()),
        tags: Default::default(),
        kubernetes_version: None,
    }
}

/// Renders through the library.
pub fn render(inputs: &ClusterInputs, presets: &[&str]) -> Bundle {
    let selection: Vec<(String, PresetOverrides)> = presets
        .iter()
        .map(|p| (p.to_string(), PresetOverrides::default()))
        .collect();
    let ctx = Context::new(inputs).expect("valid context");
    Renderer::new(None, None)
        .unwrap()
        .render(&ctx, &selection)
        .expect("renders")
}

/// The guide's bundle: three presets.
pub fn guide_bundle() -> Bundle {
    render(&inputs(), &irsagen::preset::DEFAULT_PRESETS)
}

/// Options the CLI would build for the guide's cluster.
pub fn opts() -> AwsOptions {
    AwsOptions {
        region: Some("us-east-1".into()),
        ..AwsOptions::default()
    }
}

/// plan + execute through the library.
pub async fn apply(bundle: &Bundle, adopt: bool) -> (Plan, ExecReport) {
    let plan = aws::plan(&opts(), bundle, adopt).await.expect("plan");
    let report = aws::execute_report(&opts(), &plan).await.expect("execute");
    (plan, report)
}

/// verify through the library.
pub async fn verify(bundle: &Bundle) -> Vec<Check> {
    aws::verify(&opts(), bundle).await.expect("verify runs")
}

/// The check `name` of `preset`.
pub fn check<'a>(checks: &'a [Check], preset: Option<&str>, name: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.preset.as_deref() == preset && c.name == name)
        .unwrap_or_else(|| panic!("no check {preset:?}/{name} in {}", irsagen::report::to_text(checks)))
}

/// Asserts that exactly the checks in `failing` fail (as `(preset, name)`), and returns them.
pub fn assert_failing<'a>(checks: &'a [Check], failing: &[(Option<&str>, &str)]) -> Vec<&'a Check> {
    let got: Vec<(Option<&str>, &str)> = checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| (c.preset.as_deref(), c.name.as_str()))
        .collect();
    assert_eq!(got, failing, "{}", irsagen::report::to_text(checks));
    checks.iter().filter(|c| c.status == Status::Fail).collect()
}

/// An IAM client straight from the environment, for out-of-band changes.
pub async fn iam() -> aws_sdk_iam::Client {
    let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    aws_sdk_iam::Client::new(&conf)
}

/// An EKS client straight from the environment.
pub async fn eks() -> aws_sdk_eks::Client {
    let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    aws_sdk_eks::Client::new(&conf)
}

/// The `irsagen` binary (it inherits the peer's AWS environment).
pub fn irsagen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_irsagen"))
        .args(args)
        .output()
        .expect("runs irsagen")
}

/// `--cluster … --region … --account … --oidc-issuer …` for the guide's cluster.
pub fn guide_args() -> Vec<&'static str> {
    vec![
        "--cluster",
        CLUSTER,
        "--region",
        "us-east-1",
        "--account",
        ACCOUNT,
        "--oidc-issuer",
        ISSUER,
    ]
}

/// stdout + stderr as text, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A trust policy with the given `Condition`, for this cluster's provider.
pub fn trust_with(condition: serde_json::Value) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn()},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": condition,
        }]
    })
    .to_string()
}

/// The role name render gives a preset of the guide's cluster.
pub fn role_of(bundle: &Bundle, preset: &str) -> String {
    bundle
        .components
        .iter()
        .find(|c| c.preset == preset)
        .unwrap()
        .role_name
        .clone()
}

/// The policy ARN of a preset.
pub fn policy_of(bundle: &Bundle, preset: &str) -> String {
    bundle
        .components
        .iter()
        .find(|c| c.preset == preset)
        .unwrap()
        .policy_arn
        .clone()
}

/// The live default document of a policy, decoded.
pub async fn default_document(iam: &aws_sdk_iam::Client, arn: &str) -> serde_json::Value {
    let p = iam.get_policy().policy_arn(arn).send().await.unwrap().policy.unwrap();
    let v = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(p.default_version_id().unwrap())
        .send()
        .await
        .unwrap();
    aws::decode_document(v.policy_version.unwrap().document().unwrap(), arn).unwrap()
}

/// scripts/aws-fault-proxy in front of moto, for one test: forwards every request except the
/// faults it was started with, and logs each request as `Action forward|drop|silent|error`.
/// Stopped (killed) when dropped.
pub struct FaultProxy {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl FaultProxy {
    /// Starts the proxy with fault arguments such as `["--drop", "CreateRole:1"]`.
    pub fn start(faults: &[&str]) -> Self {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("proxy.log");
        let mut child = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/aws-fault-proxy"))
            .args(["--upstream", &endpoint(), "--log"])
            .arg(&log)
            .args(faults)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs scripts/aws-fault-proxy");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("aws-fault-proxy did not start: {line:?}"))
            .to_string();
        FaultProxy {
            child,
            url,
            log,
            _dir: dir,
        }
    }

    /// Options that send every AWS call through the proxy.
    pub fn opts(&self) -> AwsOptions {
        AwsOptions {
            endpoint_url: Some(self.url.clone()),
            ..opts()
        }
    }

    /// The requests seen so far, `Action what`, in order.
    pub fn log(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// How many log lines are exactly `line`.
    pub fn count(&self, line: &str) -> usize {
        self.log().iter().filter(|l| l.as_str() == line).count()
    }

    /// The `irsagen` binary with every AWS call going through the proxy.
    pub fn irsagen(&self, args: &[&str]) -> Output {
        run_bounded(
            Command::new(env!("CARGO_BIN_EXE_irsagen"))
                .args(args)
                .env("AWS_ENDPOINT_URL", &self.url),
        )
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command with stdin closed and fails the test (instead of hanging the suite) when it
/// is still running after two minutes: the tests with silent servers must end on their own.
pub fn run_bounded(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("still running after 120 s (killed):\n{}", text(&out));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Role names in moto.
pub async fn role_names(iam: &aws_sdk_iam::Client) -> Vec<String> {
    iam.list_roles()
        .send()
        .await
        .unwrap()
        .roles()
        .iter()
        .map(|r| r.role_name().to_string())
        .collect()
}

/// The policy ARNs attached to a role in moto.
pub async fn attached(iam: &aws_sdk_iam::Client, role: &str) -> Vec<String> {
    iam.list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect()
}

/// A role's tags in moto, sorted.
pub async fn role_tags(iam: &aws_sdk_iam::Client, role: &str) -> Vec<(String, String)> {
    let r = iam.get_role().role_name(role).send().await.unwrap().role.unwrap();
    let mut t: Vec<(String, String)> = r
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    t.sort();
    t
}

/// A role's trust policy in moto, decoded.
pub async fn role_trust(iam: &aws_sdk_iam::Client, role: &str) -> serde_json::Value {
    let r = iam.get_role().role_name(role).send().await.unwrap().role.unwrap();
    aws::decode_document(r.assume_role_policy_document().unwrap(), role).unwrap()
}

/// Creates a customer-managed policy in moto and returns its ARN.
pub async fn create_policy(iam: &aws_sdk_iam::Client, name: &str, doc: &serde_json::Value) -> String {
    iam.create_policy()
        .policy_name(name)
        .policy_document(doc.to_string())
        .send()
        .await
        .expect("moto creates the policy")
        .policy
        .and_then(|p| p.arn)
        .expect("the policy has an ARN")
}
