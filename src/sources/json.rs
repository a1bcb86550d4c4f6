//! A generic JSON-over-HTTP source: `GET url`, find the array of records at a dotted path, and
//! map each record's fields through a configurable table of dotted paths. Optional paging
//! (page number, offset, cursor or next link), auth (a header, bearer or basic) and a
//! modified-since query parameter for incremental pulls.

use std::fmt;

use async_trait::async_trait;
use reqwest::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;

use super::fields::{Occupant, RawFields, StatusMap, occupant};
use super::http::{HttpClient, HttpSettings, secret_header};
use super::pick::{PickPath, Picked, Picker};
use super::value::{kind, lookup};
use super::{Pull, PullKind, Schedule, SkippedRecord, Source, SourceError};
use crate::config::secret::{Secret, SecretRef};

/// The most pages one pull follows (a guard against a server that never says "last page").
pub const DEFAULT_MAX_PAGES: u32 = 10_000;

/// `[[source]]` settings for `kind = "json"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonSourceConfig {
    pub name: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The full URL to `GET` (http or https).
    pub url: String,
    /// How the secret is sent: `header` (the default when `auth_header` is set: that header,
    /// with an optional `auth_scheme`), `bearer` (`Authorization: Bearer SECRET`) or `basic`
    /// (`Authorization: Basic`, with `username`).
    #[serde(default)]
    pub auth: Option<AuthKind>,
    /// Header carrying the secret, e.g. "Authorization" or "X-Api-Key". Requires `secret`.
    #[serde(default)]
    pub auth_header: Option<String>,
    /// Prefix of the header value, e.g. "Bearer" (joined to the secret with one space).
    #[serde(default)]
    pub auth_scheme: Option<String>,
    /// The user name for `auth = "basic"` (the secret is the password).
    #[serde(default)]
    pub username: Option<String>,
    /// The header value (after the scheme), the bearer token or the basic password.
    #[serde(default)]
    pub secret: Option<SecretRef>,
    /// Dotted path to the array of records in the response body; "" = the body is the array.
    #[serde(default)]
    pub records: String,
    /// The shared connection keys (taken out of the table by the config parser).
    #[serde(skip)]
    pub http: HttpSettings,
    /// Query parameter carrying "changed since" (UTC `YYYY-MM-DDTHH:MM:SSZ`) on incremental
    /// pulls; unset = the endpoint has no such filter and every pull is full.
    #[serde(default)]
    pub since_param: Option<String>,
    /// How the listing is paged (none by default).
    #[serde(default)]
    pub paging: Paging,
    /// Where each field lives inside one record.
    #[serde(default)]
    pub fields: FieldMap,
    /// The API's status words onto lintel's lease statuses (docs/sources.md).
    #[serde(default)]
    pub status_map: StatusMap,
    #[serde(skip)]
    pub schedule: Schedule,
}

/// How the secret travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    Header,
    Bearer,
    Basic,
}

/// Paging styles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PagingStyle {
    /// One request returns everything.
    #[default]
    None,
    /// `?page=N&per_page=SIZE`, until a page holds fewer than SIZE records.
    Page,
    /// `?offset=N&limit=SIZE`, until a page holds fewer than SIZE records.
    Offset,
    /// `?cursor=C`, C read from the previous body at `next_cursor`, until it is absent or empty.
    Cursor,
    /// The next page's URL read from the body at `next_link` (or, when that is empty, the
    /// `Link: <…>; rel="next"` header), until there is none. Same origin only.
    Link,
}

/// `[source.paging]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Paging {
    pub style: PagingStyle,
    /// Records per page (sent as `size_param`).
    pub size: u32,
    /// Page-size parameter; default `per_page` (page style) or `limit` (offset style).
    pub size_param: Option<String>,
    /// Page-number parameter (page style).
    pub page_param: String,
    /// The first page's number (page style).
    pub first_page: u32,
    /// Offset parameter (offset style).
    pub offset_param: String,
    /// Cursor parameter (cursor style).
    pub cursor_param: String,
    /// Dotted path to the next cursor in the body (cursor style).
    pub next_cursor: String,
    /// Dotted path to the next page's URL in the body (link style); "" = the `Link` header.
    pub next_link: String,
    /// Dotted path to the total record count in the body, if the API gives one: a listing that
    /// ends short of it fails as incomplete.
    pub total: String,
    /// A header carrying the total record count (e.g. `X-Total-Count`), same use as `total`.
    pub total_header: String,
    /// The most pages one pull follows.
    pub max_pages: u32,
}

impl Default for Paging {
    fn default() -> Self {
        Paging {
            style: PagingStyle::None,
            size: 100,
            size_param: None,
            page_param: "page".into(),
            first_page: 1,
            offset_param: "offset".into(),
            cursor_param: "cursor".into(),
            next_cursor: "next_cursor".into(),
            next_link: String::new(),
            total: String::new(),
            total_header: String::new(),
            max_pages: DEFAULT_MAX_PAGES,
        }
    }
}

impl Paging {
    fn size_param(&self) -> &str {
        match (&self.size_param, self.style) {
            (Some(p), _) => p,
            (None, PagingStyle::Offset) => "limit",
            (None, _) => "per_page",
        }
    }
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
    /// The building (or property) name; default `building`.
    pub building: String,
    pub status: String,
    pub lease_start: String,
    pub lease_end: String,
    pub move_in: String,
    pub move_out: String,
    /// The occupant type (`visitor` or `guest` rows are visitor passes; `guarantor` rows are
    /// skipped). Default "" = every record is a resident.
    pub occupant_type: String,
    /// Visitor records only: the pass's window, its host's external id and its door names
    /// (an array of names, or one string separated by `;` or `,`).
    pub valid_from: String,
    pub valid_to: String,
    pub host: String,
    pub doors: String,
}

impl FieldMap {
    /// Every field's path, mapped or not (`JsonSource::raw` names them in this order).
    fn paths(&self) -> [&str; 17] {
        [
            &self.external_id,
            &self.first_name,
            &self.last_name,
            &self.email,
            &self.phone,
            &self.unit,
            &self.building,
            &self.status,
            &self.lease_start,
            &self.lease_end,
            &self.move_in,
            &self.move_out,
            &self.occupant_type,
            &self.valid_from,
            &self.valid_to,
            &self.host,
            &self.doors,
        ]
    }
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
            building: "building".into(),
            status: "status".into(),
            lease_start: "lease_start".into(),
            lease_end: "lease_end".into(),
            move_in: "move_in".into(),
            move_out: "move_out".into(),
            occupant_type: String::new(),
            valid_from: "valid_from".into(),
            valid_to: "valid_to".into(),
            host: "host".into(),
            doors: "doors".into(),
        }
    }
}

fn default_true() -> bool {
    true
}

impl JsonSourceConfig {
    /// A config with the given name and URL and every other setting at its default.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        JsonSourceConfig {
            name: name.into(),
            enabled: true,
            url: url.into(),
            auth: None,
            auth_header: None,
            auth_scheme: None,
            username: None,
            secret: None,
            records: String::new(),
            http: HttpSettings::default(),
            since_param: None,
            paging: Paging::default(),
            fields: FieldMap::default(),
            status_map: StatusMap::default(),
            schedule: Schedule::default(),
        }
    }

    /// The auth kind in force: `auth`, else `header` when `auth_header` is set.
    pub fn auth_kind(&self) -> Option<AuthKind> {
        self.auth
            .or_else(|| self.auth_header.as_ref().map(|_| AuthKind::Header))
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
        match self.auth_kind() {
            None => {
                if self.secret.is_some() {
                    return Err("secret is set but auth_header is not".to_string());
                }
                if self.auth_scheme.is_some() {
                    return Err("auth_scheme is set but auth_header is not".to_string());
                }
                if self.username.is_some() {
                    return Err("username is set but auth is not \"basic\"".to_string());
                }
            }
            Some(kind) => {
                if self.secret.is_none() {
                    return Err(match kind {
                        AuthKind::Header => "auth_header is set but secret is not".to_string(),
                        _ => "secret: required by auth".to_string(),
                    });
                }
                match kind {
                    AuthKind::Header => {
                        let Some(header) = &self.auth_header else {
                            return Err("auth_header: required by auth = \"header\"".to_string());
                        };
                        HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
                            format!("auth_header: {header:?} is not a valid header name")
                        })?;
                    }
                    AuthKind::Bearer | AuthKind::Basic => {
                        if self.auth_header.is_some() || self.auth_scheme.is_some() {
                            return Err(
                                "auth_header: not used with auth = \"bearer\" or \"basic\""
                                    .to_string(),
                            );
                        }
                    }
                }
                match (kind, &self.username) {
                    (AuthKind::Basic, None) => {
                        return Err("username: required by auth = \"basic\"".to_string());
                    }
                    (AuthKind::Basic, Some(u)) if u.contains(':') => {
                        return Err("username: must not contain ':'".to_string());
                    }
                    (AuthKind::Header | AuthKind::Bearer, Some(_)) => {
                        return Err("username is set but auth is not \"basic\"".to_string());
                    }
                    _ => {}
                }
                super::http::check_base_url("url", &self.url, true)?;
            }
        }
        if let Some(scheme) = &self.auth_scheme
            && (scheme.trim().is_empty() || scheme.trim().contains(char::is_whitespace))
        {
            return Err(format!("auth_scheme: {scheme:?} must be one word"));
        }
        self.http.validate()?;
        if self.fields.external_id.trim().is_empty() {
            return Err("fields.external_id: must not be empty".to_string());
        }
        if self.fields.status.trim().is_empty() {
            return Err("fields.status: must not be empty".to_string());
        }
        if let Some(p) = &self.since_param
            && p.trim().is_empty()
        {
            return Err("since_param: must not be empty".to_string());
        }
        let paging = &self.paging;
        if paging.size == 0 {
            return Err("paging.size: must be at least 1".to_string());
        }
        if paging.max_pages == 0 {
            return Err("paging.max_pages: must be at least 1".to_string());
        }
        if paging.style == PagingStyle::Cursor && paging.next_cursor.trim().is_empty() {
            return Err("paging.next_cursor: required by style = \"cursor\"".to_string());
        }
        if !paging.total_header.is_empty() {
            HeaderName::from_bytes(paging.total_header.as_bytes()).map_err(|_| {
                format!(
                    "paging.total_header: {:?} is not a valid header name",
                    paging.total_header
                )
            })?;
        }
        Ok(())
    }
}

enum Auth {
    Header(HeaderName, HeaderValue),
    Basic(String, Secret),
}

/// The JSON-over-HTTP source. Built once from config (the secret is loaded then); each
/// [`Source::pull`] is one `GET` per page.
pub struct JsonSource {
    name: String,
    url: String,
    http: HttpClient,
    auth: Option<Auth>,
    records: String,
    since_param: Option<String>,
    paging: Paging,
    /// Reads each record only at the keys `fields` maps.
    picker: Picker,
    /// Every field's path in `picker`, in [`FieldMap::paths`]' order.
    fields: [PickPath; 17],
    status_map: StatusMap,
}

impl fmt::Debug for JsonSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonSource")
            .field("name", &self.name)
            .field("url", &self.url)
            .field(
                "auth",
                &self.auth.as_ref().map(|a| match a {
                    Auth::Header(name, _) => name.to_string(),
                    Auth::Basic(user, _) => format!("basic {user}"),
                }),
            )
            .field("records", &self.records)
            .field("paging", &self.paging.style)
            .field("fields", &self.fields.each_ref().map(|p| p.text.as_str()))
            .finish_non_exhaustive()
    }
}

impl JsonSource {
    pub fn new(config: &JsonSourceConfig) -> Result<JsonSource, SourceError> {
        let config_error =
            |reason: String| SourceError::Config(format!("source {:?}: {reason}", config.name));
        config.validate().map_err(config_error)?;

        let header = |name: HeaderName, text: String| -> Result<Auth, SourceError> {
            // The error must not echo the value: it is the secret.
            let value = secret_header(&text).ok_or_else(|| {
                config_error("secret: contains characters not allowed in an HTTP header".into())
            })?;
            Ok(Auth::Header(name, value))
        };
        let auth = match (config.auth_kind(), &config.secret) {
            (Some(AuthKind::Header), Some(secret)) => {
                let secret = secret.load()?;
                let raw = config.auth_header.as_deref().unwrap_or("Authorization");
                let name = HeaderName::from_bytes(raw.as_bytes())
                    .map_err(|_| config_error(format!("auth_header: {raw:?} is invalid")))?;
                let text = match &config.auth_scheme {
                    Some(scheme) => format!("{} {}", scheme.trim(), secret.expose()),
                    None => secret.expose().to_string(),
                };
                Some(header(name, text)?)
            }
            (Some(AuthKind::Bearer), Some(secret)) => {
                let secret = secret.load()?;
                Some(header(
                    reqwest::header::AUTHORIZATION,
                    format!("Bearer {}", secret.expose()),
                )?)
            }
            (Some(AuthKind::Basic), Some(secret)) => Some(Auth::Basic(
                config.username.clone().unwrap_or_default(),
                secret.load()?,
            )),
            _ => None,
        };
        let http = HttpClient::new(&config.url, &config.http).map_err(config_error)?;
        let picker = Picker::new(config.fields.paths());
        Ok(JsonSource {
            name: config.name.clone(),
            url: config.url.clone(),
            http,
            auth,
            records: config.records.trim().to_string(),
            since_param: config.since_param.clone(),
            paging: config.paging.clone(),
            fields: config.fields.paths().map(|path| picker.path(path)),
            picker,
            status_map: config.status_map.clone(),
        })
    }

    /// The configured source name.
    pub fn name(&self) -> &str {
        &self.name
    }

    async fn get(&self, url: &str) -> Result<super::http::Response, SourceError> {
        let target = url.to_string();
        let auth = match &self.auth {
            None => None,
            Some(Auth::Header(name, value)) => Some((name.clone(), value.clone())),
            Some(Auth::Basic(..)) => None,
        };
        let basic = match &self.auth {
            Some(Auth::Basic(user, secret)) => Some((user.clone(), secret.expose().to_string())),
            _ => None,
        };
        self.http
            .send(url, &move |c: &reqwest::Client| {
                let mut request = c.get(&target).header("Accept", "application/json");
                if let Some((name, value)) = &auth {
                    request = request.header(name.clone(), value.clone());
                }
                if let Some((user, password)) = &basic {
                    request = request.basic_auth(user, Some(password));
                }
                request
            })
            .await
    }

    fn with_params(&self, base: &str, params: &[(&str, String)]) -> Result<String, SourceError> {
        let mut url = reqwest::Url::parse(base).map_err(|e| SourceError::Body {
            url: super::http::redact_url(base),
            reason: format!("not a URL: {e}"),
        })?;
        let keep: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !params.iter().any(|(p, _)| p == k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        {
            let mut q = url.query_pairs_mut();
            q.clear();
            q.extend_pairs(keep);
            for (k, v) in params {
                q.append_pair(k, v);
            }
        }
        Ok(url.to_string())
    }

    /// Parses one response body into a [`Pull`] (public for tests and tools that hold a body).
    pub fn parse(&self, body: &[u8]) -> Result<Pull, SourceError> {
        let mut pull = Pull::default();
        self.read_page(&mut pull, 0, body, &self.url)?;
        Ok(pull)
    }

    /// Reads one page: its records into `pull`, numbered from `first_index`. Returns the rest of
    /// the document, for paging, and how many records the page held.
    fn read_page(
        &self,
        pull: &mut Pull,
        first_index: usize,
        body: &[u8],
        url: &str,
    ) -> Result<(Value, usize), SourceError> {
        let body_error = |reason: String| SourceError::Body {
            url: super::http::redact_url(url),
            reason,
        };
        let mut count = 0;
        let document =
            super::stream::parse_records(body, &self.records, &self.picker, &mut |item| {
                let index = first_index + count;
                match self.raw(index, &item) {
                    Ok((kind, raw)) => pull.take(index, kind, raw),
                    Err(skipped) => pull.skipped.push(skipped),
                }
                count += 1;
            })
            .map_err(|e| body_error(format!("invalid JSON: {e}")))?;
        let list = lookup(&document, &self.records)
            .ok_or_else(|| body_error(format!("records path {:?} not found", self.records)))?;
        if !list.is_array() {
            return Err(body_error(format!(
                "records path {:?} holds {}, expected an array",
                self.records,
                kind(list)
            )));
        }
        Ok((document, count))
    }

    /// One record's fields, and what its occupant type makes of it.
    fn raw(
        &self,
        index: usize,
        item: &Picked,
    ) -> Result<(Result<Occupant, String>, RawFields), SkippedRecord> {
        let [
            external_id,
            first_name,
            last_name,
            email,
            phone,
            unit,
            building,
            status,
            lease_start,
            lease_end,
            move_in,
            move_out,
            occupant_type,
            valid_from,
            valid_to,
            host,
            doors,
        ] = &self.fields;
        // The id first, so that every later skip can name it.
        let id = read(item, "external_id", external_id, Leniency::Number);
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
                item.kind()
            )));
        }
        let text =
            |field: &str, path: &PickPath| read(item, field, path, Leniency::Strict).map_err(&skip);
        let text_or_number =
            |field: &str, path: &PickPath| read(item, field, path, Leniency::Number).map_err(&skip);
        let raw = RawFields {
            external_id: id.map_err(skip)?,
            first_name: text("first_name", first_name)?,
            last_name: text("last_name", last_name)?,
            email: text("email", email)?,
            phone: text_or_number("phone", phone)?,
            unit: text_or_number("unit", unit)?,
            building: text_or_number("building", building)?,
            status: self.status_map.apply(text("status", status)?),
            lease_start: text("lease_start", lease_start)?,
            lease_end: text("lease_end", lease_end)?,
            move_in: text("move_in", move_in)?,
            move_out: text("move_out", move_out)?,
            valid_from: text("valid_from", valid_from)?,
            valid_to: text("valid_to", valid_to)?,
            host: text_or_number("host", host)?,
            doors: match doors.get(item) {
                Some(Value::Array(names)) => Some(
                    names
                        .iter()
                        .map(|n| n.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| skip("doors: expected names (strings)".to_string()))?
                        .join(";"),
                ),
                _ => text("doors", doors)?,
            },
        };
        let kind = text("occupant_type", occupant_type).map(|word| occupant(word.as_deref()))?;
        Ok((kind, raw))
    }

    fn total(
        &self,
        document: &Value,
        response: &super::http::Response,
    ) -> Result<Option<usize>, SourceError> {
        let p = &self.paging;
        let bad = |reason: String| SourceError::Body {
            url: response.url.clone(),
            reason,
        };
        if !p.total.is_empty() {
            return match lookup(document, &p.total) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => Ok(n.as_u64().map(|n| n as usize)),
                Some(other) => Err(bad(format!(
                    "paging.total {:?} holds {}, expected a number",
                    p.total,
                    kind(other)
                ))),
            };
        }
        if !p.total_header.is_empty() {
            return match response.header(&p.total_header) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| bad(format!("header {} is not a number", p.total_header))),
            };
        }
        Ok(None)
    }

    /// The next page's URL after a page of `count` records, or `None` at the end.
    fn next_url(
        &self,
        current: &str,
        page_no: u32,
        fetched: usize,
        count: usize,
        document: &Value,
        response: &super::http::Response,
    ) -> Result<Option<String>, SourceError> {
        let p = &self.paging;
        let size = p.size as usize;
        match p.style {
            PagingStyle::None => Ok(None),
            PagingStyle::Page | PagingStyle::Offset if count < size => Ok(None),
            PagingStyle::Page => Ok(Some(self.with_params(
                current,
                &[
                    (
                        p.page_param.as_str(),
                        (p.first_page + page_no + 1).to_string(),
                    ),
                    (p.size_param(), p.size.to_string()),
                ],
            )?)),
            PagingStyle::Offset => Ok(Some(self.with_params(
                current,
                &[
                    (p.offset_param.as_str(), fetched.to_string()),
                    (p.size_param(), p.size.to_string()),
                ],
            )?)),
            PagingStyle::Cursor => {
                let cursor = match lookup(document, &p.next_cursor) {
                    None | Some(Value::Null) => return Ok(None),
                    Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    Some(other) => {
                        return Err(SourceError::Body {
                            url: response.url.clone(),
                            reason: format!(
                                "paging.next_cursor {:?} holds {}, expected a string",
                                p.next_cursor,
                                kind(other)
                            ),
                        });
                    }
                };
                Ok(Some(self.with_params(
                    current,
                    &[(p.cursor_param.as_str(), cursor)],
                )?))
            }
            PagingStyle::Link => {
                let link = if p.next_link.is_empty() {
                    response.header("link").and_then(next_from_link_header)
                } else {
                    match lookup(document, &p.next_link) {
                        None | Some(Value::Null) => None,
                        Some(Value::String(s)) if s.trim().is_empty() => None,
                        Some(Value::String(s)) => Some(s.trim().to_string()),
                        Some(other) => {
                            return Err(SourceError::Body {
                                url: response.url.clone(),
                                reason: format!(
                                    "paging.next_link {:?} holds {}, expected a string",
                                    p.next_link,
                                    kind(other)
                                ),
                            });
                        }
                    }
                };
                let Some(link) = link else {
                    return Ok(None);
                };
                let base = reqwest::Url::parse(current).map_err(|e| SourceError::Body {
                    url: response.url.clone(),
                    reason: format!("not a URL: {e}"),
                })?;
                let next = base.join(&link).map_err(|e| SourceError::Body {
                    url: response.url.clone(),
                    reason: format!("next link {link:?} is not a URL: {e}"),
                })?;
                if !super::http::same_origin(&base, &next) {
                    return Err(SourceError::Body {
                        url: response.url.clone(),
                        reason: format!(
                            "next link points to another host ({}); credentials are only sent \
                             to the configured one",
                            next.origin().ascii_serialization()
                        ),
                    });
                }
                Ok(Some(next.to_string()))
            }
        }
    }
}

/// The `rel="next"` target of an RFC 8288 `Link` header.
fn next_from_link_header(value: &str) -> Option<String> {
    value.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p == "rel=\"next\"" || p == "rel=next"
        });
        let target = target.trim();
        (is_next && target.starts_with('<') && target.ends_with('>'))
            .then(|| target[1..target.len() - 1].to_string())
    })
}

#[async_trait]
impl Source for JsonSource {
    async fn pull(&self, pull_kind: PullKind) -> Result<Pull, SourceError> {
        let since = match (pull_kind, &self.since_param) {
            (PullKind::Changes { since }, Some(_)) => Some(since),
            _ => None,
        };
        let p = &self.paging;
        let mut first: Vec<(&str, String)> = Vec::new();
        if let (Some(param), Some(since)) = (&self.since_param, since) {
            first.push((param, since.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()));
        }
        match p.style {
            PagingStyle::Page => {
                first.push((&p.page_param, p.first_page.to_string()));
                first.push((p.size_param(), p.size.to_string()));
            }
            PagingStyle::Offset => {
                first.push((&p.offset_param, "0".to_string()));
                first.push((p.size_param(), p.size.to_string()));
            }
            _ => {}
        }
        let mut url = if first.is_empty() {
            self.url.clone()
        } else {
            self.with_params(&self.url, &first)?
        };
        let mut pull = Pull::default();
        let mut fetched = 0usize;
        let mut total: Option<usize> = None;
        let mut seen = std::collections::HashSet::new();
        for page_no in 0..p.max_pages {
            if !seen.insert(url.clone()) {
                return Err(SourceError::Incomplete {
                    url: super::http::redact_url(&url),
                    reason: "paging loops back to a page already read".to_string(),
                });
            }
            let response = self.get(&url).await?;
            let (document, count) =
                self.read_page(&mut pull, fetched, &response.body, &response.url)?;
            fetched += count;
            if let Some(t) = self.total(&document, &response)? {
                total = Some(t);
            }
            match self.next_url(&url, page_no, fetched, count, &document, &response)? {
                Some(next) => url = next,
                None => {
                    if let Some(total) = total
                        && fetched < total
                    {
                        return Err(SourceError::Incomplete {
                            url: response.url.clone(),
                            reason: format!(
                                "paging ended after {fetched} records but the total says {total}; \
                                 a page is missing"
                            ),
                        });
                    }
                    pull.changes_only = since.is_some();
                    tracing::debug!(
                        source = %self.name,
                        records = pull.residents(),
                        skipped = pull.skipped.len(),
                        changes_only = pull.changes_only,
                        "json source pulled"
                    );
                    return Ok(pull);
                }
            }
        }
        Err(SourceError::Incomplete {
            url: super::http::redact_url(&url),
            reason: format!("more than paging.max_pages ({}) pages", p.max_pages),
        })
    }
}

#[derive(Clone, Copy)]
enum Leniency {
    /// Strings only.
    Strict,
    /// Strings, or numbers read as their text.
    Number,
}

/// Reads the field at `path` of the record `item`: `Ok(None)` when absent or null
/// (or when the path is empty, i.e. not mapped); `Err` with a reason naming the field when it
/// has the wrong type.
fn read(
    item: &Picked,
    field: &str,
    path: &PickPath,
    leniency: Leniency,
) -> Result<Option<String>, String> {
    match path.get(item) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if matches!(leniency, Leniency::Number) => Ok(Some(n.to_string())),
        Some(other) => Err(format!(
            "{}: expected {}, found {}",
            if path.text == field {
                field.to_string()
            } else {
                format!("{field} ({})", path.text)
            },
            match leniency {
                Leniency::Strict => "a string",
                Leniency::Number => "a string or a number",
            },
            kind(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::pms::PmsServer;
    use jiff::civil::date;
    use serde_json::json;
    use std::time::Duration;

    fn config(server: &PmsServer) -> JsonSourceConfig {
        JsonSourceConfig {
            records: "residents".into(),
            http: HttpSettings {
                retry_min: Duration::from_millis(1),
                retry_max: Duration::from_millis(5),
                ..HttpSettings::default()
            },
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
                "lease": {"unit": "3B", "building": " North ", "status": "NOTICE", "from": "01/15/2025", "to": "2026-01-14"},
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
                building: "lease.building".into(),
                status: "lease.status".into(),
                lease_start: "lease.from".into(),
                lease_end: "lease.to".into(),
                move_in: "".into(),
                move_out: "lease.moveOut".into(),
                ..FieldMap::default()
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
        assert_eq!(r.building.as_deref(), Some("North"));
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
        let mut cfg = config(&server);
        cfg.http.max_body_bytes = 1024;
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

    #[tokio::test]
    async fn status_map_maps_the_api_words_and_a_bad_state_fails_the_config() {
        let mut moved = resident(json!("R-2"));
        moved["status"] = json!("Vacated");
        let pms = PmsServer::start(vec![resident(json!("R-1")), moved]).expect("pms");
        let cfg = parse(&format!(
            "name = \"pms\"\nurl = \"{}\"\nrecords = \"residents\"\n[status_map]\nVACATED = \"past\"",
            pms.url()
        ))
        .expect("parse");
        let pull = JsonSource::new(&cfg)
            .expect("source")
            .pull(PullKind::Full)
            .await
            .expect("pull");
        let statuses: Vec<&str> = pull.records.iter().map(|r| r.status.as_str()).collect();
        assert_eq!(statuses, ["current", "past"]);

        let err = parse("name = \"pms\"\nurl = \"http://x\"\n[status_map]\nvacated = \"gone\"")
            .expect_err("unknown state");
        assert!(
            err.contains(
                "status_map: \"vacated\" maps to \"gone\", which is not a lintel lease status"
            ),
            "{err}"
        );
    }

    /// A `kind = "json"` table parsed as the config file parses it.
    fn parse(text: &str) -> Result<JsonSourceConfig, String> {
        match toml::from_str(&format!("kind = \"json\"\n{text}")) {
            Ok(crate::config::SourceConfig::Json(c)) => Ok(*c),
            Ok(other) => Err(format!("parsed as kind {}", other.kind())),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn config_parses_with_defaults_and_rejects_unknown_keys() {
        let cfg = parse(
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
        assert_eq!(cfg.http.timeout, Duration::from_secs(90));
        assert_eq!(
            cfg.http.max_body_bytes,
            super::super::http::DEFAULT_MAX_BODY_BYTES
        );
        assert_eq!(cfg.fields.external_id, "residentId");
        assert_eq!(cfg.fields.first_name, "name.first");
        assert_eq!(cfg.fields.last_name, "last_name");
        assert_eq!(cfg.secret, Some(SecretRef::Env("PMS_TOKEN".into())));
        cfg.validate().expect("valid");

        let minimal = parse("name = \"p\"\nurl = \"http://127.0.0.1:1/r\"").expect("parse");
        assert_eq!(minimal, JsonSourceConfig::new("p", "http://127.0.0.1:1/r"));

        for bad in [
            "name = \"p\"\nurl = \"u\"\nbogus = 1",
            "name = \"p\"\nurl = \"u\"\n[fields]\nnickname = \"n\"",
            "name = \"p\"\nurl = \"u\"\ntimeout = \"soon\"",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
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
                    http: HttpSettings {
                        max_body_bytes: 0,
                        ..HttpSettings::default()
                    },
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
