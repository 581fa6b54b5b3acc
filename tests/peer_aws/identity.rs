//! whoami, `--account auto`, `--oidc-issuer auto`, and the missing-credentials message.

use crate::support::*;
use irsagen::aws;

#[test]
fn whoami_reports_the_emulators_caller() {
    peer_test(async {
        let id = aws::whoami(&opts()).await.expect("whoami");
        assert_eq!(id.account, ACCOUNT);
        assert!(id.arn.starts_with(&format!("arn:aws:sts::{ACCOUNT}:")), "{}", id.arn);
        assert!(!id.user_id.is_empty());
        // The same through the CLI, as JSON.
        let out = irsagen(&["whoami", "-o", "json"]);
        assert!(out.status.success(), "{}", text(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["account"], ACCOUNT);
    });
}

#[test]
fn account_auto_renders_with_the_callers_account() {
    peer_test(async {
        let out = irsagen(&[
            "render",
            "--cluster",
            CLUSTER,
            "--region",
            "us-east-1",
            "--account",
            "auto",
            "--oidc-issuer",
            ISSUER,
            "--preset",
            "cluster-autoscaler",
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(
            s.contains(&format!(
                "arn:aws:iam::{ACCOUNT}:role/irsa-{CLUSTER}-kube-system-cluster-autoscaler"
            )),
            "{s}"
        );
        assert!(
            s.contains(&format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}")),
            "{s}"
        );
    });
}

#[test]
fn oidc_issuer_auto_reads_the_cluster_from_eks() {
    peer_test(async {
        create_cluster(None).await;
        let issuer = aws::oidc_issuer(&opts(), CLUSTER).await.expect("issuer");
        // moto's id is 10 mixed-case characters, not the real 32 hex: only the shape is checked.
        let id = issuer
            .strip_prefix("https://oidc.eks.us-east-1.amazonaws.com/id/")
            .unwrap_or_else(|| panic!("{issuer}"));
        assert!(
            !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{issuer}"
        );

        let out = irsagen(&[
            "render",
            "--cluster",
            CLUSTER,
            "--region",
            "us-east-1",
            "--account",
            "auto",
            "--oidc-issuer",
            "auto",
            "--preset",
            "ebs-csi-driver",
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let s = String::from_utf8_lossy(&out.stdout);
        let host = issuer.trim_start_matches("https://");
        assert!(
            s.contains(&format!(
                "\"{host}:sub\": \"system:serviceaccount:kube-system:ebs-csi-controller-sa\""
            )),
            "{s}"
        );

        // An unknown cluster is a clear error, exit 3.
        let out = irsagen(&[
            "render",
            "--cluster",
            "nope",
            "--region",
            "us-east-1",
            "--account",
            ACCOUNT,
            "--oidc-issuer",
            "auto",
        ]);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("`nope` was not found") && err.contains("--oidc-issuer URL"),
            "{err}"
        );
    });
}

#[test]
fn missing_credentials_name_the_chain() {
    peer_test(async {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_irsagen"))
            .args(["whoami", "--region", "us-east-1"])
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", "/nonexistent/irsagen-config")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/irsagen-credentials")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        for want in [
            "no AWS credentials found",
            "AWS_ACCESS_KEY_ID",
            "--profile",
            "SSO",
            "web identity",
            "IMDS",
        ] {
            assert!(err.contains(want), "missing {want:?} in: {err}");
        }
    });
}

/// A 127.0.0.1 port where nothing listens.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn a_refused_connection_is_not_retried_and_names_the_endpoint() {
    peer_test(async {
        let url = format!("http://127.0.0.1:{}", closed_port());
        let o = aws::AwsOptions {
            endpoint_url: Some(url.clone()),
            ..opts()
        };
        let clients = aws::Clients::new(&o).await.unwrap();
        let err = clients
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| aws::client::api_error("sts:GetCallerIdentity", "", e))
            .expect_err("nothing listens");
        assert_eq!(clients.log.stats().calls, 1, "one attempt, no retry");
        assert_eq!(
            err.to_string(),
            format!(
                "cannot reach AWS for sts:GetCallerIdentity: {url} refused the connection (nothing listens there; not retried). \
                 Check the network, the region and AWS_ENDPOINT_URL if set"
            )
        );

        // Through the CLI: one readable line, no SDK debug text.
        for args in [
            vec!["whoami"],
            vec![
                "apply",
                "--aws",
                "--dry-run",
                "--cluster",
                CLUSTER,
                "--region",
                "us-east-1",
                "--account",
                ACCOUNT,
                "--oidc-issuer",
                ISSUER,
            ],
        ] {
            let out = run_bounded(
                std::process::Command::new(env!("CARGO_BIN_EXE_irsagen"))
                    .args(&args)
                    .env("AWS_ENDPOINT_URL", &url),
            );
            assert_eq!(out.status.code(), Some(3), "{}", text(&out));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(&format!("{url} refused the connection")), "{err}");
            for debug in ["DispatchFailure", "ConnectorError", "source:", "Some("] {
                assert!(!err.contains(debug), "{debug} in {err}");
            }
            assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        }
    });
}

/// An AWS config home with profile `peer` holding the keys of a moto IAM user `peer-user`.
async fn peer_profile() -> (tempfile::TempDir, String) {
    let iam = iam().await;
    iam.create_user().user_name("peer-user").send().await.unwrap();
    let key = iam
        .create_access_key()
        .user_name("peer-user")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("credentials"),
        format!(
            "[peer]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            key.access_key_id(),
            key.secret_access_key()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("config"), "[profile peer]\nregion = us-east-1\n").unwrap();
    (dir, format!("arn:aws:iam::{ACCOUNT}:user/peer-user"))
}

fn whoami_arn(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_irsagen"));
    cmd.args(["whoami", "-o", "json"])
        .args(args)
        .env("AWS_CONFIG_FILE", dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_bounded(&mut cmd)
}

fn arn_of(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["arn"].as_str().unwrap().to_string()
}

#[test]
fn an_explicit_profile_wins_over_environment_keys_and_an_unknown_one_is_bad_input() {
    peer_test(async {
        let (dir, peer_arn) = peer_profile().await;
        // The environment holds the peer's dummy keys (scripts/aws-peer exports them).
        assert!(std::env::var("AWS_ACCESS_KEY_ID").is_ok());
        assert_eq!(arn_of(&whoami_arn(dir.path(), &["--profile", "peer"], &[])), peer_arn);
        assert_ne!(arn_of(&whoami_arn(dir.path(), &[], &[])), peer_arn);
        // AWS_PROFILE alone keeps the SDK's order: environment keys first.
        assert_ne!(
            arn_of(&whoami_arn(dir.path(), &[], &[("AWS_PROFILE", "peer")])),
            peer_arn
        );

        let out = whoami_arn(dir.path(), &["--profile", "nosuch"], &[]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        // With `-o json` the error is a JSON object on stdout.
        let err: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON error object");
        assert_eq!(err["exitCode"], 2, "{err}");
        let err = err["error"].as_str().unwrap_or_default().to_string();
        assert!(
            err.contains("invalid --profile `nosuch`: no such profile in the AWS config files")
                && err.contains("known profiles: peer"),
            "{err}"
        );
        // The same for apply: refused before any AWS call, nothing written.
        let mut args = vec!["apply", "--aws", "--yes", "--profile", "nosuch"];
        args.extend(guide_args());
        let out = run_bounded(
            std::process::Command::new(env!("CARGO_BIN_EXE_irsagen"))
                .args(&args)
                .env("AWS_CONFIG_FILE", dir.path().join("config"))
                .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("credentials")),
        );
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(role_names(&iam().await).await.is_empty());
    });
}

#[test]
fn oidc_issuer_auto_also_reads_the_kubernetes_version_unless_one_is_given() {
    peer_test(async {
        create_cluster(Some("1.31")).await;
        let facts = aws::describe_cluster(&opts(), CLUSTER).await.expect("describe");
        assert_eq!(facts.kubernetes_version.as_deref(), Some("1.31"));
        let render = |extra: &[&str]| {
            let mut args = vec![
                "render",
                "--cluster",
                CLUSTER,
                "--region",
                "us-east-1",
                "--account",
                ACCOUNT,
                "--oidc-issuer",
                "auto",
                "--preset",
                "cluster-autoscaler",
            ];
            args.extend_from_slice(extra);
            irsagen(&args)
        };
        // The cluster's 1.31 picks the 1.31 autoscaler image.
        let out = render(&[]);
        assert!(out.status.success(), "{}", text(&out));
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(s.contains("tag: \"v1.31.5\""), "{s}");
        // A version given by the user wins over the cluster's.
        let out = render(&["--kubernetes-version", "1.30"]);
        assert!(out.status.success(), "{}", text(&out));
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(s.contains("tag: \"v1.30.7\"") && !s.contains("v1.31.5"), "{s}");
    });
}

/// The guide's cluster in moto's EKS, at `version` (moto's default when `None`).
async fn create_cluster(version: Option<&str>) {
    eks()
        .await
        .create_cluster()
        .name(CLUSTER)
        .set_version(version.map(str::to_string))
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/eks-cluster"))
        .resources_vpc_config(aws_sdk_eks::types::VpcConfigRequest::builder().build())
        .send()
        .await
        .expect("moto creates the cluster");
}
