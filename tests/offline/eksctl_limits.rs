//! What eksctl's CloudFormation stacks cannot take is refused at render time (exit 2, nothing
//! written), and only there: `apply`/`verify` create roles without a stack.

use crate::support::*;
use irsagen::context::Context;
use irsagen::overrides::PresetOverrides;
use irsagen::render::Renderer;

fn autoscaler(o: PresetOverrides) -> Vec<(String, PresetOverrides)> {
    vec![("cluster-autoscaler".to_string(), o)]
}

fn with_cluster(name: &str) -> irsagen::context::ClusterInputs {
    let mut i = guide_inputs();
    i.cluster = Some(name.to_string());
    i
}

/// `eksctl-` + cluster + `-addon-iamserviceaccount-` + `kube-system` + `-` + `cluster-autoscaler`
/// leaves 66 characters of 128 for the cluster name.
const ROOM: usize = 128 - "eksctl--addon-iamserviceaccount-kube-system-cluster-autoscaler".len();

#[test]
fn stack_name_of_exactly_128_passes_and_129_is_refused() {
    assert_eq!(ROOM, 66);
    let fits = "c".repeat(ROOM);
    let b = render(&with_cluster(&fits), &autoscaler(Default::default())).unwrap();
    let stack = irsagen::eksctl::stack_name(&fits, "kube-system", "cluster-autoscaler");
    assert_eq!(stack.len(), 128);
    assert!(b.get("eksctl/cluster-config.yaml").is_some());

    let long = "c".repeat(ROOM + 1);
    let e = render(&with_cluster(&long), &autoscaler(Default::default()))
        .unwrap_err()
        .to_string();
    for want in [
        "eksctl stack name for kube-system/cluster-autoscaler",
        "is 129 characters",
        "at most 128",
        "cluster name of at most 66 characters",
        "irsagen apply --aws",
    ] {
        assert!(e.contains(want), "`{want}` missing in: {e}");
    }
}

#[test]
fn apply_and_verify_render_without_the_stack_limits() {
    let long = "c".repeat(ROOM + 1);
    let ctx = Context::new(&with_cluster(&long)).unwrap();
    let r = Renderer::new(None, None).unwrap().without_eksctl_limits();
    let b = r.render(&ctx, &autoscaler(Default::default())).unwrap();
    assert!(b.components[0].role_name.len() <= 64);
}

#[test]
fn characters_cloudformation_refuses_in_a_stack_name() {
    let e = render(&with_cluster("my_cluster"), &autoscaler(Default::default()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("contains `_`") && e.contains("letters, digits and `-`"),
        "{e}"
    );
    let o = PresetOverrides {
        service_account: Some("cluster.autoscaler".into()),
        ..Default::default()
    };
    let e = render(&guide_inputs(), &autoscaler(o)).unwrap_err().to_string();
    assert!(e.contains("contains `.`"), "{e}");
}

#[test]
fn empty_tag_values_are_refused_for_eksctl_only() {
    let o = PresetOverrides {
        tags: [("Team".to_string(), String::new())].into(),
        ..Default::default()
    };
    let e = render(&guide_inputs(), &autoscaler(o.clone())).unwrap_err().to_string();
    for want in [
        "presets.cluster-autoscaler.tags.Team",
        "1-256 characters",
        "apply --aws",
    ] {
        assert!(e.contains(want), "`{want}` missing in: {e}");
    }
    // One character is enough; and the direct route takes IAM's rule (empty is fine).
    let one = PresetOverrides {
        tags: [("Team".to_string(), "x".to_string())].into(),
        ..Default::default()
    };
    render(&guide_inputs(), &autoscaler(one)).unwrap();
    let ctx = Context::new(&guide_inputs()).unwrap();
    let r = Renderer::new(None, None).unwrap().without_eksctl_limits();
    r.render(&ctx, &autoscaler(o)).unwrap();
    // A value of 256 characters is the most a stack tag takes; IAM's rule refuses 257 anyway.
    let max = PresetOverrides {
        tags: [("Team".to_string(), "v".repeat(256))].into(),
        ..Default::default()
    };
    render(&guide_inputs(), &autoscaler(max)).unwrap();
}

#[test]
fn the_cli_refuses_a_too_long_cluster_with_exit_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let long = "c".repeat(ROOM + 1);
    let o = irsagen()
        .args([
            "render",
            "--cluster",
            &long,
            "--region",
            "us-east-1",
            "--account",
            "123456789012",
        ])
        .args(["--preset", "cluster-autoscaler", "--out-dir", out.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("at most 128"), "{stderr}");
    assert!(!out.exists(), "nothing is written");
}
