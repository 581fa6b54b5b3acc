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
        let eks = eks().await;
        eks.create_cluster()
            .name(CLUSTER)
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/eks-cluster"))
            .resources_vpc_config(aws_sdk_eks::types::VpcConfigRequest::builder().build())
            .send()
            .await
            .expect("moto creates the cluster");
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
