//! The one error type of the library. Every variant that comes from user input names the
//! field, the value and the rule, so the CLI can print it as is.
//!
//! Messages quote user input, so the `Display` of every variant goes through [`quote`] or
//! [`quote_text`]: control characters and escape sequences are escaped (a value can never
//! move the cursor or recolour a terminal) and long values are cut (a 100 KB name must not
//! give a 100 KB message). This is the one place that does it.

use std::path::PathBuf;

/// Everything that can go wrong in irsagen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value broke a validation rule where it entered.
    #[error("invalid {} `{}`: {}", quote(field), quote(value), quote_text(rule))]
    Invalid {
        /// Where the value came from (`--account`, `presets.cluster-autoscaler.namespace`, …).
        field: String,
        /// The offending value, as given.
        value: String,
        /// The rule it broke, phrased so the user knows what to do.
        rule: String,
    },

    /// A required value was given neither as a flag nor in the config file.
    #[error("{field} is required: {}", quote_text(how))]
    Missing {
        /// The flag (`--cluster`).
        field: String,
        /// How to give it, phrased as an instruction.
        how: String,
    },

    /// `--preset` or the config file named a preset that does not exist.
    #[error("unknown preset `{}`: known presets are {known}", quote(name))]
    UnknownPreset {
        /// The name asked for.
        name: String,
        /// Comma-separated list of known preset names.
        known: String,
    },

    /// A YAML file (config or preset) did not parse or did not fit its schema.
    #[error("{}: {}", quote(path), quote_text(message))]
    Parse {
        /// The file that failed.
        path: String,
        /// The parser's message, with line and column where it has them.
        message: String,
    },

    /// A template failed to load or render (syntax error, undefined variable, `error()`).
    #[error("template `{}` failed: {}", quote(name), quote_text(message))]
    Template {
        /// The template's registry id.
        name: String,
        /// minijinja's message, including the line.
        message: String,
    },

    /// A rendered file did not parse back or broke a schema or limit; nothing was written.
    #[error("rendered `{}` is invalid: {}", quote(path), quote_text(message))]
    RenderedInvalid {
        /// Path of the artifact inside the bundle.
        path: String,
        /// What is wrong with it.
        message: String,
    },

    /// `render --check` found differences; `diff` holds unified diffs.
    #[error(
        "{count} rendered file(s) differ from {}; run `{}` to regenerate",
        quote(dir),
        quote_text(command)
    )]
    Stale {
        /// Number of changed, missing or extra files.
        count: usize,
        /// Output directory that was checked.
        dir: String,
        /// The command line that regenerates the directory.
        command: String,
        /// Unified diffs, one per file.
        diff: String,
    },

    /// A file system operation failed.
    #[error("{action} `{}`: {source}", quote(&path.display().to_string()))]
    Io {
        /// What we were doing ("cannot read", "cannot write", …).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },

    /// A call to AWS failed; `message` already says which call and what to do.
    #[error("{}", quote_text(.0))]
    Aws(String),

    /// A call to the Kubernetes API server failed; `message` says which verb and resource.
    #[error("{}", quote_text(.0))]
    Kube(String),

    /// Verification ran and at least one check failed (the report was already printed).
    #[error("{failed} of {total} checks failed")]
    ChecksFailed {
        /// Number of failed checks.
        failed: usize,
        /// Number of checks run.
        total: usize,
    },

    /// The user declined the confirmation prompt, or confirmation was needed without a TTY.
    #[error("{}", quote_text(.0))]
    NotConfirmed(String),

    /// `apply --from` / `verify --from`: the folder is not what its recorded inputs render
    /// (edited by hand, another irsagen version, a write cut short); `diff` shows how.
    #[error("refusing to {action} from `{}`: {}", quote(dir), quote_text(reason))]
    NotAsReviewed {
        /// `apply` or `verify`.
        action: &'static str,
        /// The folder given to `--from`.
        dir: String,
        /// Why, phrased so the user knows what to do.
        reason: String,
        /// Unified diffs from the folder to the fresh render (may be empty).
        diff: String,
    },

    /// An error of one cluster of a fleet (`--all`): the cluster's name, then its error.
    #[error("cluster `{}`: {source}", quote(cluster))]
    InCluster {
        /// The cluster's name (its key under `clusters:`).
        cluster: String,
        /// What went wrong for it.
        source: Box<Error>,
    },
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(field: impl Into<String>, value: impl Into<String>, rule: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            value: value.into(),
            rule: rule.into(),
        }
    }

    /// Process exit status for this error: 1 = a check found a difference or failure,
    /// 2 = bad input (nothing was changed), 3 = the environment failed (I/O, AWS, cluster).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Stale { .. } | Error::ChecksFailed { .. } => 1,
            Error::Invalid { .. }
            | Error::Missing { .. }
            | Error::UnknownPreset { .. }
            | Error::Parse { .. }
            | Error::Template { .. }
            | Error::RenderedInvalid { .. } => 2,
            Error::NotAsReviewed { .. } => 2,
            Error::Io { .. } | Error::Aws(_) | Error::Kube(_) | Error::NotConfirmed(_) => 3,
            Error::InCluster { source, .. } => source.exit_code(),
        }
    }

    /// The error as one JSON object, for `-o json`: `{"error": message, "exitCode": status}`.
    pub fn to_json(&self) -> String {
        let v = serde_json::json!({"error": self.to_string(), "exitCode": self.exit_code()});
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
    }
}

/// Longest single value quoted in a message, in characters; longer ones are cut.
pub const MAX_QUOTED: usize = 200;
/// Longest multi-line text (a parser's snippet, a server's message) in a message.
pub const MAX_TEXT: usize = 4_000;

/// A single user-given value as it may appear in a message: everything that does not print
/// (control characters, ESC, bidi overrides, zero-width characters) escaped as Rust does
/// (`\n`, `\u{1b}`), and cut after [`MAX_QUOTED`] characters with the number left out.
pub fn quote(s: &str) -> String {
    escape(s, MAX_QUOTED, false)
}

/// Like [`quote`] for multi-line text: line breaks are kept, the limit is [`MAX_TEXT`].
pub fn quote_text(s: &str) -> String {
    escape(s, MAX_TEXT, true)
}

fn escape(s: &str, max: usize, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len().min(max + 32));
    for (i, c) in s.chars().enumerate() {
        if i == max {
            let left = s.chars().count() - max;
            out.push_str(&format!("… ({left} more characters)"));
            break;
        }
        // `escape_debug` knows which characters do not print; quotes and backslashes print
        // fine and stay as they are, so a quoted value reads like the input.
        let printable = c.escape_debug().len() == 1 || matches!(c, '\\' | '"' | '\'');
        if printable || (keep_newlines && c == '\n') {
            out.push(c);
        } else {
            out.extend(c.escape_debug());
        }
    }
    out
}

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_what_does_not_print_and_keeps_the_rest() {
        assert_eq!(quote("a\"b'c\\d é 日本"), "a\"b'c\\d é 日本");
        assert_eq!(quote("a\nb\tc\u{1b}[31m\u{7}"), "a\\nb\\tc\\u{1b}[31m\\u{7}");
        assert_eq!(quote("x\u{202e}y\u{200b}z"), "x\\u{202e}y\\u{200b}z");
        assert_eq!(quote_text("line 1\nline\u{1b}2"), "line 1\nline\\u{1b}2");
    }

    #[test]
    fn quoting_cuts_at_the_limit_and_counts_what_it_left_out() {
        let at = "n".repeat(MAX_QUOTED);
        assert_eq!(quote(&at), at, "exactly the limit is kept whole");
        let over = "é".repeat(MAX_QUOTED + 1);
        assert_eq!(quote(&over), format!("{}… (1 more characters)", "é".repeat(MAX_QUOTED)));
        let huge = "n".repeat(100_000);
        let msg = Error::invalid("--cluster", huge, "rule").to_string();
        assert!(msg.len() < 300, "{}", msg.len());
        assert!(msg.contains("… (99800 more characters)"), "{msg}");
        assert_eq!(
            quote_text(&"t".repeat(MAX_TEXT + 5)).chars().count(),
            MAX_TEXT + "… (5 more characters)".chars().count()
        );
    }

    #[test]
    fn every_variant_quotes_user_text() {
        let nasty = "v\u{1b}]0;pwned\u{7}";
        let io = || std::io::Error::other("x");
        for e in [
            Error::invalid(nasty, nasty, "r"),
            Error::UnknownPreset {
                name: nasty.into(),
                known: "a".into(),
            },
            Error::Parse {
                path: nasty.into(),
                message: nasty.into(),
            },
            Error::Template {
                name: nasty.into(),
                message: nasty.into(),
            },
            Error::RenderedInvalid {
                path: nasty.into(),
                message: nasty.into(),
            },
            Error::Stale {
                count: 1,
                dir: nasty.into(),
                command: nasty.into(),
                diff: String::new(),
            },
            Error::Io {
                action: "cannot read",
                path: nasty.into(),
                source: io(),
            },
            Error::Aws(nasty.into()),
            Error::Kube(nasty.into()),
            Error::NotConfirmed(nasty.into()),
            Error::NotAsReviewed {
                action: "apply",
                dir: nasty.into(),
                reason: nasty.into(),
                diff: String::new(),
            },
            Error::InCluster {
                cluster: nasty.into(),
                source: Box::new(Error::Aws(nasty.into())),
            },
        ] {
            let s = e.to_string();
            assert!(!s.contains('\u{1b}') && !s.contains('\u{7}'), "{s:?}");
            assert!(s.contains("v\\u{1b}]0;pwned\\u{7}"), "{s:?}");
        }
    }

    #[test]
    fn exit_codes_follow_the_readme() {
        let io = || std::io::Error::other("x");
        let cases = [
            (
                Error::Stale {
                    count: 1,
                    dir: "d".into(),
                    command: "c".into(),
                    diff: String::new(),
                },
                1,
            ),
            (Error::ChecksFailed { failed: 1, total: 2 }, 1),
            (Error::invalid("f", "v", "r"), 2),
            (
                Error::NotAsReviewed {
                    action: "apply",
                    dir: "d".into(),
                    reason: "r".into(),
                    diff: String::new(),
                },
                2,
            ),
            // A fleet error keeps the status of the cluster's own error.
            (
                Error::InCluster {
                    cluster: "c".into(),
                    source: Box::new(Error::Aws("a".into())),
                },
                3,
            ),
            (
                Error::InCluster {
                    cluster: "c".into(),
                    source: Box::new(Error::invalid("f", "v", "r")),
                },
                2,
            ),
            (
                Error::Missing {
                    field: "--cluster".into(),
                    how: "h".into(),
                },
                2,
            ),
            (
                Error::UnknownPreset {
                    name: "n".into(),
                    known: "k".into(),
                },
                2,
            ),
            (
                Error::Parse {
                    path: "p".into(),
                    message: "m".into(),
                },
                2,
            ),
            (
                Error::Template {
                    name: "n".into(),
                    message: "m".into(),
                },
                2,
            ),
            (
                Error::RenderedInvalid {
                    path: "p".into(),
                    message: "m".into(),
                },
                2,
            ),
            (
                Error::Io {
                    action: "a",
                    path: "p".into(),
                    source: io(),
                },
                3,
            ),
            (Error::Aws("a".into()), 3),
            (Error::Kube("k".into()), 3),
            (Error::NotConfirmed("n".into()), 3),
        ];
        for (e, code) in cases {
            assert_eq!(e.exit_code(), code, "{e}");
            let j: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
            assert_eq!(j["exitCode"], code);
            assert_eq!(j["error"], e.to_string());
        }
    }

    #[test]
    fn missing_names_the_flag_without_empty_quotes() {
        let e = Error::Missing {
            field: "--cluster".into(),
            how: "pass --cluster NAME".into(),
        };
        assert_eq!(e.to_string(), "--cluster is required: pass --cluster NAME");
    }
}
