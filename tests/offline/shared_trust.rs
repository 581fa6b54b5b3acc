//! One role trusted by several clusters (`trustClusters`): one statement per provider in name
//! order, the same trust rendered in every cluster that shares the role, the fleet check that
//! allows the shared role name exactly then, the 2,048-character quota at its boundary, another
//! account refused, and `verify --aws` accepting exactly the shared trust.

use crate::support::*;
use irsagen::aws::verify::decide;
use irsagen::aws::{Desired, IamState, Identity, PolicyState, RoleState};
use irsagen::overrides::PresetOverrides;
use irsagen::policy_doc;
use irsagen::report::Status;
use irsagen::shared_trust::{IssuerEntry, TrustCluster};
use serde_json::{Value, json};
use std::path::Path;

const ACCOUNT: &str = "123456789012";
const EBS: &str = "ebs-csi-driver";
const SUBJECT: &str = "system:serviceaccount:kube-system:ebs-csi-controller-sa";

/// An EKS-shaped issuer of us-east-1 with a 32-character id ending in `n`.
fn issuer(n: usize) -> String {
    format!("https://oidc.eks.us-east-1.amazonaws.com/id/{n:032X}")
}

fn entry(name: &str, issuer: &str) -> TrustCluster {
    TrustCluster::Issuer(IssuerEntry {
        name: name.into(),
        oidc_issuer: issuer.into(),
        account: None,
        region: None,
    })
}

/// ebs-csi-driver of the guide's cluster, trusted by `list` too.
fn ebs_with(list: Vec<TrustCluster>, mode: Option<&str>) -> irsagen::Result<irsagen::bundle::Bundle> {
    let o = PresetOverrides {
        trust_clusters: Some(list),
        identity_mode: mode.map(|m| m.parse().unwrap()),
        ..Default::default()
    };
    render(&guide_inputs(), &[(EBS.to_string(), o)])
}

fn trust_of(b: &irsagen::bundle::Bundle) -> Value {
    let a = b.get("iam/ebs-csi-driver/trust-policy.json").unwrap();
    serde_json::from_str(&a.content).unwrap()
}

fn provider_of(issuer: &str) -> String {
    format!(
        "arn:aws:iam::{ACCOUNT}:oidc-provider/{}",
        issuer.trim_start_matches("https://")
    )
}

#[test]
fn each_cluster_gets_its_own_exact_statement_in_name_order() {
    let b = ebs_with(vec![entry("zeta", &issuer(2)), entry("alpha", &issuer(1))], None).unwrap();
    let t = trust_of(&b);
    let st = t["Statement"].as_array().unwrap();
    // alpha, smallest-cluster (the guide's), zeta: one statement per provider, no wildcard.
    let want: Vec<String> = [issuer(1), ISSUER.to_string(), issuer(2)]
        .iter()
        .map(|i| provider_of(i))
        .collect();
    let got: Vec<&str> = st
        .iter()
        .map(|s| s["Principal"]["Federated"].as_str().unwrap())
        .collect();
    assert_eq!(got, want);
    for (s, i) in st.iter().zip([issuer(1), ISSUER.to_string(), issuer(2)]) {
        let host = i.trim_start_matches("https://");
        assert_eq!(
            s["Condition"],
            json!({"StringEquals": {format!("{host}:sub"): SUBJECT, format!("{host}:aud"): "sts.amazonaws.com"}})
        );
        assert!(!policy_doc::compact(s).contains('*'), "{s}");
    }
    let c = &b.components[0];
    assert_eq!(c.trust_clusters, ["alpha", "zeta"]);
    assert_eq!(c.tags["irsagen:cluster"], "alpha smallest-cluster zeta");
    // Without trustClusters the trust is the one-cluster trust, unchanged.
    let plain = render(&guide_inputs(), &[(EBS.to_string(), PresetOverrides::default())]).unwrap();
    assert_eq!(trust_of(&plain)["Statement"].as_array().unwrap().len(), 1);
    assert_eq!(plain.components[0].tags["irsagen:cluster"], "smallest-cluster");
}

#[test]
fn scoped_pod_identity_lists_every_clusters_arn() {
    let b = ebs_with(vec![entry("other", &issuer(1))], Some("pod-identity")).unwrap();
    let t = trust_of(&b);
    assert_eq!(
        t["Statement"][0]["Condition"]["StringEquals"]["aws:RequestTag/eks-cluster-arn"],
        json!([
            "arn:aws:eks:us-east-1:123456789012:cluster/other",
            "arn:aws:eks:us-east-1:123456789012:cluster/smallest-cluster"
        ])
    );
    assert_eq!(t["Statement"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_entries_are_refused_naming_field_and_value() {
    let cases: Vec<(Vec<TrustCluster>, &str)> = vec![
        (
            vec![TrustCluster::Issuer(IssuerEntry {
                name: "far".into(),
                oidc_issuer: issuer(1),
                account: Some("210987654321".into()),
                region: None,
            })],
            "invalid presets.ebs-csi-driver.trustClusters.far `210987654321`: is the account of cluster `far`, not 123456789012",
        ),
        (
            vec![entry("smallest-cluster", &issuer(1))],
            "invalid presets.ebs-csi-driver.trustClusters `smallest-cluster`: is this cluster itself",
        ),
        (
            vec![entry("a", &issuer(1)), entry("a", &issuer(2))],
            "invalid presets.ebs-csi-driver.trustClusters `a`: is listed twice",
        ),
        (
            vec![entry("a", ISSUER)],
            "invalid presets.ebs-csi-driver.trustClusters.a.oidcIssuer",
        ),
        (
            vec![TrustCluster::Name("nowhere".into())],
            "invalid presets.ebs-csi-driver.trustClusters `nowhere`: names no cluster of this config file",
        ),
        (
            vec![entry("a", "http://insecure.example/x")],
            "invalid presets.ebs-csi-driver.trustClusters.a.oidcIssuer `http://insecure.example/x`",
        ),
    ];
    for (list, want) in cases {
        let e = ebs_with(list, None).unwrap_err().to_string();
        assert!(e.starts_with(want), "{e}\nwanted: {want}");
    }
}

/// The quota at its boundary: with real-shaped EKS issuers, the largest number of providers that
/// fits renders; one more is refused with how many fit.
#[test]
fn the_trust_quota_refuses_one_provider_past_the_last_that_fits() {
    let list = |n: usize| {
        (1..=n)
            .map(|i| entry(&format!("c{i:02}"), &issuer(i)))
            .collect::<Vec<_>>()
    };
    let mut fits = 0;
    while ebs_with(list(fits + 1), None).is_ok() {
        fits += 1;
        assert!(fits < 50, "the quota never refused");
    }
    // The guide's cluster's own provider plus 3 others: 4 statements of about 420 characters
    // (the provider's host and path three times: principal, `:sub` and `:aud` keys).
    assert_eq!(fits, 3);
    let b = ebs_with(list(fits), None).unwrap();
    assert!(policy_doc::iam_length(&trust_of(&b)) <= 2048);
    let e = ebs_with(list(fits + 1), None).unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "{} of {} providers fit in 2,048 characters; use a role per cluster",
            fits + 1,
            fits + 2
        )),
        "{e}"
    );
    assert!(
        e.starts_with("invalid presets.ebs-csi-driver.trustClusters `c01, c02"),
        "{e}"
    );
}

/// Exactly 2,048 characters render; 2,049 do not. The last provider's issuer path is padded
/// (each character counts three times: principal and two condition keys), the ServiceAccount
/// name (once per statement) makes up the rest.
#[test]
fn a_trust_of_exactly_2048_characters_renders_and_2049_does_not() {
    let with = |pad: usize, sa: &str| {
        let mut l: Vec<TrustCluster> = (1..=2).map(|i| entry(&format!("c{i}"), &issuer(i))).collect();
        l.push(entry("c3", &format!("https://issuer.example.com/{}", "p".repeat(pad))));
        let o = PresetOverrides {
            trust_clusters: Some(l),
            service_account: Some(sa.into()),
            ..Default::default()
        };
        render(&guide_inputs(), &[(EBS.to_string(), o)])
    };
    let length = |pad: usize, sa: &str| {
        let b = with(pad, sa).unwrap();
        policy_doc::iam_length(&trust_of(&b))
    };
    // 4 statements: one more SA character adds 4, one more pad character adds 3.
    let base = length(1, "s");
    assert!(base < 2048, "{base}");
    let (mut pad, mut sa) = (1, 1);
    while (2048 - base - 4 * (sa - 1)) % 3 != 0 {
        sa += 1;
    }
    pad += (2048 - base - 4 * (sa - 1)) / 3;
    let name = "s".repeat(sa);
    assert_eq!(length(pad, &name), 2048);
    let e = with(pad, &format!("{name}s")).unwrap_err().to_string();
    assert!(e.contains("over IAM's quota of 2,048: 3 of 4 providers fit"), "{e}");
    assert!(with(pad + 1, &name).is_err());
}

const SHARED: &str = r#"account: "123456789012"
region: us-east-1
presets: {ebs-csi-driver: {roleName: ebs-shared}}
clusters:
  alpha:
    oidcIssuer: https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLEALPHA0000000000000000000A
    presets: {ebs-csi-driver: {trustClusters: [beta]}}
  beta:
    oidcIssuer: https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLEBETA00000000000000000000B
    presets: {ebs-csi-driver: {trustClusters: [alpha]}}
"#;

fn fleet(config: &str) -> (tempfile::TempDir, std::process::Output) {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("irsagen.yaml"), config).unwrap();
    let o = irsagen()
        .args(["render", "--config", "irsagen.yaml", "--all", "--out-dir", "out"])
        .current_dir(t.path())
        .output()
        .unwrap();
    (t, o)
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap()
}

#[test]
fn a_fleet_shares_one_role_exactly_when_both_clusters_declare_the_same_trust() {
    let (t, o) = fleet(SHARED);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = t.path().join("out");
    let a = read(&out, "alpha/iam/ebs-csi-driver/trust-policy.json");
    assert_eq!(a, read(&out, "beta/iam/ebs-csi-driver/trust-policy.json"));
    let v: Value = serde_json::from_str(&a).unwrap();
    assert_eq!(v["Statement"].as_array().unwrap().len(), 2);
    assert!(a.contains("EXAMPLEALPHA") && a.contains("EXAMPLEBETA"));

    // One side without the shared trust: the one role name is refused, naming both clusters.
    let one_sided = SHARED.replace("    presets: {ebs-csi-driver: {trustClusters: [alpha]}}\n", "");
    let (t, o) = fleet(&one_sided);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("clusters.beta.presets.ebs-csi-driver.roleName `ebs-shared`: is also cluster `alpha`'s role")
            && e.contains("trustClusters"),
        "{e}"
    );
    assert!(!t.path().join("out").exists(), "nothing written");

    // Both declare it, but the roles differ (a tag): still refused.
    let tagged = SHARED.replace("{trustClusters: [alpha]}", "{trustClusters: [alpha], tags: {team: b}}");
    let (_t, o) = fleet(&tagged);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The whole list at the top level: each cluster skips its own name and trusts the others.
#[test]
fn one_top_level_list_shared_by_every_cluster() {
    let config = "account: \"123456789012\"\nregion: us-east-1\npresets: {ebs-csi-driver: {roleName: ebs-shared, trustClusters: [a, b, c]}}\nclusters:\n  a: {oidcIssuer: \"https://oidc.eks.us-east-1.amazonaws.com/id/AAAA\"}\n  b: {oidcIssuer: \"https://oidc.eks.us-east-1.amazonaws.com/id/BBBB\"}\n  c: {oidcIssuer: \"https://oidc.eks.us-east-1.amazonaws.com/id/CCCC\"}\n";
    let (t, o) = fleet(config);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = t.path().join("out");
    let a = read(&out, "a/iam/ebs-csi-driver/trust-policy.json");
    for c in ["b", "c"] {
        assert_eq!(a, read(&out, &format!("{c}/iam/ebs-csi-driver/trust-policy.json")));
    }
    let v: Value = serde_json::from_str(&a).unwrap();
    assert_eq!(v["Statement"].as_array().unwrap().len(), 3);
}

#[test]
fn names_resolve_only_within_the_same_account_and_with_an_issuer() {
    let other_account = SHARED.replace("  beta:\n", "  beta:\n    account: \"210987654321\"\n");
    let (_t, o) = fleet(&other_account);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("trustClusters.beta `210987654321`: is the account of cluster `beta`, not 123456789012"),
        "{e}"
    );
    let no_issuer = SHARED.replace(
        "    oidcIssuer: https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLEBETA00000000000000000000B\n",
        "",
    );
    let (_t, o) = fleet(&no_issuer);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("trustClusters `beta`: names no cluster of this config file"),
        "{e}"
    );
}

/// IAM's answer for the shared role exactly as rendered: every check passes; one more provider
/// in the live trust (a widening nobody reviewed) fails `trust-statements`.
#[test]
fn verify_accepts_exactly_the_shared_trust() {
    let b = ebs_with(vec![entry("other", &issuer(1))], None).unwrap();
    let d = Desired::from_bundle(&b, "verify --aws").unwrap();
    let live = |trust: &Value| IamState {
        caller: Identity {
            account: ACCOUNT.into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:user/ci"),
            user_id: "AIDAEXAMPLE".into(),
        },
        oidc_client_ids: Some(vec!["sts.amazonaws.com".into()]),
        policies: d
            .policies
            .iter()
            .map(|p| {
                (
                    p.arn.clone(),
                    PolicyState {
                        tags: Default::default(),
                        default_version: "v1".into(),
                        document: encoded(&p.document),
                        versions: Vec::new(),
                    },
                )
            })
            .collect(),
        roles: d
            .roles
            .iter()
            .map(|r| {
                let role = aws_sdk_iam::types::Role::builder()
                    .path("/")
                    .role_name(&r.name)
                    .role_id("AROAEXAMPLE")
                    .arn(format!("arn:aws:iam::{ACCOUNT}:role/{}", r.name))
                    .create_date(aws_sdk_iam::primitives::DateTime::from_secs(1_700_000_000))
                    .assume_role_policy_document(encoded(trust))
                    .build()
                    .unwrap();
                (
                    r.name.clone(),
                    RoleState {
                        role,
                        attached: r.attachments().map(str::to_string).collect(),
                        inline: Vec::new(),
                    },
                )
            })
            .collect(),
        missing_extra_policies: Vec::new(),
    };
    let failed = |trust: &Value| -> Vec<String> {
        decide(&d, &live(trust))
            .into_iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| format!("{} {}", c.name, c.detail))
            .collect()
    };
    let rendered = trust_of(&b);
    assert_eq!(failed(&rendered), Vec::<String>::new());
    let mut wider = rendered.clone();
    let mut extra = wider["Statement"][0].clone();
    let host = issuer(9).trim_start_matches("https://").to_string();
    extra["Principal"]["Federated"] = json!(provider_of(&issuer(9)));
    extra["Condition"] =
        json!({"StringEquals": {format!("{host}:sub"): SUBJECT, format!("{host}:aud"): "sts.amazonaws.com"}});
    wider["Statement"].as_array_mut().unwrap().push(extra);
    let f = failed(&wider);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].starts_with("trust-statements 1 of 3 statements are not ones irsagen rendered"),
        "{f:?}"
    );
}

/// IAM returns documents percent-encoded (RFC 3986 unreserved characters kept).
fn encoded(doc: &Value) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const SET: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    utf8_percent_encode(&serde_json::to_string_pretty(doc).unwrap(), SET).to_string()
}
