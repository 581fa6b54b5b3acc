//! Derived names that must fit a length limit: cut, then made unique again with a hash of the
//! full name, so two long names that share a prefix never collide (eksctl's truncation does).

use sha2::{Digest, Sha256};

/// IAM's limit on role names.
pub const ROLE_NAME_MAX: usize = 64;

/// 8 hex digits of the SHA-256 of `full`: what keeps cut names unique.
fn hash8(full: &str) -> String {
    let digest = Sha256::digest(full.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// The first `n` characters of `s` without trailing separators. Names here are ASCII
/// (validated), so a byte index is a character index.
fn head(s: &str, n: usize) -> &str {
    s[..n.min(s.len())].trim_end_matches(['-', '.', '_'])
}

/// `full` if it fits in `max` characters, else its first part, `-` and 8 hex digits of its SHA-256.
pub fn bounded(full: &str, max: usize) -> String {
    if full.len() <= max {
        return full.to_string();
    }
    let hash = hash8(full);
    format!("{}-{hash}", head(full, max - hash.len() - 1))
}

/// What every default role name starts with.
pub const ROLE_NAME_PREFIX: &str = "irsa-";

/// The start every default role name of `cluster` shares (`irsa-<cluster>-`): how verify tells
/// irsagen's roles of this cluster from others. A cluster name cut by [`role_name`] keeps its
/// first character only, so this matches uncut names.
pub fn role_name_prefix(cluster: &str) -> String {
    format!("{ROLE_NAME_PREFIX}{cluster}-")
}

/// The default role name `irsa-<cluster>-<namespace>-<serviceAccount>`, cut to 64 characters
/// when longer. A cut name ends with 8 hex digits of the full name's hash (unique again) and
/// keeps the most telling part whole: the ServiceAccount names what the role is for, so the
/// cluster name is cut first, then the namespace, and the ServiceAccount only when it alone
/// does not fit. Every part keeps at least one character.
pub fn role_name(cluster: &str, namespace: &str, service_account: &str) -> String {
    let full = format!("{}{namespace}-{service_account}", role_name_prefix(cluster));
    if full.len() <= ROLE_NAME_MAX {
        return full;
    }
    let hash = hash8(&full);
    // What is left for the three parts and the two `-` between them.
    let budget = ROLE_NAME_MAX - ROLE_NAME_PREFIX.len() - 1 - hash.len() - 2;
    let sa = head(service_account, budget - 2);
    let ns = head(namespace, budget - sa.len() - 1);
    let cl = head(cluster, budget - sa.len() - ns.len());
    format!("{ROLE_NAME_PREFIX}{cl}-{ns}-{sa}-{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_start_with_the_clusters_prefix() {
        let n = role_name("smallest-cluster", "kube-system", "sa");
        assert!(n.starts_with(&role_name_prefix("smallest-cluster")), "{n}");
        // A cluster whose name is cut keeps its prefix's first character, not the whole name.
        let long = role_name(&"c".repeat(100), "kube-system", "sa");
        assert!(long.starts_with("irsa-c") && !long.starts_with(&role_name_prefix(&"c".repeat(100))));
        assert_eq!(role_name_prefix("c"), "irsa-c-");
    }

    #[test]
    fn keeps_short_and_hashes_long() {
        assert_eq!(bounded("abc", 64), "abc");
        assert_eq!(
            bounded(&"x".repeat(64), 64),
            "x".repeat(64),
            "exactly the limit is kept"
        );
        let a = bounded(&format!("{}-one", "x".repeat(70)), 64);
        let b = bounded(&format!("{}-two", "x".repeat(70)), 64);
        assert_eq!((a.len(), b.len()), (64, 64));
        assert_ne!(a, b);
        assert_eq!(a, bounded(&format!("{}-one", "x".repeat(70)), 64));
        assert_eq!(&a[..55], "x".repeat(55));
        assert_eq!(bounded(&format!("{}-{}", "x".repeat(54), "y".repeat(10)), 63).len(), 63);
        // A cut that ends on a separator drops it instead of doubling the `-`.
        let c = bounded(&format!("{}-{}", "x".repeat(54), "y".repeat(10)), 64);
        assert!(
            c.starts_with(&format!("{}-", "x".repeat(54))) && !c.contains("--"),
            "{c}"
        );
    }

    #[test]
    fn role_names_fit_exactly_and_one_more_is_cut() {
        // irsa- + 47 + - + kube-system + - = 64 with an SA of 0: build a name of exactly 64.
        let sa = "cluster-autoscaler";
        let cluster = "c".repeat(64 - "irsa-".len() - "-kube-system-".len() - sa.len());
        let exact = role_name(&cluster, "kube-system", sa);
        assert_eq!(exact, format!("irsa-{cluster}-kube-system-{sa}"));
        assert_eq!(exact.len(), 64);
        let over = role_name(&format!("{cluster}c"), "kube-system", sa);
        assert_eq!(over.len(), 64, "{over}");
        assert!(over.ends_with(&format!(
            "-kube-system-{sa}-{}",
            hash8(&format!("irsa-{cluster}c-kube-system-{sa}"))
        )));
    }

    #[test]
    fn long_cluster_names_are_cut_first_and_the_service_account_is_kept() {
        let cluster = "a".repeat(100);
        let names: Vec<String> = ["cluster-autoscaler", "ebs-csi-controller-sa", "efs-csi-controller-sa"]
            .iter()
            .map(|sa| {
                let n = role_name(&cluster, "kube-system", sa);
                assert!(n.len() <= 64, "{n}");
                assert!(n.starts_with("irsa-a"), "{n}");
                assert!(n.contains(&format!("-kube-system-{sa}-")), "{n}");
                n
            })
            .collect();
        assert_eq!(
            names[1],
            format!(
                "irsa-{}-kube-system-ebs-csi-controller-sa-{}",
                "a".repeat(16),
                hash8(&format!("irsa-{cluster}-kube-system-ebs-csi-controller-sa"))
            )
        );
        assert_ne!(names[1], names[2]);
        // Two clusters that share the kept prefix still get two names.
        assert_ne!(
            role_name(&format!("{cluster}x"), "kube-system", "s"),
            role_name(&format!("{cluster}y"), "kube-system", "s")
        );
    }

    #[test]
    fn very_long_namespace_and_service_account_still_fit() {
        let ns = "n".repeat(63);
        let sa = "s".repeat(253);
        let name = role_name("c", &ns, &sa);
        assert_eq!(name.len(), 64, "{name}");
        assert!(name.starts_with("irsa-c-n-"), "every part keeps a character: {name}");
        let name = role_name(&"c".repeat(100), &ns, "sa");
        assert_eq!(name.len(), 64, "{name}");
        assert!(
            name.starts_with("irsa-c-") && name.contains("-sa-"),
            "namespace cut before the SA: {name}"
        );
        // A part that is cut on a `-` drops it: no `--` in a name.
        let name = role_name(
            &format!("{}-{}", "c".repeat(15), "d".repeat(40)),
            "kube-system",
            "ebs-csi-controller-sa",
        );
        assert!(!name.contains("--"), "{name}");
    }
}
