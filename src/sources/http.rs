//! HTTP plumbing shared by every HTTP source adapter: one way to build the client (rustls,
//! certificate verification on, an optional extra CA bundle, same-origin redirects only), one way
//! to send a request (bounded retries with capped, jittered backoff; `Retry-After` and
//! `X-RateLimit-Reset` honoured), and one size cap on response bodies.
//!
//! Secrets travel only in headers marked sensitive; no error built here contains a header value,
//! and URLs in errors have their user-info and secret-looking query parameters redacted.

use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use reqwest::header::HeaderMap;
use serde::Deserialize;

use super::SourceError;

/// Default whole-request timeout (body included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on one response body.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
/// Default number of retries of one request after a transient failure.
pub const DEFAULT_RETRIES: u32 = 3;
/// Default first retry delay (Buildium documents "retry after ~200 ms" on 429).
pub const DEFAULT_RETRY_MIN: Duration = Duration::from_millis(200);
/// Default longest retry delay; a server asking for a longer wait fails the pull instead.
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(30);

/// Connection settings every HTTP adapter shares. Their keys sit in each `[[source]]` table
/// beside the adapter's own; the config parser takes them out before the adapter's keys are
/// parsed (flattening does not work with `deny_unknown_fields`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Whole-request timeout, body included.
    #[serde(with = "crate::config::duration")]
    pub timeout: Duration,
    /// A response body larger than this fails the pull.
    pub max_body_bytes: u64,
    /// Extra PEM CA certificate(s) to trust besides the built-in web roots (for a private CA).
    pub ca_file: Option<PathBuf>,
    /// Retries of one request after a transient failure (timeout, 5xx, 429).
    pub retries: u32,
    #[serde(with = "crate::config::duration")]
    pub retry_min: Duration,
    #[serde(with = "crate::config::duration")]
    pub retry_max: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: DEFAULT_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            ca_file: None,
            retries: DEFAULT_RETRIES,
            retry_min: DEFAULT_RETRY_MIN,
            retry_max: DEFAULT_RETRY_MAX,
        }
    }
}

impl HttpSettings {
    /// The keys of a `[[source]]` table that belong here.
    pub const KEYS: [&str; 6] = [
        "timeout",
        "max_body_bytes",
        "ca_file",
        "retries",
        "retry_min",
        "retry_max",
    ];

    /// Checks the values; the error starts with the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.timeout.is_zero() {
            return Err("timeout: must be more than zero".to_string());
        }
        if self.max_body_bytes == 0 {
            return Err("max_body_bytes: must be more than zero".to_string());
        }
        if self.retries > 10 {
            return Err("retries: at most 10".to_string());
        }
        if self.retry_min.is_zero() || self.retry_max < self.retry_min {
            return Err(
                "retry_max: retry_min must be above zero and retry_max at least retry_min"
                    .to_string(),
            );
        }
        Ok(())
    }
}

/// A response that arrived whole and within the size cap.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The request URL, redacted for messages.
    pub url: String,
}

impl Response {
    /// A header's value as text, if present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON, or a `Body` error saying why not.
    pub fn json(&self) -> Result<serde_json::Value, SourceError> {
        serde_json::from_slice(&self.body).map_err(|e| SourceError::Body {
            url: self.url.clone(),
            reason: format!("invalid JSON: {e}"),
        })
    }
}

/// The shared HTTP client of one source.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    settings: HttpSettings,
}

impl HttpClient {
    /// Builds the client. `base_url` decides only whether a proxy may be used (never for
    /// loopback). The error is a reason naming the key (`ca_file: …`).
    pub fn new(base_url: &str, settings: &HttpSettings) -> Result<HttpClient, String> {
        settings.validate()?;
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(false)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!("lintel/", env!("CARGO_PKG_VERSION")))
            .redirect(same_origin_redirects());
        if reqwest::Url::parse(base_url).is_ok_and(|url| is_loopback(&url)) {
            builder = builder.no_proxy();
        }
        if let Some(path) = &settings.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| format!("ca_file: cannot read {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("ca_file: {} is not PEM: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("ca_file: {} holds no certificate", path.display()));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot build HTTP client: {}", error_chain(&e)))?;
        Ok(HttpClient {
            client,
            settings: settings.clone(),
        })
    }

    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// Sends the request `build` makes, retrying transient failures (connection errors,
    /// timeouts, truncated bodies, 5xx, 429) up to `retries` times. Any other non-2xx status,
    /// a TLS failure, or a body over the cap fails at once. `url` names the request in errors
    /// (it is redacted here).
    pub async fn send(
        &self,
        url: &str,
        build: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync),
    ) -> Result<Response, SourceError> {
        let shown = redact_url(url);
        let mut attempt = 0u32;
        loop {
            let failure = match self.once(&shown, build).await {
                Ok(response) if (200..300).contains(&response.status) => {
                    super::pms_clock::note(&response.headers);
                    return Ok(response);
                }
                Ok(response) => {
                    let status = response.status;
                    let retryable = status == 429 || (500..600).contains(&status);
                    if !retryable || attempt >= self.settings.retries {
                        return Err(SourceError::Status {
                            url: shown,
                            status,
                            note: status_note(status, attempt),
                        });
                    }
                    let hint = RetryHint {
                        retry_after: response.header("retry-after").map(str::to_string),
                        rate_limit_reset: response.header("x-ratelimit-reset").map(str::to_string),
                    };
                    (
                        hint,
                        SourceError::Status {
                            url: shown.clone(),
                            status,
                            note: status_note(status, attempt),
                        },
                    )
                }
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Transient(e)) => {
                    if attempt >= self.settings.retries {
                        return Err(with_attempts(e, attempt + 1));
                    }
                    (RetryHint::default(), e)
                }
            };
            let (hint, error) = failure;
            let wait = retry_wait(
                attempt,
                &hint,
                Timestamp::now(),
                &self.settings,
                &mut rand::rng(),
            );
            match wait {
                Wait::After(delay) => {
                    tracing::debug!(url = %shown, attempt, ?delay, error = %error, "retrying");
                    tokio::time::sleep(delay).await;
                }
                Wait::GiveUp(why) => {
                    return Err(match error {
                        SourceError::Status { url, status, .. } => SourceError::Status {
                            url,
                            status,
                            note: format!(" ({why})"),
                        },
                        other => other,
                    });
                }
            }
            attempt += 1;
        }
    }

    async fn once(
        &self,
        shown: &str,
        build: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync),
    ) -> Result<Response, Failure> {
        let mut response = build(&self.client)
            .send()
            .await
            .map_err(|e| self.transport(shown, e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let cap = self.settings.max_body_bytes;
        let too_big = || {
            Failure::Fatal(SourceError::Body {
                url: shown.to_string(),
                reason: format!("body is larger than max_body_bytes ({cap} bytes)"),
            })
        };
        let announced = response.content_length();
        if announced.is_some_and(|len| len > cap) {
            return Err(too_big());
        }
        // Sized once when announced: grown by doubling, a 31 MB listing held the last two
        // sizes (16 and 32 MiB) at once while it was read.
        let mut body = Vec::with_capacity(announced.map_or(0, |len| len as usize));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport(shown, e))?
        {
            if (body.len() + chunk.len()) as u64 > cap {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body,
            url: shown.to_string(),
        })
    }

    fn transport(&self, shown: &str, error: reqwest::Error) -> Failure {
        let timeout = error.is_timeout();
        let body = error.is_body() || error.is_decode();
        let chain = error_chain(&error.without_url());
        let lower = chain.to_lowercase();
        if is_tls_failure(&lower) {
            return Failure::Fatal(SourceError::Http {
                url: shown.to_string(),
                reason: format!(
                    "TLS failure (certificate verification is on; set ca_file for a private CA): \
                     {chain}"
                ),
            });
        }
        let reason = if timeout {
            format!("timed out after {:?}: {chain}", self.settings.timeout)
        } else if body {
            format!("response body cut short: {chain}")
        } else {
            chain
        };
        Failure::Transient(SourceError::Http {
            url: shown.to_string(),
            reason,
        })
    }
}

enum Failure {
    Transient(SourceError),
    Fatal(SourceError),
}

fn status_note(status: u16, attempt: u32) -> String {
    let what = if status == 429 {
        " (rate limited"
    } else if (500..600).contains(&status) {
        " (server error"
    } else {
        return String::new();
    };
    if attempt == 0 {
        format!("{what})")
    } else {
        format!("{what}; gave up after {} attempts)", attempt + 1)
    }
}

fn with_attempts(error: SourceError, attempts: u32) -> SourceError {
    match error {
        SourceError::Http { url, reason } if attempts > 1 => SourceError::Http {
            url,
            reason: format!("{reason} (gave up after {attempts} attempts)"),
        },
        other => other,
    }
}

fn is_tls_failure(lower_chain: &str) -> bool {
    [
        "certificate",
        "tls",
        "handshake",
        "corrupt message",
        "invalidcontenttype",
    ]
    .iter()
    .any(|needle| lower_chain.contains(needle))
}

/// What a refusing server said about when to come back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryHint {
    /// `Retry-After`: delay seconds or an HTTP date.
    pub retry_after: Option<String>,
    /// `X-RateLimit-Reset`: epoch seconds (Entrata).
    pub rate_limit_reset: Option<String>,
}

/// What to do before retry number `attempt` (0 = the first retry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    After(Duration),
    /// The server asks for a wait longer than `retry_max`: fail the pull now with this reason.
    GiveUp(String),
}

/// The wait before a retry: the server's hint when it gives one (never less), else capped
/// exponential backoff with jitter from `retry_min`. A hint longer than `retry_max` gives up.
pub fn retry_wait(
    attempt: u32,
    hint: &RetryHint,
    now: Timestamp,
    settings: &HttpSettings,
    rng: &mut impl rand::Rng,
) -> Wait {
    let asked = hint
        .retry_after
        .as_deref()
        .and_then(|v| parse_retry_after(v, now))
        .or_else(|| {
            hint.rate_limit_reset
                .as_deref()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .map(|reset| {
                    Duration::from_secs(u64::try_from(reset - now.as_second()).unwrap_or(0))
                })
        });
    match asked {
        Some(wait) if wait > settings.retry_max => Wait::GiveUp(format!(
            "rate limited; the server asks to retry after {}s, more than retry_max {}",
            wait.as_secs(),
            humantime::format_duration(settings.retry_max)
        )),
        Some(wait) => Wait::After(wait),
        None => Wait::After(crate::backoff::backoff(
            attempt,
            settings.retry_min,
            settings.retry_max,
            rng,
        )),
    }
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110); `None` if neither.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = super::pms_clock::parse_http_date(value)?;
    Some(Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO))
}

/// A header value carrying a secret, marked sensitive so that it never shows in debug output;
/// `None` when the text holds characters a header cannot (the caller's error must not echo it).
pub fn secret_header(text: &str) -> Option<reqwest::header::HeaderValue> {
    let mut value = reqwest::header::HeaderValue::from_str(text).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// Follows at most 5 redirects, and only within the same scheme, host and port, so that auth
/// headers (which may be custom ones reqwest does not strip) never reach another host.
pub fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() > 5 {
            return attempt.error("too many redirects");
        }
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same_origin {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// True for a URL whose host is a loopback address or `localhost`.
pub fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// Checks a configured base URL: http(s), and plain http only to loopback (credentials would
/// otherwise cross the network in clear). The error starts with `key`.
pub fn check_base_url(key: &str, text: &str, sends_secret: bool) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("{key}: invalid URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if !sends_secret || is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "{key}: refusing to send credentials over plain http to a non-loopback host \
                 (use https)"
            ));
        }
        other => {
            return Err(format!(
                "{key}: scheme {other:?} is not supported (use https)"
            ));
        }
    }
    Ok(url)
}

/// True when `next` may receive this source's credentials: same scheme, host and port as `base`.
pub fn same_origin(base: &reqwest::Url, next: &reqwest::Url) -> bool {
    base.origin() == next.origin()
}

/// A URL fit for logs and errors: no user-info, and the values of query parameters whose names
/// look like credentials replaced by `REDACTED`.
pub fn redact_url(text: &str) -> String {
    let Ok(mut url) = reqwest::Url::parse(text) else {
        return text.to_string();
    };
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let lower = k.to_lowercase();
                let secret = ["key", "token", "secret", "password", "signature", "auth"]
                    .iter()
                    .any(|s| lower.contains(s));
                (
                    k.into_owned(),
                    if secret {
                        "REDACTED".to_string()
                    } else {
                        v.into_owned()
                    },
                )
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// An error and its sources, joined with ": ", skipping repeats.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).expect("timestamp")
    }

    #[test]
    fn retry_after_seconds_and_http_dates() {
        let now = at(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:30 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn hints_are_honoured_and_too_long_a_hint_gives_up() {
        let settings = HttpSettings::default();
        let mut rng = StdRng::seed_from_u64(3);
        let now = at(1_700_000_000);
        let hint = |retry_after: Option<&str>, reset: Option<&str>| RetryHint {
            retry_after: retry_after.map(String::from),
            rate_limit_reset: reset.map(String::from),
        };
        assert_eq!(
            retry_wait(0, &hint(Some("3"), None), now, &settings, &mut rng),
            Wait::After(Duration::from_secs(3))
        );
        // Entrata's reset is epoch seconds.
        assert_eq!(
            retry_wait(0, &hint(None, Some("1700000007")), now, &settings, &mut rng),
            Wait::After(Duration::from_secs(7))
        );
        assert_eq!(
            retry_wait(0, &hint(None, Some("1699999990")), now, &settings, &mut rng),
            Wait::After(Duration::ZERO)
        );
        let Wait::GiveUp(why) = retry_wait(0, &hint(Some("3600"), None), now, &settings, &mut rng)
        else {
            panic!("an hour is more than retry_max");
        };
        assert!(
            why.contains("3600s") && why.contains("retry_max 30s"),
            "{why}"
        );
    }

    #[test]
    fn without_a_hint_backoff_starts_near_200ms_and_is_capped() {
        let settings = HttpSettings::default();
        let mut rng = StdRng::seed_from_u64(9);
        let now = at(0);
        for attempt in 0..20 {
            let Wait::After(d) =
                retry_wait(attempt, &RetryHint::default(), now, &settings, &mut rng)
            else {
                panic!("backoff never gives up");
            };
            let ceiling = (DEFAULT_RETRY_MIN * 2u32.pow(attempt.min(20))).min(DEFAULT_RETRY_MAX);
            assert!(d >= ceiling / 2 && d <= ceiling, "{attempt}: {d:?}");
        }
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("https://user:pw@pms.example/r?api_key=s3cret&page=2"),
            "https://pms.example/r?api_key=REDACTED&page=2"
        );
        assert_eq!(
            redact_url("https://api.buildium.com/v1/leases/tenants?limit=5&offset=10"),
            "https://api.buildium.com/v1/leases/tenants?limit=5&offset=10"
        );
    }

    #[test]
    fn base_urls_refuse_clear_text_credentials_off_loopback() {
        assert!(check_base_url("base_url", "https://api.buildium.com", true).is_ok());
        assert!(check_base_url("base_url", "http://127.0.0.1:9/x", true).is_ok());
        assert!(check_base_url("base_url", "http://[::1]:9/x", true).is_ok());
        let err = check_base_url("base_url", "http://pms.example", true).expect_err("clear");
        assert!(err.starts_with("base_url: refusing"), "{err}");
        assert!(check_base_url("base_url", "ftp://pms.example", false).is_err());
        assert!(check_base_url("base_url", "not a url", false).is_err());
    }

    #[test]
    fn settings_validate_names_the_key() {
        let bad = HttpSettings {
            retries: 11,
            ..HttpSettings::default()
        };
        assert!(bad.validate().expect_err("retries").starts_with("retries:"));
        let bad = HttpSettings {
            retry_max: Duration::from_millis(1),
            ..HttpSettings::default()
        };
        assert!(
            bad.validate()
                .expect_err("retry_max")
                .starts_with("retry_max:")
        );
    }
}
