//! AppFolio. Full pulls use the Reports API v2: `POST {base}/api/v2/reports/tenant_directory.json`
//! (and `rent_roll.json` for lease dates, joined on `occupancy_id`) with HTTP Basic, following
//! `next_page_url` until it is null. Incremental pulls, where the partner-gated Stack v0 API is
//! configured (`[source.v0]`), use `GET {v0}/api/v0/tenants?filters[LastUpdatedAtFrom]=…` with
//! `X-AppFolio-Developer-ID`, following `next_page_path`; a tenant with `HiddenAt` set has been
//! removed and maps to `past`.
//!
//! Emails come as one semicolon-separated string: split, trimmed, lower-cased; the first is the
//! primary. v0 records carry no confirmed email, phone or unit name, so an incremental record
//! keeps those from the last full pull (the unit name is looked up by `UnitId`).
//!
//! | AppFolio status                               | lintel     |
//! |-----------------------------------------------|------------|
//! | `Current`                                     | `current`  |
//! | `Notice`, `Notice-Rented`, `Notice-Unrented`  | `notice`   |
//! | `Evict`                                       | `evicting` |
//! | `Future`                                      | `future`   |
//! | `Past`, or v0 `HiddenAt` set                  | `past`     |
//! | anything else (e.g. `Vacant-*`)               | skipped, with the reason |
//!
//! Building: none. `tenant_directory`, `rent_roll` and v0 carry `property_id`/`UnitId` numbers but
//! no documented building or property name, so records have no building.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use super::fields::RawFields;
use super::http::{HttpClient, HttpSettings, redact_url, same_origin};
use super::value::{date_part, id, kind, lookup, text};
use super::{Pull, PullKind, Schedule, SkippedRecord, Source, SourceError, SourceRecord, status};
use crate::config::secret::{Secret, SecretRef};

pub const DEFAULT_V0_BASE_URL: &str = "https://api.appfolio.com";
/// The most pages one listing follows.
const MAX_PAGES: usize = 10_000;

/// `[[source]]` settings for `kind = "appfolio"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppFolioConfig {
    pub name: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The AppFolio database name: reports go to `https://{database}.appfolio.com`.
    #[serde(default)]
    pub database: Option<String>,
    /// Overrides the reports host (instead of `database`), e.g. for a test server.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Reports API client id (the Basic user name).
    pub client_id: String,
    /// Reports API client secret (the Basic password).
    pub secret: SecretRef,
    /// Also read `rent_roll` for lease and move dates (joined on `occupancy_id`).
    #[serde(default = "default_true")]
    pub rent_roll: bool,
    /// JSON filters sent with each report request, e.g. `{ properties = { property_ids = ["1"] } }`.
    #[serde(default)]
    pub filters: toml::Table,
    /// Maps more AppFolio status words (case-insensitive) to lintel statuses.
    #[serde(default)]
    pub status_map: BTreeMap<String, String>,
    /// Stack v0 tenants API for incremental pulls (partner-gated); unset = every pull is full.
    #[serde(default)]
    pub v0: Option<V0Config>,
    /// The shared connection keys (taken out of the table by the config parser).
    #[serde(skip)]
    pub http: HttpSettings,
    #[serde(skip)]
    pub schedule: Schedule,
}

/// `[source.v0]`: the Stack v0 API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct V0Config {
    /// Sent as `X-AppFolio-Developer-ID`.
    pub developer_id: String,
    #[serde(default = "default_v0_base_url")]
    pub base_url: String,
    /// Basic user name; default: the reports `client_id`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Basic password; default: the reports `secret`.
    #[serde(default)]
    pub secret: Option<SecretRef>,
    /// `page[size]`.
    #[serde(default = "default_v0_page_size")]
    pub page_size: u32,
}

fn default_true() -> bool {
    true
}
fn default_v0_base_url() -> String {
    DEFAULT_V0_BASE_URL.to_string()
}
fn default_v0_page_size() -> u32 {
    1000
}

impl AppFolioConfig {
    pub fn new(name: &str, base_url: &str, client_id: &str, secret: SecretRef) -> Self {
        AppFolioConfig {
            name: name.to_string(),
            enabled: true,
            database: None,
            base_url: Some(base_url.to_string()),
            client_id: client_id.to_string(),
            secret,
            rent_roll: true,
            filters: toml::Table::new(),
            status_map: BTreeMap::new(),
            v0: None,
            http: HttpSettings::default(),
            schedule: Schedule::default(),
        }
    }

    /// The reports base URL.
    pub fn reports_base(&self) -> Result<String, String> {
        match (&self.base_url, &self.database) {
            (Some(url), _) => Ok(url.clone()),
            (None, Some(db)) => {
                let db = db.trim();
                if db.is_empty() || !db.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    return Err(format!(
                        "database: {db:?} is not an AppFolio database name (letters, digits, -)"
                    ));
                }
                Ok(format!("https://{db}.appfolio.com"))
            }
            (None, None) => Err("database: required (or base_url)".to_string()),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let base = self.reports_base()?;
        super::http::check_base_url("base_url", &base, true)?;
        if self.client_id.trim().is_empty() || self.client_id.contains(':') {
            return Err("client_id: must not be empty or contain ':'".to_string());
        }
        for (from, to) in &self.status_map {
            if to.trim().is_empty() {
                return Err(format!("status_map: {from:?} maps to an empty status"));
            }
        }
        if let Some(v0) = &self.v0 {
            super::http::check_base_url("v0.base_url", &v0.base_url, true)?;
            if v0.developer_id.trim().is_empty() {
                return Err("v0.developer_id: must not be empty".to_string());
            }
            if v0.page_size == 0 {
                return Err("v0.page_size: must be at least 1".to_string());
            }
        }
        self.http.validate()
    }
}

/// What the last full pull knew, for filling in v0 records.
#[derive(Debug, Default)]
struct Known {
    by_tenant: HashMap<String, SourceRecord>,
    unit_names: HashMap<String, String>,
}

struct V0 {
    base: reqwest::Url,
    developer_id: String,
    user: String,
    secret: Secret,
    page_size: u32,
}

/// Where a paged listing keeps its rows and the link to its next page.
struct Listing<'a> {
    /// The key of each page's array of rows.
    rows: &'static str,
    /// The key of the next page's link; null, empty or absent ends the listing.
    next: &'static str,
    /// The link is a path resolved against `base` (else a URL resolved against the page).
    next_is_path: bool,
    /// Credentials go only to this origin, so every page must stay on it.
    base: &'a reqwest::Url,
}

/// The AppFolio source.
pub struct AppFolioSource {
    name: String,
    base: reqwest::Url,
    user: String,
    secret: Secret,
    rent_roll: bool,
    filters: Value,
    status_map: HashMap<String, String>,
    v0: Option<V0>,
    http: HttpClient,
    known: Mutex<Known>,
}

impl std::fmt::Debug for AppFolioSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppFolioSource")
            .field("name", &self.name)
            .field("base", &self.base.as_str())
            .field("user", &self.user)
            .field("v0", &self.v0.as_ref().map(|v| v.base.as_str()))
            .finish_non_exhaustive()
    }
}

impl AppFolioSource {
    pub fn new(config: &AppFolioConfig) -> Result<AppFolioSource, SourceError> {
        let invalid =
            |reason: String| SourceError::Config(format!("source {:?}: {reason}", config.name));
        config.validate().map_err(invalid)?;
        let base_text = config.reports_base().map_err(invalid)?;
        let base = super::http::check_base_url("base_url", &base_text, true).map_err(invalid)?;
        let secret = config.secret.load()?;
        let v0 = match &config.v0 {
            None => None,
            Some(v) => Some(V0 {
                base: super::http::check_base_url("v0.base_url", &v.base_url, true)
                    .map_err(invalid)?,
                developer_id: v.developer_id.trim().to_string(),
                user: v
                    .client_id
                    .clone()
                    .unwrap_or_else(|| config.client_id.clone()),
                secret: match &v.secret {
                    Some(s) => s.load()?,
                    None => secret.clone(),
                },
                page_size: v.page_size,
            }),
        };
        let filters =
            serde_json::to_value(&config.filters).map_err(|e| invalid(format!("filters: {e}")))?;
        let http = HttpClient::new(&base_text, &config.http).map_err(invalid)?;
        Ok(AppFolioSource {
            name: config.name.clone(),
            base,
            user: config.client_id.trim().to_string(),
            secret,
            rent_roll: config.rent_roll,
            filters,
            status_map: config
                .status_map
                .iter()
                .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_lowercase()))
                .collect(),
            v0,
            http,
            known: Mutex::new(Known::default()),
        })
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every row of one report, following `next_page_url`.
    async fn report(&self, report: &str) -> Result<Vec<Value>, SourceError> {
        let mut url = self.base.clone();
        url.set_path(&format!(
            "{}/api/v2/reports/{report}.json",
            self.base.path().trim_end_matches('/')
        ));
        let (user, password) = (self.user.clone(), self.secret.expose().to_string());
        let body = self.filters.clone();
        let listing = Listing {
            rows: "results",
            next: "next_page_url",
            next_is_path: false,
            base: &self.base,
        };
        self.listing(url, listing, &move |c: &reqwest::Client, target: &str| {
            c.post(target)
                .basic_auth(&user, Some(&password))
                .header("Accept", "application/json")
                .json(&body)
        })
        .await
    }

    /// Every row of a paged listing: `request` makes the request for one page's URL.
    async fn listing(
        &self,
        first: reqwest::Url,
        listing: Listing<'_>,
        request: &(dyn Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder + Send + Sync),
    ) -> Result<Vec<Value>, SourceError> {
        let Listing {
            rows: rows_key,
            next: next_key,
            next_is_path,
            base,
        } = listing;
        let mut next = Some(first);
        let mut rows = Vec::new();
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(SourceError::Incomplete {
                    url: redact_url(url.as_str()),
                    reason: format!("more than {MAX_PAGES} pages"),
                });
            }
            let target = url.to_string();
            let response = self
                .http
                .send(&target, &|c: &reqwest::Client| request(c, &target))
                .await?;
            let document = response.json()?;
            let bad = |reason: String| SourceError::Body {
                url: response.url.clone(),
                reason,
            };
            match document.get(rows_key) {
                Some(Value::Array(page)) => rows.extend(page.iter().cloned()),
                Some(other) => {
                    return Err(bad(format!(
                        "{rows_key}: expected an array, found {}",
                        kind(other)
                    )));
                }
                None => return Err(bad(format!("no {rows_key} array"))),
            }
            next = match document.get(next_key) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.trim().is_empty() => None,
                Some(Value::String(s)) => {
                    let (against, noun) = if next_is_path {
                        (base, "a path")
                    } else {
                        (&url, "a URL")
                    };
                    let n = against
                        .join(s.trim())
                        .map_err(|e| bad(format!("{next_key} is not {noun}: {e}")))?;
                    if !same_origin(base, &n) {
                        return Err(bad(format!(
                            "{next_key} points to another host ({}); credentials are only \
                             sent to the configured one",
                            n.origin().ascii_serialization()
                        )));
                    }
                    Some(n)
                }
                Some(other) => {
                    return Err(bad(format!(
                        "{next_key}: expected a string or null, found {}",
                        kind(other)
                    )));
                }
            };
        }
        Ok(rows)
    }

    async fn full(&self) -> Result<Pull, SourceError> {
        let directory = self.report("tenant_directory").await?;
        let roll = if self.rent_roll {
            self.report("rent_roll").await?
        } else {
            Vec::new()
        };
        let pull = parse_reports(&directory, &roll, &self.status_map);
        let mut known = self.known();
        known.by_tenant = pull
            .records
            .iter()
            .map(|r| (r.external_id.clone(), r.clone()))
            .collect();
        known.unit_names = directory
            .iter()
            .filter_map(|row| {
                Some((
                    id(row, "unit_id").ok().flatten()?,
                    text(row, "unit").ok().flatten()?,
                ))
            })
            .collect();
        Ok(pull)
    }

    async fn changes(&self, v0: &V0, since: Timestamp) -> Result<Pull, SourceError> {
        let mut url = v0.base.clone();
        url.set_path(&format!(
            "{}/api/v0/tenants",
            v0.base.path().trim_end_matches('/')
        ));
        url.query_pairs_mut()
            .append_pair(
                "filters[LastUpdatedAtFrom]",
                &since.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            )
            .append_pair("page[number]", "1")
            .append_pair("page[size]", &v0.page_size.to_string());
        let (user, password) = (v0.user.clone(), v0.secret.expose().to_string());
        let developer = v0.developer_id.clone();
        let listing = Listing {
            rows: "data",
            next: "next_page_path",
            next_is_path: true,
            base: &v0.base,
        };
        let rows = self
            .listing(url, listing, &move |c: &reqwest::Client, target: &str| {
                c.get(target)
                    .basic_auth(&user, Some(&password))
                    .header("X-AppFolio-Developer-ID", developer.as_str())
                    .header("Accept", "application/json")
            })
            .await?;
        let known = self.known();
        let mut pull = Pull {
            changes_only: true,
            ..Pull::default()
        };
        for (index, row) in rows.iter().enumerate() {
            match v0_record(index, row, &known, &self.status_map) {
                Ok(r) => pull.push_resident(r),
                Err(s) => pull.skipped.push(s),
            }
        }
        Ok(pull)
    }
}

#[async_trait]
impl Source for AppFolioSource {
    async fn pull(&self, kind: PullKind) -> Result<Pull, SourceError> {
        let pull = match (kind, &self.v0) {
            (PullKind::Changes { since }, Some(v0)) => self.changes(v0, since).await?,
            _ => self.full().await?,
        };
        tracing::debug!(source = %self.name, records = pull.residents(),
            skipped = pull.skipped.len(), changes_only = pull.changes_only, "appfolio pulled");
        Ok(pull)
    }
}

/// An AppFolio status word → lintel's, or `None` when unknown.
pub fn map_status(word: &str, extra: &HashMap<String, String>) -> Option<String> {
    let w = word.trim().to_lowercase();
    if let Some(mapped) = extra.get(&w) {
        return Some(mapped.clone());
    }
    Some(
        match w.as_str() {
            "current" => status::CURRENT,
            "notice" | "notice-rented" | "notice-unrented" => status::NOTICE,
            "evict" | "eviction" => status::EVICTING,
            "future" => status::FUTURE,
            "past" | "former" => status::PAST,
            _ => return None,
        }
        .to_string(),
    )
}

/// Splits AppFolio's `emails` string: semicolon-separated, trimmed, lower-cased, empties
/// dropped; the first is the primary.
pub fn split_emails(emails: &str) -> Vec<String> {
    emails
        .split(';')
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty())
        .collect()
}

/// The first number in AppFolio's `phone_numbers` string (its format is not settled: entries may
/// be separated by commas, semicolons or new lines, and labelled like `Mobile: …`).
pub fn first_phone(phones: &str) -> Option<String> {
    phones
        .split([',', ';', '\n'])
        .map(|p| p.rsplit_once(':').map_or(p, |(_, n)| n).trim())
        .find(|p| p.chars().any(|c| c.is_ascii_digit()))
        .map(str::to_string)
}

/// Joins `tenant_directory` rows to `rent_roll` rows on `occupancy_id`.
pub fn parse_reports(
    directory: &[Value],
    rent_roll: &[Value],
    status_map: &HashMap<String, String>,
) -> Pull {
    let roll: HashMap<String, &Value> = rent_roll
        .iter()
        .filter_map(|row| Some((id(row, "occupancy_id").ok().flatten()?, row)))
        .collect();
    let mut pull = Pull::default();
    for (index, row) in directory.iter().enumerate() {
        let occupancy = id(row, "occupancy_id").ok().flatten();
        let lease = occupancy.as_ref().and_then(|o| roll.get(o).copied());
        match directory_record(index, row, lease, status_map) {
            Ok(r) => pull.push_resident(r),
            Err(s) => pull.skipped.push(s),
        }
    }
    pull
}

fn directory_record(
    index: usize,
    row: &Value,
    lease: Option<&Value>,
    status_map: &HashMap<String, String>,
) -> Result<SourceRecord, SkippedRecord> {
    let tenant_id = id(row, "tenant_id").ok().flatten();
    let skip = |reason: String| SkippedRecord {
        index,
        external_id: tenant_id.clone(),
        reason,
    };
    if !row.is_object() {
        return Err(skip(format!("row is {}, expected an object", kind(row))));
    }
    let tid = id(row, "tenant_id")
        .map_err(skip)?
        .ok_or_else(|| skip("tenant_id: missing".to_string()))?;
    let word = match text(row, "status").map_err(skip)? {
        Some(s) if !s.trim().is_empty() => s,
        _ => match lease {
            Some(l) => text(l, "status")
                .map_err(|e| skip(format!("rent_roll {e}")))?
                .unwrap_or_default(),
            None => String::new(),
        },
    };
    let Some(mapped) = map_status(&word, status_map) else {
        return Err(skip(format!(
            "status {word:?} is not one lintel knows (Current, Notice, Evict, Future, Past; \
             add others with status_map)"
        )));
    };
    let emails = split_emails(&text(row, "emails").map_err(skip)?.unwrap_or_default());
    let phone = text(row, "phone_numbers")
        .map_err(skip)?
        .as_deref()
        .and_then(first_phone);
    let lease_date = |key: &str| -> Result<Option<String>, SkippedRecord> {
        match lease {
            Some(l) => Ok(text(l, key)
                .map_err(|e| skip(format!("rent_roll {e}")))?
                .map(|d| date_part(&d).to_string())),
            None => Ok(None),
        }
    };
    let unit = match lookup(row, "unit") {
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => text(row, "unit").map_err(skip)?,
    };
    RawFields {
        external_id: Some(tid),
        first_name: text(row, "first_name").map_err(skip)?,
        last_name: text(row, "last_name").map_err(skip)?,
        email: emails.into_iter().next(),
        phone,
        unit,
        // The documented shapes name no building (see the module docs).
        building: None,
        status: Some(mapped),
        lease_start: lease_date("lease_from")?,
        lease_end: lease_date("lease_to")?,
        move_in: lease_date("move_in")?,
        move_out: lease_date("move_out")?,
        // Residents only: the documented API lists no visitors.
        ..RawFields::default()
    }
    .normalise(index)
}

fn v0_record(
    index: usize,
    row: &Value,
    known: &Known,
    status_map: &HashMap<String, String>,
) -> Result<SourceRecord, SkippedRecord> {
    let tenant_id = id(row, "Id").ok().flatten();
    let skip = |reason: String| SkippedRecord {
        index,
        external_id: tenant_id.clone(),
        reason,
    };
    if !row.is_object() {
        return Err(skip(format!("tenant is {}, expected an object", kind(row))));
    }
    let tid = id(row, "Id")
        .map_err(skip)?
        .ok_or_else(|| skip("Id: missing".to_string()))?;
    let hidden = text(row, "HiddenAt")
        .map_err(skip)?
        .is_some_and(|h| !h.trim().is_empty());
    let mapped = if hidden {
        status::PAST.to_string()
    } else {
        let word = text(row, "Status").map_err(skip)?.unwrap_or_default();
        map_status(&word, status_map).ok_or_else(|| {
            skip(format!(
                "Status {word:?} is not one lintel knows (Current, Notice, Evict, Future, Past; \
                 add others with status_map)"
            ))
        })?
    };
    let previous = known.by_tenant.get(&tid);
    let unit = match id(row, "UnitId").map_err(skip)? {
        Some(unit_id) => known
            .unit_names
            .get(&unit_id)
            .cloned()
            .or_else(|| previous.and_then(|p| p.unit.clone())),
        None => previous.and_then(|p| p.unit.clone()),
    };
    let date = |key: &str| -> Result<Option<String>, SkippedRecord> {
        Ok(text(row, key)
            .map_err(skip)?
            .map(|d| date_part(&d).to_string()))
    };
    let email = match text(row, "Email").map_err(skip)? {
        Some(e) => split_emails(&e).into_iter().next(),
        None => previous.and_then(|p| p.email.clone()),
    };
    let phone = match text(row, "PhoneNumber").map_err(skip)? {
        Some(p) => Some(p),
        None => previous.and_then(|p| p.phone.clone()),
    };
    RawFields {
        external_id: Some(tid),
        first_name: text(row, "FirstName").map_err(skip)?,
        last_name: text(row, "LastName").map_err(skip)?,
        email,
        phone,
        unit,
        // The documented shapes name no building (see the module docs).
        building: None,
        status: Some(mapped),
        lease_start: date("LeaseStartDate")?,
        lease_end: date("LeaseEndDate")?,
        move_in: date("MoveInOn")?,
        move_out: date("MoveOutOn")?,
        // Residents only: the documented API lists no visitors.
        ..RawFields::default()
    }
    .normalise(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn emails_split_trim_lowercase_first_is_primary() {
        assert_eq!(
            split_emails(" A.Resident@Example.com ; b@example.com;;"),
            ["a.resident@example.com", "b@example.com"]
        );
        assert!(split_emails(" ; ").is_empty());
    }

    #[test]
    fn phones_of_unsettled_format() {
        assert_eq!(
            first_phone("Mobile: (555) 010-0101, Home: 555-010-0102").as_deref(),
            Some("(555) 010-0101")
        );
        assert_eq!(first_phone("+15550100101").as_deref(), Some("+15550100101"));
        assert_eq!(first_phone(""), None);
    }

    #[test]
    fn statuses_map_and_unknown_ones_are_skipped() {
        let none = HashMap::new();
        for (word, want) in [
            ("Current", "current"),
            ("Notice-Rented", "notice"),
            ("Notice-Unrented", "notice"),
            ("Notice", "notice"),
            ("Evict", "evicting"),
            ("Future", "future"),
            ("Past", "past"),
        ] {
            assert_eq!(map_status(word, &none).as_deref(), Some(want), "{word}");
        }
        assert_eq!(map_status("Vacant-Unrented", &none), None);
        let extra = HashMap::from([("vacant-unrented".to_string(), "past".to_string())]);
        assert_eq!(
            map_status("Vacant-Unrented", &extra).as_deref(),
            Some("past")
        );
    }

    #[test]
    fn directory_joins_rent_roll_on_occupancy() {
        let dir = [
            json!({
                "tenant_id": 11, "occupancy_id": 21, "property_id": 1, "unit_id": 31,
                "unit": "2B", "first_name": "Test", "last_name": "Tenant", "status": "Current",
                "emails": "Test.Tenant@Example.com; other@example.com", "phone_numbers": "Mobile: +15550100111"
            }),
            json!({"tenant_id": "x", "occupancy_id": 22, "status": "Vacant-Unrented"}),
        ];
        let roll = [
            json!({"occupancy_id": 21, "lease_from": "2025-08-01", "lease_to": "2035-07-31",
            "move_in": "2025-08-01", "move_out": null, "status": "Current"}),
        ];
        let pull = parse_reports(&dir, &roll, &HashMap::new());
        let r = &pull.records[0];
        assert_eq!(r.external_id, "11");
        assert_eq!(r.email.as_deref(), Some("test.tenant@example.com"));
        assert_eq!(r.phone.as_deref(), Some("+15550100111"));
        assert_eq!(r.unit.as_deref(), Some("2B"));
        assert_eq!(r.lease_end, Some(jiff::civil::date(2035, 7, 31)));
        assert_eq!(pull.skipped[0].external_id.as_deref(), Some("x"));
        assert!(pull.skipped[0].reason.contains("Vacant-Unrented"));
    }
}
