//! Context selection and the errors of the environment: RBAC denial, unreachable server,
//! unknown context, explicit --kubeconfig.

use crate::support::*;
use irsagen::kube::{self, ApplyFlags, KubeOptions};

#[tokio::test]
async fn rbac_denial_names_verb_resource_and_user() {
    let w = World::new("rbac", true).await;
    let b = guide_bundle(&w.cluster, &w.ns);
    let err = kube::verify(&context("irsagen-nobody"), &b, false)
        .await
        .expect_err("403");
    assert_eq!(err.exit_code(), 3);
    let msg = err.to_string();
    assert!(
        msg.contains("RBAC denied `list serviceaccounts` at cluster scope for user irsagen-nobody"),
        "{msg}"
    );
    let err = kube::plan(&context("irsagen-nobody"), &b, ApplyFlags::default())
        .await
        .expect_err("403");
    let msg = err.to_string();
    assert!(
        msg.contains("RBAC denied `get namespaces` at cluster scope for user irsagen-nobody"),
        "{msg}"
    );
    w.cleanup().await;
}

#[tokio::test]
async fn unreachable_server_is_named() {
    require_peer();
    let b = guide_bundle(&unique("c"), "kube-system");
    let err = kube::verify(&context("irsagen-unreachable"), &b, false)
        .await
        .expect_err("unreachable");
    assert_eq!(err.exit_code(), 3);
    let msg = err.to_string();
    assert!(
        msg.starts_with("cannot reach the Kubernetes API server at https://127.0.0.1:"),
        "{msg}"
    );
    assert!(
        msg.contains("context `irsagen-unreachable`") && msg.contains("Connection refused"),
        "{msg}"
    );
    let err = kube::plan(&context("irsagen-unreachable"), &b, ApplyFlags::default())
        .await
        .expect_err("unreachable");
    assert!(
        err.to_string().starts_with("cannot reach the Kubernetes API server"),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_context_and_explicit_kubeconfig() {
    let w = World::new("ctx", true).await;
    let b = guide_bundle(&w.cluster, &w.ns);
    let err = kube::verify(&context("no-such-context"), &b, false)
        .await
        .expect_err("unknown context");
    let msg = err.to_string();
    assert!(
        msg.contains("context `no-such-context` is not in the kubeconfig") && msg.contains("irsagen-admin"),
        "{msg}"
    );

    // --kubeconfig wins over KUBECONFIG: a missing file is an error naming it...
    let missing = KubeOptions {
        kubeconfig: Some("/nonexistent/kubeconfig".into()),
        ..Default::default()
    };
    let msg = kube::verify(&missing, &b, false)
        .await
        .expect_err("missing file")
        .to_string();
    assert!(
        msg.contains("/nonexistent/kubeconfig")
            && msg.contains(&format!(
                "aws eks update-kubeconfig --name {} --region {REGION}",
                w.cluster
            )),
        "{msg}"
    );
    // ...and the peer's file given explicitly, with an explicit context, works.
    let explicit = KubeOptions {
        kubeconfig: Some(std::env::var("KUBECONFIG").unwrap().into()),
        context: Some("irsagen-admin".into()),
        ..Default::default()
    };
    let checks = kube::verify(&explicit, &b, false)
        .await
        .expect("verify with --kubeconfig --context");
    // It reached this cluster: the three ServiceAccounts of the test's namespace are missing.
    let text = irsagen::report::to_text(&checks);
    assert_eq!(checks.len(), 3, "{text}");
    for (c, sa) in checks
        .iter()
        .zip(["cluster-autoscaler", "ebs-csi-controller-sa", "efs-csi-controller-sa"])
    {
        assert!(
            c.name == "sa-exists"
                && c.status == irsagen::report::Status::Fail
                && c.detail == format!("ServiceAccount {}/{sa} does not exist", w.ns),
            "{text}"
        );
    }
    w.cleanup().await;
}

/// A TCP listener on 127.0.0.1 that accepts every connection and never answers (nor closes),
/// and a kubeconfig whose contexts `silent-https` and `silent-http` point at it. The listener
/// thread lives until the test process ends.
fn silent_server(dir: &std::path::Path) -> (std::path::PathBuf, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s); // keep it open, read nothing, write nothing
        }
    });
    let kubeconfig = dir.join("silent.kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: silent-https\n\
             clusters:\n\
             - name: https\n  cluster: {{server: 'https://127.0.0.1:{port}', insecure-skip-tls-verify: true}}\n\
             - name: http\n  cluster: {{server: 'http://127.0.0.1:{port}'}}\n\
             users:\n- name: u\n  user: {{token: not-a-secret}}\n\
             contexts:\n\
             - name: silent-https\n  context: {{cluster: https, user: u}}\n\
             - name: silent-http\n  context: {{cluster: http, user: u}}\n"
        ),
    )
    .unwrap();
    (kubeconfig, port)
}

#[tokio::test]
async fn silent_server_times_out_naming_the_call_and_the_endpoint() {
    require_peer();
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, port) = silent_server(dir.path());
    let b = guide_bundle(&unique("c"), "kube-system");
    // Silent during the TLS handshake (https: the connect timeout) and after the request was
    // sent (http: the read timeout).
    for (context, scheme) in [("silent-https", "https"), ("silent-http", "http")] {
        let opts = KubeOptions {
            kubeconfig: Some(kubeconfig.clone()),
            context: Some(context.into()),
            timeout: std::time::Duration::from_secs(1),
        };
        let endpoint = format!("{scheme}://127.0.0.1:{port}");
        // The test's own bound: without irsagen's timeouts these calls would never return.
        let bound = std::time::Duration::from_secs(30);
        let err = tokio::time::timeout(bound, kube::plan(&opts, &b, ApplyFlags::default()))
            .await
            .unwrap_or_else(|_| panic!("{context}: plan still waiting after {bound:?}"))
            .expect_err("a silent server is an error");
        assert_eq!(err.exit_code(), 3);
        let want = format!(
            "`get namespaces` at cluster scope timed out: no answer within 1 s from the Kubernetes API server at {endpoint} (context `{context}`)"
        );
        assert!(err.to_string().starts_with(&want), "{context}: {err}");
        assert!(err.to_string().contains("--timeout"), "{err}");

        let err = tokio::time::timeout(bound, kube::verify(&opts, &b, false))
            .await
            .unwrap_or_else(|_| panic!("{context}: verify still waiting after {bound:?}"))
            .expect_err("a silent server is an error");
        assert_eq!(err.exit_code(), 3);
        assert!(
            err.to_string()
                .starts_with(&format!("`list serviceaccounts` at cluster scope timed out: no answer within 1 s from the Kubernetes API server at {endpoint}")),
            "{context}: {err}"
        );
    }

    // The binary: --timeout reaches every call; verify exits 3 (environment), not 1 (drift).
    for cmd in [&["verify"][..], &["apply", "--yes"][..]] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_irsagen"))
            .args(cmd)
            .args(["--kube", "--cluster", "c", "--region", REGION, "--account", ACCOUNT])
            .args([
                "--kubeconfig",
                kubeconfig.to_str().unwrap(),
                "--context",
                "silent-http",
                "--timeout",
                "1",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run irsagen");
        let start = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > std::time::Duration::from_secs(60) {
                let _ = child.kill();
                panic!("irsagen {cmd:?} still waiting on a silent server after 60 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{cmd:?}: {err}");
        assert!(
            err.contains("timed out: no answer within 1 s from the Kubernetes API server at http://127.0.0.1:")
                && err.contains("(context `silent-http`)"),
            "{cmd:?}: {err}"
        );
    }
}
