//! Role names of a long cluster name, end to end: cut to IAM's 64 characters with the
//! ServiceAccount's name kept, unique per preset, and the same name in every file that
//! states it (eksctl ClusterConfig, addon, Helm values, ServiceAccount manifests, trust
//! policy's role, setup script).

use crate::support::*;
use irsagen::bundle::layout;
use serde_json::Value;

/// 60 characters: long enough that every default role name is cut, short enough that the
/// CloudFormation stack eksctl derives (`eksctl-<cluster>-addon-iamserviceaccount-…`) fits 128.
const LONG_CLUSTER: &str = "smallest-self-host-production-eu-central-1-analytics-cluster";

/// Every string value under `key`, anywhere in `v`.
fn values_of<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match x {
                    Value::String(s) if k == key => out.push(s),
                    _ => values_of(x, key, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| values_of(x, key, out)),
        _ => {}
    }
}

fn yaml(b: &irsagen::bundle::Bundle, path: &str) -> Value {
    let a = b.get(path).unwrap_or_else(|| panic!("{path} rendered"));
    serde_saphyr::from_str(&a.content).unwrap()
}

#[test]
fn long_cluster_names_keep_the_service_account_in_every_file() {
    assert_eq!(LONG_CLUSTER.len(), 60);
    let mut inputs = guide_inputs();
    inputs.cluster = Some(LONG_CLUSTER.into());
    let b = render(&inputs, &guide_selection()).expect("a 60-character cluster renders");
    let account = "arn:aws:iam::123456789012:role/";

    let mut names: Vec<&str> = Vec::new();
    for c in &b.components {
        let r = c.role_name.as_str();
        let sa = &c.service_account.name;
        let full = format!("irsa-{LONG_CLUSTER}-{}-{sa}", c.service_account.namespace);
        assert!(full.len() > 64, "the test needs a name that is cut: {full}");
        assert!(r.len() <= 64, "{r}");
        assert!(
            r.contains(&format!("-{}-{sa}-", c.service_account.namespace)),
            "namespace and SA kept: {r}"
        );
        assert!(r.starts_with("irsa-smallest-self-"), "the cluster's start kept: {r}");
        assert_eq!(c.role_arn, format!("{account}{r}"));
        names.push(r);

        // The ServiceAccount manifest's annotation names this role.
        let sa_doc = yaml(&b, &layout::service_account(&c.preset));
        assert_eq!(
            sa_doc["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
            c.role_arn.as_str()
        );
        // The setup script creates this role under this name.
        assert!(
            b.get(layout::SETUP_SCRIPT).unwrap().content.contains(r),
            "setup script creates {r}"
        );
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "one role name per preset: {names:?}");

    // eksctl: every iamserviceaccount's roleName, and the addon's role ARN.
    let eksctl = yaml(&b, layout::EKSCTL_CONFIG);
    let mut role_names = Vec::new();
    values_of(&eksctl["iam"], "roleName", &mut role_names);
    role_names.sort();
    assert_eq!(role_names, unique, "eksctl's roleName for each ServiceAccount");
    let mut addon_arns = Vec::new();
    values_of(&eksctl["addons"], "serviceAccountRoleARN", &mut addon_arns);
    let ebs = b.components.iter().find(|c| c.preset == "ebs-csi-driver").unwrap();
    assert_eq!(addon_arns, vec![ebs.role_arn.as_str()]);

    // Helm values: the autoscaler's annotation, wherever the layout puts it.
    let ca = b.components.iter().find(|c| c.preset == "cluster-autoscaler").unwrap();
    let helm = yaml(&b, &layout::helm_values("cluster-autoscaler"));
    let mut annotations = Vec::new();
    values_of(&helm, "eks.amazonaws.com/role-arn", &mut annotations);
    assert_eq!(annotations, vec![ca.role_arn.as_str()]);

    // No file names a role that is not one of the three (e.g. an uncut or differently cut name).
    for a in &b.artifacts {
        for (i, _) in a.content.match_indices(account) {
            let rest = &a.content[i + account.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(*c))
                .collect();
            assert!(unique.contains(&name.as_str()), "{}: role/{name}", a.path);
        }
    }
}

#[test]
fn long_cluster_names_render_the_same_role_names_through_the_cli() {
    let o = irsagen()
        .args([
            "render",
            "--cluster",
            LONG_CLUSTER,
            "--region",
            "us-east-1",
            "--account",
            "123456789012",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = String::from_utf8(o.stdout).unwrap();
    let mut inputs = guide_inputs();
    inputs.cluster = Some(LONG_CLUSTER.into());
    inputs.oidc_issuer = None;
    for c in &render(&inputs, &guide_selection()).unwrap().components {
        assert!(s.contains(&format!("roleName: \"{}\"", c.role_name)), "{}", c.role_name);
    }
}
