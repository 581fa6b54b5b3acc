//! The template registry: templates embedded from `templates/` (`.j2` stripped from the id),
//! optionally overridden by `--templates-dir`, in one strict minijinja environment.
//!
//! Why this is safe against injected structure: `*.json` and `*.yaml` templates auto-escape
//! every interpolated value as a quoted JSON scalar (also valid YAML), `*.sh` templates
//! shell-quote every value, undefined variables are errors, and every rendered file is parsed
//! back afterwards (`bundle_check`).

use crate::error::{Error, Result};
use include_dir::{Dir, include_dir};
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use std::path::Path;

static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// Template ids used by the renderer. A unit test loads each, so a typo fails `cargo test`.
pub mod ids {
    /// IAM policy of a component.
    pub const POLICY: &str = "iam/policy.json";
    /// Trust policy of a role.
    pub const TRUST_POLICY: &str = "iam/trust-policy.json";
    /// eksctl ClusterConfig.
    pub const EKSCTL_CONFIG: &str = "eksctl/cluster-config.yaml";
    /// ServiceAccount manifest.
    pub const SERVICE_ACCOUNT: &str = "kubernetes/serviceaccount.yaml";
    /// Test pod.
    pub const TEST_POD: &str = "kubernetes/test-pod.yaml";
    /// Controller patch.
    pub const DEPLOYMENT_PATCH: &str = "kubernetes/deployment-patch.yaml";
    /// Setup script.
    pub const SETUP_SCRIPT: &str = "setup-irsa.sh";
    /// README of the output.
    pub const README: &str = "README.md";
    /// Every fixed id (preset values templates come on top).
    pub const ALL: [&str; 8] = [
        POLICY,
        TRUST_POLICY,
        EKSCTL_CONFIG,
        SERVICE_ACCOUNT,
        TEST_POD,
        DEPLOYMENT_PATCH,
        SETUP_SCRIPT,
        README,
    ];
}

/// A loaded, strict template environment.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The embedded templates, overridden or extended by every `*.j2` file under `dir`.
    pub fn new(dir: Option<&Path>) -> Result<Self> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .expect("the default delimiters are valid"),
        );
        env.set_auto_escape_callback(|name| match name.rsplit('.').next() {
            Some("json" | "yaml" | "yml") => AutoEscape::Json,
            Some("sh") => AutoEscape::Custom("sh".into()),
            _ => AutoEscape::None,
        });
        env.set_formatter(|out, state, value| {
            if *state.auto_escape() == AutoEscape::Custom("sh".into()) {
                if value.is_undefined() || value.is_none() {
                    return Err(minijinja::Error::new(
                        ErrorKind::UndefinedError,
                        "a shell value is undefined or none",
                    ));
                }
                // `comment` output is marked safe: it is prose for a comment line, not a word.
                if value.is_safe() {
                    return out.write_str(&value.to_string()).map_err(minijinja::Error::from);
                }
                let text = value.to_string();
                return out.write_str(&shell_quote(&text)).map_err(minijinja::Error::from);
            }
            minijinja::escape_formatter(out, state, value)
        });
        env.add_function("error", |msg: String| -> std::result::Result<Value, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
        });
        // Text for a comment line: control characters (newlines) become spaces, so a value can
        // never end the comment and start YAML or shell of its own.
        env.add_filter("comment", |v: Value| -> Value {
            let s: String = v
                .to_string()
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            Value::from_safe_string(s)
        });
        // Compact JSON as a plain string, so the shell formatter quotes it as one argument.
        env.add_filter(
            "json_compact",
            |v: Value| -> std::result::Result<String, minijinja::Error> {
                serde_json::to_string(&v).map_err(|e| minijinja::Error::new(ErrorKind::InvalidOperation, e.to_string()))
            },
        );

        let mut sources: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
        collect_embedded(&EMBEDDED, &mut sources);
        if let Some(dir) = dir {
            let mut overrides = std::collections::BTreeMap::new();
            collect_dir(dir, dir, &mut overrides)?;
            if let Some((id, now)) = RETIRED.iter().find(|(id, _)| overrides.contains_key(*id)) {
                // Loaded but never rendered, a user's changes to it would be lost without a word.
                return Err(Error::invalid(
                    "--templates-dir",
                    dir.join(format!("{id}.j2")).display().to_string(),
                    format!("overrides template `{id}`, which irsagen no longer renders; {now}"),
                ));
            }
            sources.extend(overrides);
        }
        for (id, source) in sources {
            env.add_template_owned(id.clone(), source)
                .map_err(|e| Error::Template {
                    name: id.clone(),
                    message: describe(&e),
                })?;
        }
        Ok(Templates { env })
    }

    /// Whether a template with this id exists.
    pub fn has(&self, id: &str) -> bool {
        self.env.get_template(id).is_ok()
    }

    /// Renders template `id` with `ctx`; output is normalised to LF with one final newline.
    pub fn render(&self, id: &str, ctx: Value) -> Result<String> {
        let tmpl = self.env.get_template(id).map_err(|e| Error::Template {
            name: id.to_string(),
            message: describe(&e),
        })?;
        let out = tmpl.render(ctx).map_err(|e| Error::Template {
            name: id.to_string(),
            message: describe(&e),
        })?;
        let mut out = out.replace("\r\n", "\n").trim_end_matches('\n').to_string();
        out.push('\n');
        Ok(out)
    }
}

/// minijinja's message with its chain of causes, one line.
fn describe(e: &minijinja::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        s.push_str(&format!(": {cause}"));
        src = cause.source();
    }
    s
}

fn collect_embedded(dir: &Dir<'static>, out: &mut std::collections::BTreeMap<String, String>) {
    for file in dir.files() {
        let path = file.path().to_string_lossy().replace('\\', "/");
        if let (Some(id), Some(text)) = (path.strip_suffix(".j2"), file.contents_utf8()) {
            out.insert(id.to_string(), text.to_string());
        }
    }
    for sub in dir.dirs() {
        collect_embedded(sub, out);
    }
}

/// Template ids irsagen rendered once and no longer does, with what replaced them: an override of
/// one is refused rather than silently ignored.
const RETIRED: &[(&str, &str)] = &[(
    "helm/cluster-autoscaler-values.yaml",
    "the chart's values are now `helm/cluster-autoscaler-values-body.yaml` (the body under the chart's keys; irsagen wraps it for the umbrella or standalone layout)",
)];

/// Largest template file read from `--templates-dir`.
const TEMPLATE_LIMIT: u64 = 1 << 20;

/// Every `*.j2` regular file below `dir`. Symlinks, FIFOs and other special files are skipped
/// and symlinked folders not entered, so a loop or a FIFO cannot hang the scan.
fn collect_dir(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, String>) -> Result<()> {
    use crate::safe_fs::{self, Contents, Kind};
    let io = |source, path: &Path| Error::Io {
        action: "cannot read templates dir",
        path: path.to_path_buf(),
        source,
    };
    for (name, kind) in safe_fs::list_dir(dir).map_err(|e| io(e, dir))? {
        let path = dir.join(&name);
        match kind {
            Kind::Dir => collect_dir(root, &path, out)?,
            Kind::File => {
                let Some(id) = path
                    .strip_prefix(root)
                    .ok()
                    .and_then(|r| r.to_str())
                    .and_then(|r| r.replace('\\', "/").strip_suffix(".j2").map(str::to_string))
                else {
                    continue;
                };
                if let Contents::File(bytes) = safe_fs::read_regular(&path, TEMPLATE_LIMIT).map_err(|e| io(e, &path))? {
                    let text = String::from_utf8(bytes).map_err(|_| {
                        io(
                            std::io::Error::new(std::io::ErrorKind::InvalidData, "is not UTF-8"),
                            &path,
                        )
                    })?;
                    out.insert(id, text);
                }
            }
            Kind::Other(_) => {}
        }
    }
    Ok(())
}

/// Converts any serialisable value for templates.
pub fn value<T: serde::Serialize>(v: T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// Quotes a word for bash: bare when it has only safe characters, else single-quoted.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_id_loads() {
        let t = Templates::new(None).unwrap();
        for id in ids::ALL {
            assert!(t.has(id), "missing template {id}");
        }
        // Every embedded preset's values body exists (the wrapping is irsagen's, not a template's).
        for p in crate::preset::Catalog::embedded().unwrap().iter() {
            if let Some(h) = &p.preset.helm {
                assert!(t.has(&h.values_template), "missing template {}", h.values_template);
            }
        }
    }

    #[test]
    fn undefined_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.yaml.j2"), "a: {{ nope }}\n").unwrap();
        let t = Templates::new(Some(dir.path())).unwrap();
        let e = t.render("x.yaml", Value::from(())).unwrap_err().to_string();
        assert!(e.contains("undefined"), "{e}");
    }

    #[test]
    fn quotes_shell_words() {
        assert_eq!(shell_quote("kube-system"), "kube-system");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(shell_quote(""), "''");
    }
}
