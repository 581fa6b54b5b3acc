//! The one error type of the library. Every variant that comes from user input names the
//! field, the value and the rule, so the CLI can print it as is.

use std::path::PathBuf;

/// Everything that can go wrong in irsagen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value broke a validation rule where it entered.
    #[error("invalid {field} `{value}`: {rule}")]
    Invalid {
        /// Where the value came from (`--account`, `presets.cluster-autoscaler.namespace`, …).
        field: String,
        /// The offending value, as given.
        value: String,
        /// The rule it broke, phrased so the user knows what to do.
        rule: String,
    },

    /// `--preset` or the config file named a preset that does not exist.
    #[error("unknown preset `{name}`: known presets are {known}")]
    UnknownPreset {
        /// The name asked for.
        name: String,
        /// Comma-separated list of known preset names.
        known: String,
    },

    /// A YAML file (config or preset) did not parse or did not fit its schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file that failed.
        path: String,
        /// The parser's message, with line and column where it has them.
        message: String,
    },

    /// A template failed to load or render (syntax error, undefined variable, `error()`).
    #[error("template `{name}` failed: {message}")]
    Template {
        /// The template's registry id.
        name: String,
        /// minijinja's message, including the line.
        message: String,
    },

    /// A rendered file did not parse back or broke a schema or limit; nothing was written.
    #[error("rendered `{path}` is invalid: {message}")]
    RenderedInvalid {
        /// Path of the artifact inside the bundle.
        path: String,
        /// What is wrong with it.
        message: String,
    },

    /// `render --check` found differences; `diff` holds unified diffs.
    #[error("{count} rendered file(s) differ from {dir}; run `{command}` to regenerate")]
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
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        /// What we were doing ("cannot read", "cannot write", …).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },

    /// A call to AWS failed; `message` already says which call and what to do.
    #[error("{0}")]
    Aws(String),

    /// A call to the Kubernetes API server failed; `message` says which verb and resource.
    #[error("{0}")]
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
    #[error("{0}")]
    NotConfirmed(String),
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
            | Error::UnknownPreset { .. }
            | Error::Parse { .. }
            | Error::Template { .. }
            | Error::RenderedInvalid { .. } => 2,
            Error::Io { .. } | Error::Aws(_) | Error::Kube(_) | Error::NotConfirmed(_) => 3,
        }
    }
}

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
