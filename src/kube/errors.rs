//! Turning kube errors into messages that name the server, the verb and the resource.

use super::client::Kube;
use crate::error::Error;

/// What a request was doing, for the message: verb, resource (plural, lower case) and where.
#[derive(Debug, Clone, Copy)]
pub struct Op<'a> {
    /// `get`, `list`, `patch`, `create`, `delete`.
    pub verb: &'a str,
    /// `serviceaccounts`, `deployments.apps`, …
    pub resource: &'a str,
    /// Namespace, or `None` for cluster scope.
    pub namespace: Option<&'a str>,
}

impl Op<'_> {
    fn scope(&self) -> String {
        match self.namespace {
            Some(ns) => format!("in namespace {ns}"),
            None => "at cluster scope".to_string(),
        }
    }
}

/// HTTP status of an API error, if it is one.
pub fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// The whole `source()` chain of an error on one line, without repeats.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// True when the error is a timeout anywhere in its `source()` chain (hyper-timeout reports
/// `io::ErrorKind::TimedOut`; the text check catches wrappers that keep only the message).
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            || err.to_string().contains("timed out")
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// True when the call failed because of the environment (no answer, a timeout, the credentials,
/// RBAC, a failing server), not because of what is in the cluster: verify reports these as
/// errors (exit 3), never as failed checks (exit 1, drift). A 403 from an admission plugin
/// (`pods "x" is forbidden: error looking up service account …`) is the cluster's answer.
pub fn is_environment(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 401 || (s.code == 403 && denied_user(&s.message).is_some()) || s.code >= 500,
        _ => true,
    }
}

/// The user named in an RBAC denial (`User "x" cannot …`).
fn denied_user(message: &str) -> Option<&str> {
    let rest = message.split_once("User \"")?.1;
    Some(rest.split_once('"')?.0)
}

/// Maps a kube error of `op` to [`Error::Kube`].
pub fn map(k: &Kube, op: Op<'_>, e: kube::Error) -> Error {
    let what = format!("`{} {}` {}", op.verb, op.resource, op.scope());
    let msg = match &e {
        kube::Error::Api(s) if s.code == 401 => format!(
            "the API server at {} rejected the credentials of context `{}` (user {}) with 401 Unauthorized on {what}: {}; refresh the credentials or pick another --context",
            k.server, k.context, k.user, s.message
        ),
        kube::Error::Api(s) if s.code == 403 && s.message.contains(" cannot ") => {
            let user = denied_user(&s.message).unwrap_or(&k.user);
            format!(
                "RBAC denied {what} for user {user} (context `{}`, server {}): {}; grant it with a Role/ClusterRole binding or pick another --context",
                k.context, k.server, s.message
            )
        }
        kube::Error::Api(s) if s.code == 403 => {
            format!("the API server refused {what}: {} (403 {})", s.message, s.reason)
        }
        kube::Error::Api(s) if s.code == 409 => format!("conflict on {what}: {}", s.message),
        kube::Error::Api(s) => format!("{what} failed on {}: {} ({} {})", k.server, s.message, s.code, s.reason),
        other if timed_out(other) => format!(
            "{what} timed out: no answer within {} s from the Kubernetes API server at {} (context `{}`); \
             check that the cluster is up and reachable, or raise --timeout",
            k.timeout.as_secs(),
            k.server,
            k.context
        ),
        kube::Error::HyperError(_) | kube::Error::Service(_) => format!(
            "cannot reach the Kubernetes API server at {} (context `{}`) for {what}: {}; check that the cluster is up and the kubeconfig points at it",
            k.server,
            k.context,
            chain(&e)
        ),
        other => format!(
            "{what} failed on {} (context `{}`): {}",
            k.server,
            k.context,
            chain(other)
        ),
    };
    Error::Kube(msg)
}

#[cfg(test)]
mod tests {
    use super::denied_user;

    #[test]
    fn finds_denied_user() {
        let m = r#"serviceaccounts is forbidden: User "irsagen-nobody" cannot list resource "serviceaccounts" in API group "" at the cluster scope"#;
        assert_eq!(denied_user(m), Some("irsagen-nobody"));
        assert_eq!(denied_user("nope"), None);
    }
}
