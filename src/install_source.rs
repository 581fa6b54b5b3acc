//! Where a component that the guide installs with `kubectl apply -k` comes from
//! (`installSource`): the preset's pinned overlay (the guide's, the default), the same overlay
//! at another git ref, a local copy of it (machines without GitHub), or the EKS addon.

use crate::error::{Error, Result};
use crate::preset::PresetInstall;
use serde::Serialize;

/// The forms `installSource` accepts, for error messages and the schema.
pub const FORMS: &str = "`guide`, `ref:<git ref>`, `path:<directory>` or `addon`";

/// How a component is installed, resolved from its preset and `installSource`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Install {
    /// The choice as the user writes it (`guide`, `ref:…`, `path:…`, `addon`), for the README.
    pub source: String,
    /// `kubectl apply -k` argument, unless the addon installs the component.
    pub kustomize: Option<String>,
    /// The EKS addon that installs the component instead.
    pub addon: Option<String>,
    /// The overlay is fetched from github.com, which needs git and network access there.
    pub from_github: bool,
    /// The preset's pinned overlay, for the README's explanation of the other choices.
    pub default_kustomize: String,
    /// The controller version installed, when known (the pinned overlay's `kustomizeVersion`).
    pub version: Option<String>,
}

/// Resolves `value` (None = `guide`) against the preset's install step; `field` names the
/// setting in errors. A preset without an install step takes no `installSource`.
pub fn resolve(field: &str, preset: Option<&PresetInstall>, value: Option<&str>) -> Result<Option<Install>> {
    let Some(p) = preset else {
        return match value {
            None => Ok(None),
            Some(v) => Err(Error::invalid(
                field,
                v,
                "only applies to presets installed with kubectl apply -k (efs-csi-driver)",
            )),
        };
    };
    let v = value.unwrap_or("guide");
    let bad = |rule: String| Error::invalid(field, v, rule);
    let kustomize_install = |kustomize: String| Install {
        source: v.to_string(),
        from_github: kustomize.starts_with("github.com/"),
        kustomize: Some(kustomize),
        addon: None,
        default_kustomize: p.kustomize.clone(),
        version: None,
    };
    if v == "guide" {
        return Ok(Some(Install {
            version: p.kustomize_version.clone(),
            ..kustomize_install(p.kustomize.clone())
        }));
    }
    if v == "addon" {
        let Some(addon) = &p.addon else {
            return Err(bad("this preset has no EKS addon to install it with".into()));
        };
        return Ok(Some(Install {
            source: v.to_string(),
            kustomize: None,
            addon: Some(addon.clone()),
            from_github: false,
            default_kustomize: p.kustomize.clone(),
            version: None,
        }));
    }
    if let Some(git_ref) = v.strip_prefix("ref:") {
        // Shell-quoted in the script anyway; the rule keeps the URL a URL (no `&`, `?`, `#`,
        // spaces) and refuses a ref that could be read as a flag or climb out of the repository.
        let ok = (1..=100).contains(&git_ref.len())
            && git_ref.chars().all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c))
            && !git_ref.starts_with(['-', '/', '.'])
            && !git_ref.contains("..");
        if !ok {
            return Err(bad(format!(
                "the git ref must be 1-100 letters, digits and `._/-`, not starting with `-`, `/` or `.` and without `..`; one of {FORMS}"
            )));
        }
        let Some((base, _)) = p.kustomize.split_once("?ref=") else {
            return Err(bad(format!(
                "this preset's overlay `{}` has no `?ref=` to replace",
                p.kustomize
            )));
        };
        return Ok(Some(kustomize_install(format!("{base}?ref={git_ref}"))));
    }
    if let Some(dir) = v.strip_prefix("path:") {
        let ok = (1..=1024).contains(&dir.chars().count())
            && !dir.chars().any(char::is_control)
            && !dir.starts_with('-')
            && !dir.contains("://");
        if !ok {
            return Err(bad(format!(
                "the directory must be 1-1024 characters without control characters, not start with `-` and not be a URL (use `ref:` for another git ref); one of {FORMS}"
            )));
        }
        return Ok(Some(kustomize_install(dir.to_string())));
    }
    Err(bad(format!("must be one of {FORMS}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn efs() -> PresetInstall {
        PresetInstall {
            kustomize: "github.com/o/r/overlays/stable/?ref=release-1.7".into(),
            addon: Some("aws-efs-csi-driver".into()),
            kustomize_version: Some("v1.7.0".into()),
        }
    }

    fn ok(v: Option<&str>) -> Install {
        resolve("f", Some(&efs()), v).unwrap().unwrap()
    }

    fn err(v: &str) -> String {
        resolve("presets.efs-csi-driver.installSource", Some(&efs()), Some(v))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn guide_is_the_default_and_fetches_from_github() {
        for v in [None, Some("guide")] {
            let i = ok(v);
            assert_eq!(i.source, "guide");
            assert_eq!(
                i.kustomize.as_deref(),
                Some("github.com/o/r/overlays/stable/?ref=release-1.7")
            );
            assert!(i.from_github);
            assert_eq!(i.addon, None);
        }
    }

    #[test]
    fn another_ref_replaces_only_the_ref() {
        let i = ok(Some("ref:release-2.1"));
        assert_eq!(
            i.kustomize.as_deref(),
            Some("github.com/o/r/overlays/stable/?ref=release-2.1")
        );
        assert!(i.from_github);
        assert_eq!(i.source, "ref:release-2.1");
        // 100 characters is the limit, 101 is refused.
        assert!(resolve("f", Some(&efs()), Some(&format!("ref:{}", "a".repeat(100)))).is_ok());
        assert!(err(&format!("ref:{}", "a".repeat(101))).contains("1-100"));
    }

    #[test]
    fn a_local_path_needs_no_network() {
        let i = ok(Some("path:./efs-overlay"));
        assert_eq!(i.kustomize.as_deref(), Some("./efs-overlay"));
        assert!(!i.from_github);
        assert!(resolve("f", Some(&efs()), Some(&format!("path:{}", "d".repeat(1024)))).is_ok());
        assert!(err(&format!("path:{}", "d".repeat(1025))).contains("1-1024"));
    }

    #[test]
    fn the_addon_replaces_the_overlay() {
        let i = ok(Some("addon"));
        assert_eq!(i.kustomize, None);
        assert_eq!(i.addon.as_deref(), Some("aws-efs-csi-driver"));
        assert!(!i.from_github);
        let no_addon = PresetInstall { addon: None, ..efs() };
        let e = resolve("f", Some(&no_addon), Some("addon")).unwrap_err().to_string();
        assert!(e.contains("no EKS addon"), "{e}");
    }

    #[test]
    fn refuses_bad_values_naming_field_value_and_rule() {
        for (v, rule) in [
            ("latest", "must be one of"),
            ("", "must be one of"),
            ("ref:", "1-100"),
            ("ref:-x", "not starting with `-`"),
            ("ref:a..b", "without `..`"),
            ("ref:v1&x=1", "letters, digits"),
            ("ref:a b", "letters, digits"),
            ("path:", "1-1024"),
            ("path:-k", "not start with `-`"),
            ("path:https://x/y", "not be a URL"),
            ("path:a\nb", "control characters"),
        ] {
            let e = err(v);
            assert!(e.contains("presets.efs-csi-driver.installSource"), "{v}: {e}");
            assert!(e.contains(rule), "{v}: {e}");
        }
        let no_ref = PresetInstall {
            kustomize: "github.com/o/r/overlays/stable".into(),
            addon: None,
            kustomize_version: None,
        };
        let e = resolve("f", Some(&no_ref), Some("ref:v2")).unwrap_err().to_string();
        assert!(e.contains("no `?ref=`"), "{e}");
    }

    #[test]
    fn only_presets_with_an_install_step_take_it() {
        assert_eq!(resolve("f", None, None).unwrap(), None);
        let e = resolve("presets.ebs-csi-driver.installSource", None, Some("addon"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("presets.ebs-csi-driver.installSource") && e.contains("only applies"),
            "{e}"
        );
    }
}
