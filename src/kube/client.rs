//! The connection: kubeconfig found the way kubectl finds it, and a client that counts the API
//! requests it sends (for the apply summary and the performance figures).

use super::KubeOptions;
use crate::context::Context;
use crate::error::{Error, Result};
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context as TaskContext, Poll};
use tower::{Layer, Service};

/// Field manager of every server-side apply irsagen sends.
pub const FIELD_MANAGER: &str = "irsagen";

/// A connected client and what the messages need to name: server, context and user.
#[derive(Clone)]
pub struct Kube {
    /// The kube client (with the request counter in its stack).
    pub client: kube::Client,
    /// API server URL, as in the kubeconfig.
    pub server: String,
    /// Context in use.
    pub context: String,
    /// User (auth info) name of the context.
    pub user: String,
    /// Connect and read timeout of every call (`--timeout`).
    pub timeout: std::time::Duration,
    requests: Arc<AtomicUsize>,
}

impl Kube {
    /// Reads the kubeconfig (`--kubeconfig`, else `KUBECONFIG`, else ~/.kube/config), picks the
    /// context (`--context`, else the current one) and builds a client whose every call is
    /// bounded by `opts.timeout`. Sends nothing yet. `eks` (the bundle's cluster) lets a missing
    /// kubeconfig suggest the command that writes it.
    pub async fn connect(opts: &KubeOptions, eks: Option<&Context>) -> Result<Kube> {
        let (kubeconfig, source) = match &opts.kubeconfig {
            Some(path) => (Kubeconfig::read_from(path), path.display().to_string()),
            None => {
                let source = match std::env::var("KUBECONFIG") {
                    Ok(v) if !v.is_empty() => format!("KUBECONFIG={v}"),
                    _ => "~/.kube/config".to_string(),
                };
                (Kubeconfig::read(), source)
            }
        };
        let kubeconfig = kubeconfig.map_err(|e| {
            let hint = if is_not_found(&e) {
                update_kubeconfig(eks)
            } else {
                String::new()
            };
            Error::Kube(format!("cannot read the kubeconfig ({source}): {e}{hint}"))
        })?;
        let context = match opts.context.clone().or_else(|| kubeconfig.current_context.clone()) {
            Some(c) => c,
            None => {
                return Err(Error::Kube(format!(
                    "the kubeconfig ({source}) has no current context; pass --context{}",
                    update_kubeconfig(eks)
                )));
            }
        };
        let named = kubeconfig.contexts.iter().find(|c| c.name == context);
        if named.is_none() {
            let known: Vec<&str> = kubeconfig.contexts.iter().map(|c| c.name.as_str()).collect();
            return Err(Error::Kube(format!(
                "context `{context}` is not in the kubeconfig ({source}); known contexts: {}",
                known.join(", ")
            )));
        }
        let user = named
            .and_then(|c| c.context.as_ref())
            .and_then(|c| c.user.clone())
            .unwrap_or_else(|| "?".into());
        let options = KubeConfigOptions {
            context: Some(context.clone()),
            cluster: None,
            user: None,
        };
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| {
                Error::Kube(format!(
                    "cannot use context `{context}` of the kubeconfig ({source}): {e}"
                ))
            })?;
        let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
        // kube leaves the read timeout unset (for long exec sessions), so a server that accepts
        // the connection and never answers would hang irsagen forever. Every call here is short
        // and the exec of the test pod is bounded separately (verify.rs), so bound them all.
        config.connect_timeout = Some(opts.timeout);
        config.read_timeout = Some(opts.timeout);
        config.write_timeout = Some(opts.timeout);
        // Count the read timeout from the request, not from when a pooled connection went idle.
        config.reset_reader_on_write = true;
        // Both ring (kube) and aws-lc-rs (the AWS SDK) are linked, so rustls cannot pick a
        // process default by itself; use ring, as kube is built with it. A second call is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let requests = Arc::new(AtomicUsize::new(0));
        let client = ClientBuilder::try_from(config)
            .map_err(|e| Error::Kube(format!("cannot build a client for {server} (context `{context}`): {e}")))?
            .with_layer(&CountLayer(requests.clone()))
            .build();
        Ok(Kube {
            client,
            server,
            context,
            user,
            timeout: opts.timeout,
            requests,
        })
    }

    /// API requests sent so far by this client.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

/// True when the kubeconfig file is not there at all (rather than unreadable or invalid).
fn is_not_found(e: &kube::config::KubeconfigError) -> bool {
    use kube::config::KubeconfigError as K;
    match e {
        K::ReadConfig(io, _) => io.kind() == std::io::ErrorKind::NotFound,
        K::FindPath => true,
        _ => false,
    }
}

/// The way to get a kubeconfig for an EKS cluster, for the message of a missing one.
fn update_kubeconfig(eks: Option<&Context>) -> String {
    match eks {
        Some(c) => format!(
            "; for the EKS cluster, write it with `aws eks update-kubeconfig --name {} --region {}`",
            c.cluster, c.region
        ),
        None => {
            "; for an EKS cluster, write it with `aws eks update-kubeconfig --name <cluster> --region <region>`".into()
        }
    }
}

/// Tower layer that counts the requests passing through it.
struct CountLayer(Arc<AtomicUsize>);

impl<S> Layer<S> for CountLayer {
    type Service = Count<S>;
    fn layer(&self, inner: S) -> Count<S> {
        Count {
            inner,
            n: self.0.clone(),
        }
    }
}

/// The counting service.
struct Count<S> {
    inner: S,
    n: Arc<AtomicUsize>,
}

impl<S: Service<R>, R> Service<R> for Count<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;
    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }
    fn call(&mut self, req: R) -> Self::Future {
        self.n.fetch_add(1, Ordering::Relaxed);
        self.inner.call(req)
    }
}
