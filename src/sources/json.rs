//! A generic JSON-over-HTTP source: `GET url`, find the array of records at a dotted path, and
//! map each record's fields through a configurable table of dotted paths.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;

use super::fields::RawFields;
use super::{Pull, PullKind, SkippedRecord, Source, SourceError};
use crate::config::secret::SecretRef;

/// Default request timeout (whole request, body included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on the response body.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;

/// `[[source]]` settings for `kind = "json"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonSourceConfig {
    pub name: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The full URL to `GET` (http or https).
    pub url: String,
    /// Header carrying the secret, e.g. "Authorization" or "X-Api-Key". Requires `secret`.
    #[serde(default)]
    pub auth_header: Option<String>,
    /// Prefix of the header value, e.g. "Bearer" (joined to the secret with one space).
    #[serde(default)]
    pub auth_scheme: Option<String>,
    /// The header value (after the scheme).
    #[serde(default)]
    pub secret: Option<SecretRef>,
    /// Extra PEM CA certificate(s) to trust besides the built-in web roots (for a private CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Dotted path to the array of records in the response body; "" = the body is the array.
    #[serde(default)]
    pub records: String,
    /// Whole-request timeout, a humantime string such as "30s".
    #[serde(default = "default_timeout", with = "crate::config::duration")]
    pub timeout: Duration,
    /// A response body larger than this fails the pull.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// Where each field lives inside one record.
    #[serde(default)]
    pub fields: FieldMap,
}

/// Dotted paths (object keys, or array indexes such as `phones.0.number`) to each
/// [`SourceRecord`](super::SourceRecord) field inside one record. An empty path means the field
/// is not provided by this source (not allowed for `external_id` and `status`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldMap {
    pub external_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub unit: String,
    pub status: String,
    pub lease_start: String,
    pub lease_end: String,
    pub move_in: String,
    pub move_out: String,
}

impl Default for FieldMap {
    fn default() -> Self {
        FieldMap {
            external_id: "id".into(),
            first_name: "first_name".into(),
            last_name: "last_name".into(),
            email: "email".into(),
            phone: "phone".into(),
            unit: "unit".into(),
            status: "status".into(),
            lease_start: "lease_start".into(),
            lease_end: "lease_end".into(),
            move_in: "move_in".into(),
            move_out: "move_out".into(),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}

fn default_max_body_bytes() -> u64 {
    DEFAULT_MAX_BODY_BYTES
}

impl JsonSourceConfig {
    /// A config with the given name and URL and every other setting at its default.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        JsonSourceConfig {
            name: name.into(),
            enabled: true,
            url: url.into(),
            auth_header: None,
            auth_scheme: None,
            secret: None,
            ca_file: None,
            records: String::new(),
            timeout: DEFAULT_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            fields: FieldMap::default(),
        }
    }

    /// Checks the settings that serde cannot (without loading the secret). The error names the
    /// key and says why.
    pub fn validate(&self) -> Result<(), String> {
        let url = reqwest::Url::parse(&self.url).map_err(|e| format!("url: invalid URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "url: scheme {:?} is not supported (use https or http)",
                url.scheme()
            ));
        }
        match (&self.auth_header, &self.secret) {
            (Some(header), Some(_)) => {
                HeaderName::from_bytes(header.as_bytes())
                    .map_err(|_| format!("auth_header: {header:?} is not a valid header name"))?;
                if url.scheme() == "http" && !is_loopback(&url) {
                    return Err(
                        "url: refusing to send the secret over plain http to a non-loopback host \
                         (use https)"
                            .to_string(),
                    );
                }
            }
            (Some(_), None) => return Err("auth_header is set but secret is not".to_string()),
            (None, Some(_)) => return Err("secret is set but auth_header is not".to_string()),
            (None, None) => {
                if self.auth_scheme.is_some() {
                    return Err("auth_scheme is set but auth_header is not".to_string());
                }
            }
        }
        if let Some(scheme) = &self.auth_scheme {
            if scheme.trim().is_empty() || scheme.trim().contains(char::is_whitespace) {
                return Err(format!("auth_scheme: {scheme:?} must be one word"));
            }
        }
        if self.timeout.is_zero() {
            return Err("timeout: must be more than zero".to_string());
        }
        if self.max_body_bytes == 0 {
            return Err("max_body_bytes: must be more than zero".to_string());
        }
        if self.fields.external_id.trim().is_empty() {
            return Err("fields.external_id: must not be empty".to_string());
        }
        if self.fields.status.trim().is_empty() {
            return Err("fields.status: must not be empty".to_string());
        }
        Ok(())
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// The JSON-over-HTTP source. Built once from config (the secret is loaded then); each
/// [`Source::pull`] is one `GET`.
pub struct JsonSource {
    name: String,
    url: String,
    client: reqwest::Client,
    auth: Option<(HeaderName, HeaderValue)>,
    records: String,
    max_body_bytes: u64,
    fields: FieldMap,
}

impl fmt::Debug for JsonSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonSource")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("auth_header", &self.auth.as_ref().map(|(name, _)| name))
            .field("records", &self.records)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

impl JsonSource {
    pub fn new(config: &JsonSourceConfig) -> Result<JsonSource, SourceError> {
        let config_error = |reason: String| SourceError::Http {
            url: config.url.clone(),
            reason: format!(
                "invalid configuration for source {:?}: {reason}",
                config.name
            ),
        };
        config.validate().map_err(config_error)?;

        let auth = match (&config.auth_header, &config.secret) {
            (Some(header), Some(secret)) => {
                let secret = secret.load()?;
                let name = HeaderName::from_bytes(header.as_bytes())
                    .map_err(|_| config_error(format!("auth_header: {header:?} is invalid")))?;
                let text = match &config.auth_scheme {
                    Some(scheme) => format!("{} {}", scheme.trim(), secret.expose()),
                    None => secret.expose().to_string(),
                };
                // The error must not echo the value: it is the secret.
                let mut value = HeaderValue::from_str(&text).map_err(|_| {
                    config_error(
                        "secret: contains characters not allowed in an HTTP header".to_string(),
                    )
                })?;
                value.set_sensitive(true);
                Some((name, value))
            }
            _ => None,
        };

        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("lintel/", env!("CARGO_PKG_VERSION")))
            .redirect(same_origin_redirects());
        // A proxy cannot reach this box's own loopback.
        if reqwest::Url::parse(&config.url).is_ok_and(|url| is_loopback(&url)) {
            builder = builder.no_proxy();
        }
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                config_error(format!("ca_file: cannot read {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                config_error(format!("ca_file: {} is not PEM: {e}", path.display()))
            })?;
            if certs.is_empty() {
                return Err(config_error(format!(
                    "ca_file: {} holds no certificate",
                    path.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| config_error(format!("cannot build HTTP client: {}", error_chain(&e))))?;

        Ok(JsonSource {
            name: config.name.clone(),
            url: config.url.clone(),
            client,
            auth,
            records: config.records.trim().to_string(),
            max_body_bytes: config.max_body_bytes,
            fields: config.fields.clone(),
        })
    }

    /// The configured source name.
    pub fn name(&self) -> &str {
        &self.name
    }

    async fn fetch(&self) -> Result<Vec<u8>, SourceError> {
        let http_error = |e: reqwest::Error| SourceError::Http {
            url: self.url.clone(),
            reason: error_chain(&e.without_url()),
        };
        let mut request = self
            .client
            .get(&self.url)
            .header("Accept", "application/json");
        if let Some((name, value)) = &self.auth {
            request = request.header(name.clone(), value.clone());
        }
        let mut response = request.send().await.map_err(http_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(SourceError::Status {
                url: self.url.clone(),
                status: status.as_u16(),
            });
        }
        let too_big = || SourceError::Body {
            url: self.url.clone(),
            reason: format!(
                "body is larger than max_body_bytes ({} bytes)",
                self.max_body_bytes
            ),
        };
        if response
            .content_length()
            .is_some_and(|len| len > self.max_body_bytes)
        {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(http_error)? {
            if (body.len() + chunk.len()) as u64 > self.max_body_bytes {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Parses one response body into a [`Pull`] (public for tests and tools that hold a body).
    pub fn parse(&self, body: &[u8]) -> Result<Pull, SourceError> {
        let body_error = |reason: String| SourceError::Body {
            url: self.url.clone(),
            reason,
        };
        let document: Value =
            serde_json::from_slice(body).map_err(|e| body_error(format!("invalid JSON: {e}")))?;
        let list = lookup(&document, &self.records)
            .ok_or_else(|| body_error(format!("records path {:?} not found", self.records)))?;
        let Value::Array(items) = list else {
            return Err(body_error(format!(
                "records path {:?} holds {}, expected an array",
                self.records,
                kind(list)
            )));
        };
        let mut pull = Pull::default();
        for (index, item) in items.iter().enumerate() {
            match self.record(index, item) {
                Ok(record) => pull.records.push(record),
                Err(skipped) => pull.skipped.push(skipped),
            }
        }
        Ok(pull)
    }

    fn record(&self, index: usize, item: &Value) -> Result<super::SourceRecord, SkippedRecord> {
        let f = &self.fields;
        // The id first, so that every later skip can name it.
        let id = read(item, "external_id", &f.external_id, Leniency::Number);
        let external_id = id
            .as_ref()
            .ok()
            .and_then(|v| super::fields::non_empty(v.as_deref()));
        let skip = |reason: String| SkippedRecord {
            index,
            external_id: external_id.clone(),
            reason,
        };
        if !item.is_object() {
            return Err(skip(format!(
                "record is {}, expected an object",
                kind(item)
            )));
        }
        let text = |field: &str, path: &str| read(item, field, path, Leniency::Strict);
        let text_or_number = |field: &str, path: &str| read(item, field, path, Leniency::Number);
        let raw = RawFields {
            external_id: id.map_err(skip)?,
            first_name: text("first_name", &f.first_name).map_err(skip)?,
            last_name: text("last_name", &f.last_name).map_err(skip)?,
            email: text("email", &f.email).map_err(skip)?,
            phone: text_or_number("phone", &f.phone).map_err(skip)?,
            unit: text_or_number("unit", &f.unit).map_err(skip)?,
            status: text("status", &f.status).map_err(skip)?,
            lease_start: text("lease_start", &f.lease_start).map_err(skip)?,
            lease_end: text("lease_end", &f.lease_end).map_err(skip)?,
            move_in: text("move_in", &f.move_in).map_err(skip)?,
            move_out: text("move_out", &f.move_out).map_err(skip)?,
        };
        raw.normalise(index)
    }
}

#[async_trait]
impl Source for JsonSource {
    async fn pull(&self, _kind: PullKind) -> Result<Pull, SourceError> {
        let body = self.fetch().await?;
        let pull = self.parse(&body)?;
        tracing::debug!(
            source = %self.name,
            records = pull.records.len(),
            skipped = pull.skipped.len(),
            "json source pulled"
        );
        Ok(pull)
    }
}

/// Follows at most 5 redirects, and only within the same scheme, host and port, so that the
/// auth header (which may be a custom one reqwest does not strip) never reaches another host.
fn same_origin_redirects() -> reqwest::redirect::Policy {
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

/// An error and its sources, joined with ": ", skipping repeats.
fn error_chain(error: &dyn std::error::Error) -> String {
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

#[derive(Clone, Copy)]
enum Leniency {
    /// Strings only.
    Strict,
    /// Strings, or numbers read as their text.
    Number,
}

/// Reads the field at `path` inside `item`: `Ok(None)` when absent or null (or when the path is
/// empty, i.e. not mapped); `Err` with a reason naming the field when it has the wrong type.
fn read(
    item: &Value,
    field: &str,
    path: &str,
    leniency: Leniency,
) -> Result<Option<String>, String> {
    if path.trim().is_empty() {
        return Ok(None);
    }
    let name = if path == field {
        field.to_string()
    } else {
        format!("{field} ({path})")
    };
    match lookup(item, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if matches!(leniency, Leniency::Number) => Ok(Some(n.to_string())),
        Some(other) => Err(format!(
            "{name}: expected {}, found {}",
            match leniency {
                Leniency::Strict => "a string",
                Leniency::Number => "a string or a number",
            },
            kind(other)
        )),
    }
}

/// Follows a dotted path of object keys (or array indexes); "" is the value itself.
fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim();
    if path.is_empty() {
        return Some(value);
    }
    path.split('.')
        .try_fold(value, |current, segment| match current {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::pms::PmsServer;
    use jiff::civil::date;
    use serde_json::json;

    fn config(server: &PmsServer) -> JsonSourceConfig {
        JsonSourceConfig {
            records: "residents".into(),
            ..JsonSourceConfig::new("test", server.url())
        }
    }

    fn resident(id: Value) -> Value {
        json!({
            "id": id,
            "first_name": " Ada ",
            "last_name": "Quill",
            "email": " Ada.Quill@Example.COM ",
            "phone": "+15550100101",
            "unit": 206,
            "status": " Current ",
            "lease_start": "2025-08-01",
            "lease_end": "07/31/2026",
            "move_in": "2025-08-01",
            "move_out": null,
        })
    }

    async fn pull_with(config: &JsonSourceConfig) -> Result<Pull, SourceError> {
        JsonSource::new(config)
            .expect("source")
            .pull(PullKind::Full)
            .await
    }

    #[tokio::test]
    async fn happy_path_with_default_field_map() {
        let server = PmsServer::start(vec![resident(json!("R-1")), resident(json!(" R-2 "))])
            .expect("server");
        let pull = pull_with(&config(&server)).await.expect("pull");
        assert!(pull.skipped.is_empty(), "{:?}", pull.skipped);
        assert_eq!(pull.records.len(), 2);
        let r = &pull.records[0];
        assert_eq!(r.external_id, "R-1");
        assert_eq!(pull.records[1].external_id, "R-2");
        assert_eq!(r.first_name, "Ada");
        assert_eq!(r.last_name, "Quill");
        assert_eq!(r.email.as_deref(), Some("ada.quill@example.com"));
        assert_eq!(r.phone.as_deref(), Some("+15550100101"));
        assert_eq!(r.unit.as_deref(), Some("206"));
        assert_eq!(r.status, "current");
        assert_eq!(r.lease_start, Some(date(2025, 8, 1)));
        assert_eq!(r.lease_end, Some(date(2026, 7, 31)));
        assert_eq!(r.move_in, Some(date(2025, 8, 1)));
        assert_eq!(r.move_out, None);
        assert_eq!(server.requests(), 1);
    }

    #[tokio::test]
    async fn demo_residents_pull_cleanly() {
        let server = PmsServer::start(crate::demo::pms::demo_residents(60)).expect("server");
        let pull = pull_with(&config(&server)).await.expect("pull");
        assert!(pull.skipped.is_empty(), "{:?}", pull.skipped);
        assert_eq!(pull.records.len(), 60);
    }

    #[tokio::test]
    async fn numeric_ids_are_accepted() {
        let server =
            PmsServer::start(vec![resident(json!(1001)), resident(json!(1002))]).expect("server");
        let pull = pull_with(&config(&server)).await.expect("pull");
        let ids: Vec<_> = pull
            .records
            .iter()
            .map(|r| r.external_id.as_str())
            .collect();
        assert_eq!(ids, ["1001", "1002"]);
    }

    #[tokio::test]
    async fn records_without_id_or_with_wrong_types_are_skipped_and_the_rest_pass() {
        let mut no_id = resident(json!("R-1"));
        no_id.as_object_mut().expect("object").remove("id");
        let mut empty_id = resident(json!("  "));
        empty_id["first_name"] = json!("Bo");
        let mut object_name = resident(json!("R-3"));
        object_name["first_name"] = json!({"given": "Ada"});
        let mut bad_date = resident(json!("R-4"));
        bad_date["lease_end"] = json!("2026-02-30");
        let mut bool_id = resident(json!(true));
        bool_id["last_name"] = json!("X");
        let server = PmsServer::start(vec![
            no_id,
            resident(json!("R-2")),
            empty_id,
            object_name,
            bad_date,
            json!("not a record"),
            bool_id,
        ])
        .expect("server");
        let pull = pull_with(&config(&server)).await.expect("pull");
        assert_eq!(pull.records.len(), 1);
        assert_eq!(pull.records[0].external_id, "R-2");
        let skipped: Vec<_> = pull
            .skipped
            .iter()
            .map(|s| (s.index, s.external_id.as_deref(), s.reason.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                (0, None, "external_id: missing or empty"),
                (2, None, "external_id: missing or empty"),
                (
                    3,
                    Some("R-3"),
                    "first_name: expected a string, found an object"
                ),
                (
                    4,
                    Some("R-4"),
                    "lease_end: \"2026-02-30\" is not a date (expected YYYY-MM-DD or MM/DD/YYYY)"
                ),
                (5, None, "record is a string, expected an object"),
                (
                    6,
                    None,
                    "external_id (id): expected a string or a number, found a boolean"
                ),
            ]
        );
    }

    #[tokio::test]
    async fn custom_field_map_with_nested_paths() {
        let server = PmsServer::start(vec![]).expect("server");
        server.serve_raw(Some(
            json!({"data": {"tenants": [{
                "tenantId": 77,
                "name": {"first": "Cy", "last": "Moss"},
                "contact": {"emails": ["CY@EXAMPLE.COM"], "phones": [{"number": "+15550100102"}]},
                "lease": {"unit": "3B", "status": "NOTICE", "from": "01/15/2025", "to": "2026-01-14"},
            }]}})
            .to_string(),
        ));
        let cfg = JsonSourceConfig {
            records: "data.tenants".into(),
            fields: FieldMap {
                external_id: "tenantId".into(),
                first_name: "name.first".into(),
                last_name: "name.last".into(),
                email: "contact.emails.0".into(),
                phone: "contact.phones.0.number".into(),
                unit: "lease.unit".into(),
                status: "lease.status".into(),
                lease_start: "lease.from".into(),
                lease_end: "lease.to".into(),
                move_in: "".into(),
                move_out: "lease.moveOut".into(),
            },
            ..JsonSourceConfig::new("custom", server.url())
        };
        let pull = pull_with(&cfg).await.expect("pull");
        assert!(pull.skipped.is_empty(), "{:?}", pull.skipped);
        let r = &pull.records[0];
        assert_eq!(r.external_id, "77");
        assert_eq!(
            (r.first_name.as_str(), r.last_name.as_str()),
            ("Cy", "Moss")
        );
        assert_eq!(r.email.as_deref(), Some("cy@example.com"));
        assert_eq!(r.phone.as_deref(), Some("+15550100102"));
        assert_eq!(r.unit.as_deref(), Some("3B"));
        assert_eq!(r.status, "notice");
        assert_eq!(r.lease_start, Some(date(2025, 1, 15)));
        assert_eq!(r.lease_end, Some(date(2026, 1, 14)));
        assert_eq!((r.move_in, r.move_out), (None, None));

        // A wrong type at a nested path names both the field and the path.
        server.serve_raw(Some(
            json!({"data": {"tenants": [{"tenantId": "T1", "name": {"first": ["Cy"]}, "lease": {"status": "current"}}]}})
                .to_string(),
        ));
        let pull = JsonSource::new(&cfg)
            .expect("source")
            .pull(PullKind::Full)
            .await
            .expect("pull");
        assert_eq!(
            pull.skipped[0].reason,
            "first_name (name.first): expected a string, found an array"
        );
    }

    #[tokio::test]
    async fn body_that_is_the_array() {
        let server = PmsServer::start(vec![]).expect("server");
        server.serve_raw(Some(json!([resident(json!("R-9"))]).to_string()));
        let cfg = JsonSourceConfig::new("bare", server.url());
        let pull = pull_with(&cfg).await.expect("pull");
        assert_eq!(pull.records[0].external_id, "R-9");
    }

    #[tokio::test]
    async fn auth_header_is_sent_and_a_wrong_secret_gets_401() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret-token\n").expect("write");
        let server = PmsServer::start(vec![resident(json!("R-1"))]).expect("server");
        server.require_header("Authorization", "Bearer s3cret-token");
        let mut cfg = JsonSourceConfig {
            auth_header: Some("Authorization".into()),
            auth_scheme: Some("Bearer".into()),
            secret: Some(SecretRef::File(path.clone())),
            ..config(&server)
        };
        let pull = pull_with(&cfg).await.expect("authorised pull");
        assert_eq!(pull.records.len(), 1);

        std::fs::write(&path, "wrong-token").expect("write");
        let source = JsonSource::new(&cfg).expect("source");
        assert!(!format!("{source:?}").contains("wrong-token"));
        let err = source.pull(PullKind::Full).await.expect_err("401");
        assert!(
            matches!(err, SourceError::Status { status: 401, .. }),
            "{err}"
        );
        assert!(!err.to_string().contains("wrong-token"));

        // A custom header with no scheme.
        server.require_header("X-Api-Key", "k3y");
        std::fs::write(&path, "k3y").expect("write");
        cfg.auth_header = Some("X-Api-Key".into());
        cfg.auth_scheme = None;
        assert_eq!(pull_with(&cfg).await.expect("pull").records.len(), 1);
        assert_eq!(server.requests(), 3);
    }

    #[tokio::test]
    async fn missing_secret_fails_construction_without_leaking() {
        let cfg = JsonSourceConfig {
            auth_header: Some("Authorization".into()),
            secret: Some(SecretRef::File("/nonexistent/lintel-test.secret".into())),
            ..JsonSourceConfig::new("s", "https://pms.example/residents")
        };
        let err = JsonSource::new(&cfg).expect_err("no secret");
        assert!(matches!(err, SourceError::Secret(_)), "{err}");
    }

    #[tokio::test]
    async fn http_error_status_fails_the_pull() {
        let server = PmsServer::start(vec![resident(json!("R-1"))]).expect("server");
        server.fail_with(Some(500));
        let err = pull_with(&config(&server)).await.expect_err("500");
        assert!(
            matches!(err, SourceError::Status { status: 500, .. }),
            "{err}"
        );
        server.fail_with(None);
        pull_with(&config(&server)).await.expect("recovered");
    }

    #[tokio::test]
    async fn invalid_json_fails_the_pull() {
        let server = PmsServer::start(vec![]).expect("server");
        server.serve_raw(Some(r#"{"residents": [{"id": "R-1", "#.to_string()));
        let err = pull_with(&config(&server)).await.expect_err("truncated");
        assert!(
            matches!(&err, SourceError::Body { reason, .. } if reason.starts_with("invalid JSON")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn missing_or_non_array_records_path_fails_the_pull() {
        let server = PmsServer::start(vec![]).expect("server");
        let cfg = JsonSourceConfig {
            records: "data.items".into(),
            ..config(&server)
        };
        let err = pull_with(&cfg).await.expect_err("missing path");
        assert!(
            err.to_string()
                .contains("records path \"data.items\" not found"),
            "{err}"
        );

        server.serve_raw(Some(r#"{"residents": {"id": "R-1"}}"#.to_string()));
        let err = pull_with(&config(&server)).await.expect_err("not an array");
        assert!(
            err.to_string()
                .contains("holds an object, expected an array"),
            "{err}"
        );

        server.serve_raw(Some(r#"{"residents": null}"#.to_string()));
        pull_with(&config(&server)).await.expect_err("null");
    }

    #[tokio::test]
    async fn body_over_the_cap_fails_the_pull() {
        let server = PmsServer::start(crate::demo::pms::demo_residents(50)).expect("server");
        let cfg = JsonSourceConfig {
            max_body_bytes: 1024,
            ..config(&server)
        };
        let err = pull_with(&cfg).await.expect_err("too big");
        assert!(
            matches!(&err, SourceError::Body { reason, .. } if reason.contains("max_body_bytes")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn unreachable_server_fails_the_pull() {
        let server = PmsServer::start(vec![]).expect("server");
        let url = server.url();
        server.shutdown().await;
        let err = pull_with(&JsonSourceConfig::new("gone", url))
            .await
            .expect_err("refused");
        assert!(matches!(err, SourceError::Http { .. }), "{err}");
    }

    #[test]
    fn config_parses_with_defaults_and_rejects_unknown_keys() {
        let cfg: JsonSourceConfig = toml::from_str(
            r#"
            name = "pms"
            url = "https://pms.example/api/residents"
            auth_header = "Authorization"
            auth_scheme = "Bearer"
            secret = { env = "PMS_TOKEN" }
            records = "data.residents"
            timeout = "1m 30s"
            [fields]
            external_id = "residentId"
            first_name = "name.first"
            "#,
        )
        .expect("parse");
        assert!(cfg.enabled);
        assert_eq!(cfg.timeout, Duration::from_secs(90));
        assert_eq!(cfg.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(cfg.fields.external_id, "residentId");
        assert_eq!(cfg.fields.first_name, "name.first");
        assert_eq!(cfg.fields.last_name, "last_name");
        assert_eq!(cfg.secret, Some(SecretRef::Env("PMS_TOKEN".into())));
        cfg.validate().expect("valid");

        let minimal: JsonSourceConfig =
            toml::from_str("name = \"p\"\nurl = \"http://127.0.0.1:1/r\"").expect("parse");
        assert_eq!(minimal, JsonSourceConfig::new("p", "http://127.0.0.1:1/r"));

        for bad in [
            "name = \"p\"\nurl = \"u\"\nbogus = 1",
            "name = \"p\"\nurl = \"u\"\n[fields]\nnickname = \"n\"",
            "name = \"p\"\nurl = \"u\"\ntimeout = \"soon\"",
        ] {
            assert!(toml::from_str::<JsonSourceConfig>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validate_names_the_bad_key() {
        let base = JsonSourceConfig::new("p", "https://pms.example/r");
        let cases = [
            (
                JsonSourceConfig {
                    url: "not a url".into(),
                    ..base.clone()
                },
                "url:",
            ),
            (
                JsonSourceConfig {
                    url: "ftp://pms.example/r".into(),
                    ..base.clone()
                },
                "url:",
            ),
            (
                JsonSourceConfig {
                    auth_header: Some("Authorization".into()),
                    ..base.clone()
                },
                "secret",
            ),
            (
                JsonSourceConfig {
                    secret: Some(SecretRef::Env("X".into())),
                    ..base.clone()
                },
                "auth_header",
            ),
            (
                JsonSourceConfig {
                    url: "http://pms.example/r".into(),
                    auth_header: Some("Authorization".into()),
                    secret: Some(SecretRef::Env("X".into())),
                    ..base.clone()
                },
                "plain http",
            ),
            (
                JsonSourceConfig {
                    fields: FieldMap {
                        external_id: "".into(),
                        ..FieldMap::default()
                    },
                    ..base.clone()
                },
                "fields.external_id",
            ),
            (
                JsonSourceConfig {
                    max_body_bytes: 0,
                    ..base.clone()
                },
                "max_body_bytes",
            ),
        ];
        for (cfg, needle) in cases {
            let err = cfg.validate().expect_err(needle);
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
    }
}
