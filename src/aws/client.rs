//! The SDK clients (STS, IAM, EKS) built from the default credential chain, the API-call
//! counter every client carries, and the translation of SDK errors into irsagen's messages.

use super::AwsOptions;
use crate::error::{Error, Result};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_iam::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_iam::config::{
    ConfigBag, Intercept, ProvideCredentials, Region, RuntimeComponents, SharedCredentialsProvider,
};
use aws_sdk_iam::error::{BoxError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// Region used when neither the options nor the SDK's chain name one (STS and IAM are global).
const FALLBACK_REGION: &str = "us-east-1";

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
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let req = context.request();
        // IAM and STS speak the query protocol: the action is a form field of the body.
        let action = req
            .body()
            .bytes()
            .and_then(query_action)
            .unwrap_or_else(|| match (self.service, req.method()) {
                ("eks", "GET") => "DescribeCluster".to_string(),
                (_, m) => m.to_string(),
            });
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
    pub async fn new(opts: &AwsOptions) -> Result<Self> {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).retry_config(RetryConfig::standard().with_max_attempts(5));
        if let Some(p) = &opts.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &opts.region {
            loader = loader.region(Region::new(r.clone()));
        }
        let mut sdk = loader.load().await;
        if sdk.region().is_none() {
            sdk = sdk.into_builder().region(Region::from_static(FALLBACK_REGION)).build();
        }
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| FALLBACK_REGION.into());
        // Resolve once, up front, for a clear message when the chain finds nothing; the clients
        // then use exactly these credentials (no second SSO / AssumeRole round trip).
        let Some(provider) = sdk.credentials_provider() else {
            return Err(no_credentials(opts, "no credentials provider could be built"));
        };
        let creds = provider
            .provide_credentials()
            .await
            .map_err(|e| no_credentials(opts, &DisplayErrorContext(&e).to_string()))?;
        let sdk = sdk
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(creds))
            .build();
        let log = Arc::new(CallLog::default());
        let iam = aws_sdk_iam::config::Builder::from(&sdk)
            .interceptor(Counter {
                service: "iam",
                log: log.clone(),
            })
            .build();
        let sts = aws_sdk_sts::config::Builder::from(&sdk)
            .interceptor(Counter {
                service: "sts",
                log: log.clone(),
            })
            .build();
        let eks = aws_sdk_eks::config::Builder::from(&sdk)
            .interceptor(Counter {
                service: "eks",
                log: log.clone(),
            })
            .build();
        Ok(Clients {
            iam: aws_sdk_iam::Client::from_conf(iam),
            sts: aws_sdk_sts::Client::from_conf(sts),
            eks: aws_sdk_eks::Client::from_conf(eks),
            log,
            region,
        })
    }
}

fn no_credentials(opts: &AwsOptions, cause: &str) -> Error {
    let profile = match &opts.profile {
        Some(p) => format!(" (profile `{p}` was asked for: check it exists in ~/.aws/config or ~/.aws/credentials)"),
        None => String::new(),
    };
    Error::Aws(format!(
        "no AWS credentials found{profile}. irsagen uses the AWS SDK's default credential chain, in order: \
         environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary keys); \
         a profile from ~/.aws/credentials or ~/.aws/config chosen with AWS_PROFILE or --profile, including IAM Identity Center/SSO \
         profiles (run `aws sso login --profile NAME` first); web identity (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN); \
         ECS/EKS container credentials; and EC2 instance metadata (IMDS). Fix: export keys, pass --profile NAME, or log in \
         with `aws sso login`; `irsagen whoami` checks the result. Cause: {cause}"
    ))
}

/// True when the error is the service saying the resource does not exist.
pub fn is_not_found<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(err, SdkError::ServiceError(se) if matches!(se.err().code(), Some("NoSuchEntity" | "ResourceNotFoundException")))
}

/// Turns an SDK error into [`Error::Aws`], naming the call (`iam:GetRole`) and its target.
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
                    "{action}{on} failed with an unrecognised error response (after the SDK's retries): {}",
                    DisplayErrorContext(&err)
                ),
                _ => format!("{action}{on} failed: {code}: {message}"),
            }
        }
        SdkError::DispatchFailure(_) => format!(
            "cannot reach AWS for {action}{on}: {}. Check the network, the region and AWS_ENDPOINT_URL if set",
            DisplayErrorContext(&err)
        ),
        SdkError::TimeoutError(_) => format!("{action}{on} timed out: {}", DisplayErrorContext(&err)),
        _ => format!("{action}{on} failed: {}", DisplayErrorContext(&err)),
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
