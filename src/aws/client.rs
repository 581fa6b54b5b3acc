//! The SDK clients (STS, IAM, EKS) built from the default credential chain, the API-call
//! counter every client carries, and the translation of SDK errors into irsagen's messages.

use super::AwsOptions;
use crate::error::{Error, Result};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_iam::config::interceptors::{BeforeTransmitInterceptorContextRef, InterceptorContext};
use aws_sdk_iam::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_iam::config::timeout::TimeoutConfig;
use aws_sdk_iam::config::{
    ConfigBag, Intercept, ProvideCredentials, Region, RuntimeComponents, SharedCredentialsProvider,
};
use aws_sdk_iam::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_types::os_shim_internal::{Env, Fs};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Region used when neither the options nor the SDK's chain name one (STS and IAM are global).
const FALLBACK_REGION: &str = "us-east-1";

/// `--timeout` when not given: the most one AWS call (its retries included) may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How many API requests were sent, and how many of them change something.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallStats {
    /// HTTP requests sent to AWS (retries included).
    pub calls: usize,
    /// Of those, requests that change state (IAM actions other than `Get*`/`List*`).
    pub writes: usize,
}

impl CallStats {
    /// `self - earlier`: the calls made since `earlier` was taken.
    pub fn since(self, earlier: CallStats) -> CallStats {
        CallStats {
            calls: self.calls.saturating_sub(earlier.calls),
            writes: self.writes.saturating_sub(earlier.writes),
        }
    }
}

impl std::fmt::Display for CallStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} API calls ({} writes)", self.calls, self.writes)
    }
}

/// Every request the clients sent, as `service:Action`, in order.
#[derive(Debug, Default)]
pub struct CallLog {
    actions: Mutex<Vec<String>>,
}

impl CallLog {
    fn push(&self, action: String) {
        if let Ok(mut v) = self.actions.lock() {
            v.push(action);
        }
    }

    /// The requests sent so far, as `service:Action`.
    pub fn actions(&self) -> Vec<String> {
        self.actions.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Counts of the requests sent so far.
    pub fn stats(&self) -> CallStats {
        let actions = self.actions();
        CallStats {
            calls: actions.len(),
            writes: actions.iter().filter(|a| is_write(a)).count(),
        }
    }
}

/// True for `service:Action` strings that change state.
pub fn is_write(action: &str) -> bool {
    let name = action.split_once(':').map_or(action, |(_, n)| n);
    !["Get", "List", "Describe"].iter().any(|p| name.starts_with(p))
}

/// SDK interceptor recording each request (each attempt) in a [`CallLog`].
#[derive(Debug)]
struct Counter {
    service: &'static str,
    log: Arc<CallLog>,
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "irsagen-call-counter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let req = context.request();
        note_endpoint(self.service, req.uri());
        // IAM and STS speak the query protocol: the action is a form field of the body. EKS is
        // REST (the method alone does not name the call): the SDK's operation metadata does.
        let action = req
            .body()
            .bytes()
            .and_then(query_action)
            .or_else(|| cfg.load::<Metadata>().map(|m| m.name().to_string()))
            .unwrap_or_else(|| req.method().to_string());
        self.log.push(format!("{}:{action}", self.service));
        Ok(())
    }
}

fn query_action(body: &[u8]) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .map(str::to_string)
}

/// The three SDK clients, sharing one config and one call log.
#[derive(Debug, Clone)]
pub struct Clients {
    /// IAM.
    pub iam: aws_sdk_iam::Client,
    /// STS.
    pub sts: aws_sdk_sts::Client,
    /// EKS.
    pub eks: aws_sdk_eks::Client,
    /// Every request sent through these clients.
    pub log: Arc<CallLog>,
    /// The region the clients use.
    pub region: String,
}

impl Clients {
    /// Loads the default chain (environment, profile/SSO, web identity, container, IMDS) with
    /// `--profile` and the region, checks that credentials resolve, and builds the clients.
    ///
    /// An explicit `--profile` wins over `AWS_ACCESS_KEY_ID` in the environment, as in the AWS
    /// CLI, and must name a profile that exists (bad input, exit 2). `AWS_PROFILE` alone keeps
    /// the SDK's usual order, where environment keys come first.
    pub async fn new(opts: &AwsOptions) -> Result<Self> {
        let timeout = opts.timeout.unwrap_or(DEFAULT_TIMEOUT);
        // One budget per call, retries included: a server that accepts and never answers
        // costs at most `timeout`, never forever and never five times the budget.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .operation_attempt_timeout(timeout)
            .operation_timeout(timeout)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(5))
            .timeout_config(timeouts);
        if let Some(p) = &opts.profile {
            profile_exists(p).await?;
            loader = loader.profile_name(p).credentials_provider(
                aws_config::profile::ProfileFileCredentialsProvider::builder()
                    .profile_name(p)
                    .build(),
            );
        }
        if let Some(r) = &opts.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(url) = &opts.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let mut sdk = loader.load().await;
        if sdk.region().is_none() {
            sdk = sdk.into_builder().region(Region::from_static(FALLBACK_REGION)).build();
        }
        note_timeout(timeout);
        // Resolve once, up front, for a clear message when the chain finds nothing; the clients
        // then use exactly these credentials (no second SSO / AssumeRole round trip).
        let Some(provider) = sdk.credentials_provider() else {
            return Err(no_credentials(opts, "no credentials provider could be built"));
        };
        let creds = provider
            .provide_credentials()
            .await
            .map_err(|e| no_credentials(opts, &causes(&e)))?;
        let sdk = sdk
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(creds))
            .build();
        Ok(Self::from_sdk_config(&sdk))
    }

    /// The clients of an SDK config that is already complete (credentials, region, timeouts,
    /// HTTP client), each with the call counter. [`Clients::new`] ends here; tests build the
    /// config themselves to answer from recorded responses.
    pub fn from_sdk_config(sdk: &aws_types::SdkConfig) -> Self {
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| FALLBACK_REGION.into());
        let log = Arc::new(CallLog::default());
        let counter = |service| Counter {
            service,
            log: log.clone(),
        };
        let iam = aws_sdk_iam::config::Builder::from(sdk)
            .interceptor(counter("iam"))
            .retry_classifier(NoRetryWhenRefused)
            .build();
        let sts = aws_sdk_sts::config::Builder::from(sdk)
            .interceptor(counter("sts"))
            .retry_classifier(NoRetryWhenRefused)
            .build();
        let eks = aws_sdk_eks::config::Builder::from(sdk)
            .interceptor(counter("eks"))
            .retry_classifier(NoRetryWhenRefused)
            .build();
        Clients {
            iam: aws_sdk_iam::Client::from_conf(iam),
            sts: aws_sdk_sts::Client::from_conf(sts),
            eks: aws_sdk_eks::Client::from_conf(eks),
            log,
            region,
        }
    }

    /// These clients with the EKS client rebuilt from `sdk`, still counted in this call log.
    /// For tests: moto serves IAM and STS but has no Pod Identity or addon API, so a test of a
    /// whole apply sends EKS's calls to recorded responses and the rest to moto.
    pub fn with_eks(mut self, sdk: &aws_types::SdkConfig) -> Self {
        let eks = aws_sdk_eks::config::Builder::from(sdk)
            .interceptor(Counter {
                service: "eks",
                log: self.log.clone(),
            })
            .retry_classifier(NoRetryWhenRefused)
            .build();
        self.eks = aws_sdk_eks::Client::from_conf(eks);
        self
    }
}

/// `--profile NAME` must exist in the shared config or credentials file: the SDK would
/// otherwise fall through to other sources and run as someone else.
async fn profile_exists(name: &str) -> Result<()> {
    // `ProfileFiles` is the (deprecated) name aws_config's public `load` still takes.
    #[allow(deprecated)]
    let files = aws_config::profile::profile_file::ProfileFiles::default();
    let set = aws_config::profile::load(&Fs::real(), &Env::real(), &files, None)
        .await
        .map_err(|e| {
            Error::invalid(
                "--profile",
                name,
                format!("the AWS config files cannot be read: {}", causes(&e)),
            )
        })?;
    if set.get_profile(name).is_some() {
        return Ok(());
    }
    let mut known: Vec<&str> = set.profiles().collect();
    known.sort_unstable();
    let known = if known.is_empty() {
        "none are defined".to_string()
    } else {
        format!("known profiles: {}", known.join(", "))
    };
    Err(Error::invalid(
        "--profile",
        name,
        format!(
            "no such profile in the AWS config files (AWS_CONFIG_FILE or ~/.aws/config, AWS_SHARED_CREDENTIALS_FILE or \
             ~/.aws/credentials); {known}"
        ),
    ))
}

/// Retry classifier: a refused connection is final (nothing listens there), so it is not
/// retried; the SDK's own classifiers still retry resets, lost answers and throttling.
#[derive(Debug)]
struct NoRetryWhenRefused;

impl ClassifyRetry for NoRetryWhenRefused {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.output_or_error() {
            Some(Err(e)) if e.as_connector_error().is_some_and(|c| is_refused(c)) => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "irsagen-no-retry-when-refused"
    }
}

/// True when an error's cause chain holds a refused TCP connection.
fn is_refused(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// The readable causes of an error: each distinct message of its source chain once, joined
/// with `: `, without the SDK's Debug dump and without generic wrapper words.
pub fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    const WRAPPERS: [&str; 6] = [
        "dispatch failure",
        "io error",
        "other",
        "service error",
        "unhandled error",
        "timeout",
    ];
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        let text = text.trim();
        let seen = parts.iter().any(|p| p.contains(text));
        if !text.is_empty() && !seen && !WRAPPERS.contains(&text) {
            // A wrapper that repeats its source's text adds nothing: keep the longer one.
            parts.retain(|p| !text.contains(p.as_str()));
            parts.push(text.to_string());
        }
        next = e.source();
    }
    if parts.is_empty() {
        "unknown cause".into()
    } else {
        parts.join(": ")
    }
}

/// Where each service's requests went (`iam` → `http://127.0.0.1:5000`) and the call budget,
/// for error messages: the SDK's dispatch and timeout errors do not carry the endpoint, and
/// [`api_error`] is called without the clients. Process-wide on purpose: one CLI run talks to
/// one endpoint per service.
static ENDPOINTS: Mutex<BTreeMap<&'static str, String>> = Mutex::new(BTreeMap::new());
static TIMEOUT_MS: AtomicU64 = AtomicU64::new(0);

fn note_endpoint(service: &'static str, uri: &str) {
    let base = match uri.find("://") {
        Some(i) => {
            let rest = &uri[i + 3..];
            let end = rest.find('/').unwrap_or(rest.len());
            uri[..i + 3 + end].to_string()
        }
        None => uri.to_string(),
    };
    if let Ok(mut m) = ENDPOINTS.lock() {
        m.insert(service, base);
    }
}

fn note_timeout(t: Duration) {
    TIMEOUT_MS.store(u64::try_from(t.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// The endpoint the last request of `action`'s service went to (`iam:GetRole` → iam's).
fn endpoint_of(action: &str) -> String {
    let service = action.split_once(':').map_or(action, |(s, _)| s);
    ENDPOINTS
        .lock()
        .ok()
        .and_then(|m| m.get(service).cloned())
        .unwrap_or_else(|| format!("the {service} endpoint"))
}

fn timeout_text() -> String {
    let ms = TIMEOUT_MS.load(Ordering::Relaxed);
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

fn no_credentials(opts: &AwsOptions, cause: &str) -> Error {
    let profile = match &opts.profile {
        Some(p) => format!(" (profile `{p}` was asked for: check it has credentials or an SSO session)"),
        None => String::new(),
    };
    Error::Aws(format!(
        "no AWS credentials found{profile}. irsagen uses the AWS SDK's default credential chain, in order: \
         environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary keys); \
         a profile from ~/.aws/credentials or ~/.aws/config chosen with AWS_PROFILE, including IAM Identity Center/SSO \
         profiles (run `aws sso login --profile NAME` first); web identity (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN); \
         ECS/EKS container credentials; and EC2 instance metadata (IMDS). An explicit --profile NAME uses that profile \
         only. Fix: export keys, pass --profile NAME, or log in with `aws sso login`; `irsagen whoami` checks the result. \
         Cause: {cause}"
    ))
}

/// True when the error is the service saying the resource does not exist.
pub fn is_not_found<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(err, SdkError::ServiceError(se) if matches!(se.err().code(), Some("NoSuchEntity" | "ResourceNotFoundException")))
}

/// The service's error code (`EntityAlreadyExists`), when the service answered with one.
pub fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(se) => se.err().code(),
        _ => None,
    }
}

/// Turns an SDK error into [`Error::Aws`], naming the call (`iam:GetRole`) and its target,
/// in one readable line per cause: for network failures, the endpoint and what happened.
pub fn api_error<E, R>(action: &str, target: &str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let on = if target.is_empty() {
        String::new()
    } else {
        format!(" on `{target}`")
    };
    let msg = match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("Unknown");
            let message = e.message().unwrap_or("");
            match code {
                c if c.contains("AccessDenied") || c.starts_with("Unauthorized") => format!(
                    "access denied: the caller may not call {action}{on} ({code}: {message}). Grant `{action}` to the identity \
                     `irsagen whoami` shows, or use a profile that has it (--profile)"
                ),
                "InvalidClientTokenId"
                | "UnrecognizedClientException"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
                | "ExpiredTokenException"
                | "InvalidAccessKeyId"
                | "RequestExpired" => format!(
                    "AWS rejected the credentials for {action} ({code}: {message}). They are invalid or expired: refresh them \
                     (e.g. `aws sso login`), or check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN and --profile"
                ),
                c if c.contains("Throttl") || c == "ServiceUnavailable" || c == "InternalFailure" => {
                    format!("{action}{on} still failed after the SDK's retries ({code}: {message}); try again later")
                }
                _ if e.code().is_none() => format!(
                    "{action}{on} failed with an unrecognised error response from {} (after the SDK's retries): {}",
                    endpoint_of(action),
                    causes(&err)
                ),
                _ => format!("{action}{on} failed: {code}: {message}"),
            }
        }
        SdkError::DispatchFailure(d) => {
            let endpoint = endpoint_of(action);
            match d.as_connector_error() {
                Some(c) if is_refused(c) => format!(
                    "cannot reach AWS for {action}{on}: {endpoint} refused the connection (nothing listens there; not retried). \
                     Check the network, the region and AWS_ENDPOINT_URL if set"
                ),
                Some(c) if c.is_timeout() => format!(
                    "{action}{on} timed out: no connection to {endpoint} within {} (--timeout). Check the network, \
                     the region and AWS_ENDPOINT_URL if set",
                    timeout_text()
                ),
                _ => format!(
                    "cannot reach AWS for {action}{on} at {endpoint}: {}. Check the network, the region and \
                     AWS_ENDPOINT_URL if set",
                    causes(&err)
                ),
            }
        }
        SdkError::TimeoutError(_) => format!(
            "{action}{on} timed out: {} did not answer within {} (--timeout); nothing more was sent. \
             Re-run when the endpoint answers (apply re-reads IAM and does only what is missing), or raise --timeout",
            endpoint_of(action),
            timeout_text()
        ),
        SdkError::ResponseError(_) => format!(
            "{action}{on}: the answer from {} could not be read: {}",
            endpoint_of(action),
            causes(&err)
        ),
        _ => format!("{action}{on} failed: {}", causes(&err)),
    };
    Error::Aws(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_writes() {
        assert!(!is_write("iam:GetRole"));
        assert!(!is_write("iam:ListAttachedRolePolicies"));
        assert!(!is_write("eks:DescribeCluster"));
        assert!(is_write("iam:CreatePolicyVersion"));
        assert!(is_write("iam:TagRole"));
        assert_eq!(
            query_action(b"Action=GetRole&Version=2010-05-08&RoleName=x").as_deref(),
            Some("GetRole")
        );
    }

    fn service_error(code: &str, message: &str) -> SdkError<aws_sdk_iam::operation::get_role::GetRoleError, ()> {
        let meta = aws_sdk_iam::error::ErrorMetadata::builder()
            .code(code)
            .message(message)
            .build();
        SdkError::service_error(aws_sdk_iam::operation::get_role::GetRoleError::generic(meta), ())
    }

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>, Option<std::io::Error>);
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            match (&self.1, &self.2) {
                (Some(l), _) => Some(l.as_ref()),
                (None, Some(io)) => Some(io),
                _ => None,
            }
        }
    }

    #[test]
    fn causes_are_said_once_without_wrapper_words() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let chain = Layer(
            "dispatch failure",
            Some(Box::new(Layer(
                "io error",
                Some(Box::new(Layer("client error (Connect)", None, Some(refused)))),
                None,
            ))),
            None,
        );
        let text = causes(&chain);
        assert_eq!(
            text,
            format!(
                "client error (Connect): {}",
                std::io::Error::from(std::io::ErrorKind::ConnectionRefused)
            )
        );
        assert!(is_refused(&chain));
        let plain = Layer("tls handshake eof", None, None);
        assert!(!is_refused(&plain));
        assert_eq!(causes(&plain), "tls handshake eof");
        // A wrapper that repeats its source's text is said once.
        let repeat = Layer(
            "timed out: no answer",
            Some(Box::new(Layer("no answer", None, None))),
            None,
        );
        assert_eq!(causes(&repeat), "timed out: no answer");
        assert_eq!(causes(&Layer("other", None, None)), "unknown cause");
    }

    #[test]
    fn endpoints_are_remembered_per_service_without_the_path() {
        note_endpoint("eks", "http://127.0.0.1:4566/clusters/x?y=1");
        assert_eq!(endpoint_of("eks:DescribeCluster"), "http://127.0.0.1:4566");
        assert_eq!(endpoint_of("nosuchservice:Call"), "the nosuchservice endpoint");
        note_timeout(Duration::from_millis(2500));
        assert_eq!(timeout_text(), "2.5 s");
        note_timeout(Duration::from_secs(30));
        assert_eq!(timeout_text(), "30 s");
    }

    #[test]
    fn access_denied_names_the_action() {
        let e = api_error(
            "iam:GetRole",
            "r",
            service_error("AccessDenied", "User: arn:aws:iam::1:user/u is not authorized"),
        );
        let msg = e.to_string();
        assert!(
            msg.starts_with("access denied:")
                && msg.contains("iam:GetRole on `r`")
                && msg.contains("Grant `iam:GetRole`"),
            "{msg}"
        );
        assert_eq!(e.exit_code(), 3);
    }

    #[test]
    fn other_errors_name_the_call_and_code() {
        let msg = api_error("iam:GetRole", "r", service_error("ExpiredToken", "expired")).to_string();
        assert!(
            msg.contains("invalid or expired") && msg.contains("aws sso login"),
            "{msg}"
        );
        let msg = api_error("iam:GetRole", "r", service_error("Throttling", "Rate exceeded")).to_string();
        assert!(msg.contains("after the SDK's retries"), "{msg}");
        let msg = api_error("iam:GetRole", "r", service_error("LimitExceeded", "too many")).to_string();
        assert_eq!(msg, "iam:GetRole on `r` failed: LimitExceeded: too many");
        assert!(is_not_found(&service_error("NoSuchEntity", "gone")));
        assert!(!is_not_found(&service_error("AccessDenied", "no")));
    }
}
