//! Entrata: RPC over HTTPS. `POST {base}/leases` with the envelope
//! `{"auth":{"type":…},"requestId":…,"method":{"name":"getLeases","version":"r2","params":{…}}}`,
//! HTTP Basic (`https://{subdomain}.entrata.com/api/v1`) or `X-Api-Key`
//! (`https://apis.entrata.com/ext/orgs/{subdomain}/v1`), one call per property, paged with
//! `page_no`/`per_page` (`X-Send-Pagination-Links: 1`). The envelope's own `code` is checked, not
//! only the HTTP status.
//!
//! Entrata has no modified-since filter: incremental pulls ask for the leases whose move-in,
//! move-out or event date falls in a window from the last success (in the property's time zone,
//! `America/Denver` by default) and are changes-only; the `full_reconcile` schedule pulls
//! everything in scope.
//!
//! Gotchas handled: dates are `MM/DD/YYYY`; ids arrive as strings or numbers (read leniently);
//! collections are double-wrapped (`customers.customer[]`, a lone object meaning one); guarantors
//! are not occupants (skipped); a `Cancelled` customer on a live lease is a removed roommate
//! (status `cancelled`, no access); a month-to-month lease has no end.
//!
//! Each pass first calls `getLeasePickList` (r1) and reads the `leaseStatusTypeId` map from its
//! `leaseStatusTypes.leaseStatusType[]`, entries like
//! `{"@attributes":{"id":4,"name":"Current","type":"Active"}}` in captured responses or the bare
//! `{"id","name","type"}` of Entrata's OpenAPI models (both read), so no id is hard-coded;
//! `status_ids` overrides single ids.
//!
//! | pick-list `name` (any id)                                       | lintel      |
//! |-----------------------------------------------------------------|-------------|
//! | Applicant                                                       | `applicant` |
//! | Cancelled (Canceled)                                            | `cancelled` |
//! | Future                                                          | `future`    |
//! | Current                                                         | `current`   |
//! | Notice                                                          | `notice`    |
//! | Past                                                            | `past`      |
//! | any other name, or an id it lacks, unless in `status_ids`       | skipped, with the reason |
//! | customer `leaseCustomerStatus` Cancelled (any lease)            | `cancelled` |
//!
//! Paging: no source shows what `X-Send-Pagination-Links: 1` adds to the body (the OpenAPI
//! models and captured r2 responses carry no count or links), so the end is confirmed by asking
//! for the page after a short one: it must bring nothing new, or the short page was cut short in
//! the middle and the pass fails. A page that repeats leases of an earlier page fails the pass
//! too (a listing that shifted while paging, or a server ignoring `page_no` after a full page),
//! except as that confirming page.
//!
//! Not called: `getCustomers`. `getLeases` r2 already carries each lease's customers with type,
//! status, email and phones, which is all a record needs.
//!
//! Building: none. A lease names its `propertyId` (an id) but `getLeases` documents no building
//! or property name, so records have no building.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::fields::{RawFields, parse_date};
use super::http::{HttpClient, HttpSettings, secret_header};
use super::value::{id, kind, lookup, text, wrapped};
use super::{Pull, PullKind, Schedule, SkippedRecord, Source, SourceError, SourceRecord, status};
use crate::config::secret::{Secret, SecretRef};

pub const DEFAULT_TIME_ZONE: &str = "America/Denver";
pub const DEFAULT_PER_PAGE: u32 = 500;

/// How requests authenticate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntrataAuth {
    /// HTTP Basic with `username` and the secret, on `{subdomain}.entrata.com`.
    #[default]
    Basic,
    /// `X-Api-Key: SECRET` on `apis.entrata.com`.
    ApiKey,
}

/// `[[source]]` settings for `kind = "entrata"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntrataConfig {
    pub name: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The client's Entrata subdomain (also the org slug of the API-key gateway).
    #[serde(default)]
    pub subdomain: Option<String>,
    #[serde(default)]
    pub auth: EntrataAuth,
    /// Basic user name (auth = "basic").
    #[serde(default)]
    pub username: Option<String>,
    /// The Basic password or the API key.
    pub secret: SecretRef,
    /// Overrides the service root (…/v1, without the service name).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Properties to pull (one call each). Strings or numbers.
    #[serde(deserialize_with = "ids")]
    pub property_ids: Vec<String>,
    /// The properties' time zone (Entrata dates are local).
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    #[serde(default = "default_per_page")]
    pub per_page: u32,
    /// `leaseStatusTypeId` → lintel status, over what `getLeasePickList`'s names give.
    #[serde(default)]
    pub status_ids: BTreeMap<String, String>,
    /// `leaseStatusTypeIds` for full pulls; default: every id the pass's map gives future,
    /// current, notice or evicting.
    #[serde(default, deserialize_with = "optional_ids")]
    pub lease_status_type_ids: Option<Vec<String>>,
    /// Incremental windows reach this many days past today (move-ins and move-outs ahead).
    #[serde(default = "default_window_ahead_days")]
    pub window_ahead_days: u32,
    /// The shared connection keys (taken out of the table by the config parser).
    #[serde(skip)]
    pub http: HttpSettings,
    #[serde(skip)]
    pub schedule: Schedule,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrInt {
    S(String),
    I(i64),
}

fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<StringOrInt>::deserialize(d)?
        .into_iter()
        .map(|v| match v {
            StringOrInt::S(s) => s.trim().to_string(),
            StringOrInt::I(i) => i.to_string(),
        })
        .collect())
}

fn optional_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    ids(d).map(Some)
}

fn default_true() -> bool {
    true
}
fn default_time_zone() -> String {
    DEFAULT_TIME_ZONE.to_string()
}
fn default_per_page() -> u32 {
    DEFAULT_PER_PAGE
}
fn default_window_ahead_days() -> u32 {
    30
}

impl EntrataConfig {
    pub fn new(
        name: &str,
        base_url: &str,
        username: &str,
        secret: SecretRef,
        properties: &[&str],
    ) -> Self {
        EntrataConfig {
            name: name.to_string(),
            enabled: true,
            subdomain: None,
            auth: EntrataAuth::Basic,
            username: Some(username.to_string()),
            secret,
            base_url: Some(base_url.to_string()),
            property_ids: properties.iter().map(|p| p.to_string()).collect(),
            time_zone: DEFAULT_TIME_ZONE.to_string(),
            per_page: DEFAULT_PER_PAGE,
            status_ids: BTreeMap::new(),
            lease_status_type_ids: None,
            window_ahead_days: default_window_ahead_days(),
            http: HttpSettings::default(),
            schedule: Schedule::default(),
        }
    }

    /// The service root.
    pub fn service_base(&self) -> Result<String, String> {
        if let Some(url) = &self.base_url {
            return Ok(url.trim_end_matches('/').to_string());
        }
        let Some(sub) = self.subdomain.as_deref().map(str::trim) else {
            return Err("subdomain: required (or base_url)".to_string());
        };
        if sub.is_empty() || !sub.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("subdomain: {sub:?} is not an Entrata subdomain"));
        }
        Ok(match self.auth {
            EntrataAuth::Basic => format!("https://{sub}.entrata.com/api/v1"),
            EntrataAuth::ApiKey => format!("https://apis.entrata.com/ext/orgs/{sub}/v1"),
        })
    }

    pub fn validate(&self) -> Result<(), String> {
        let base = self.service_base()?;
        super::http::check_base_url("base_url", &base, true)?;
        match (self.auth, &self.username) {
            (EntrataAuth::Basic, None) => {
                return Err("username: required by auth = \"basic\"".to_string());
            }
            (EntrataAuth::Basic, Some(u)) if u.trim().is_empty() || u.contains(':') => {
                return Err("username: must not be empty or contain ':'".to_string());
            }
            (EntrataAuth::ApiKey, Some(_)) => {
                return Err("username: not used with auth = \"api_key\"".to_string());
            }
            _ => {}
        }
        if self.property_ids.is_empty() {
            return Err(
                "property_ids: list at least one (getLeases takes one property per call)"
                    .to_string(),
            );
        }
        if let Some(p) = self.property_ids.iter().find(|p| p.is_empty()) {
            return Err(format!("property_ids: {p:?} is empty"));
        }
        TimeZone::get(&self.time_zone).map_err(|e| {
            format!(
                "time_zone: {:?} is not a known IANA time zone ({e})",
                self.time_zone
            )
        })?;
        if !(1..=5000).contains(&self.per_page) {
            return Err("per_page: must be 1–5000".to_string());
        }
        for (k, v) in &self.status_ids {
            if v.trim().is_empty() {
                return Err(format!("status_ids: {k:?} maps to an empty status"));
            }
        }
        if self
            .lease_status_type_ids
            .as_ref()
            .is_some_and(Vec::is_empty)
        {
            return Err("lease_status_type_ids: must not be empty".to_string());
        }
        self.http.validate()
    }
}

/// The `leaseStatusTypeId` map of one pass: `getLeasePickList`'s names read as lintel statuses,
/// then `status_ids` on top.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseStatuses {
    /// id → lintel status.
    mapped: BTreeMap<String, String>,
    /// id → its pick-list name, for names lintel has no status for.
    unmapped: BTreeMap<String, String>,
}

impl LeaseStatuses {
    /// The lintel status of `id`, or why there is none.
    pub fn status(&self, id: &str) -> Result<&str, String> {
        if let Some(status) = self.mapped.get(id) {
            return Ok(status);
        }
        Err(match self.unmapped.get(id) {
            Some(name) => format!(
                "leaseStatusTypeId {id} is {name:?} in getLeasePickList, which has no lintel \
                 status (map it in status_ids)"
            ),
            None => {
                format!("leaseStatusTypeId {id} is not in getLeasePickList (map it in status_ids)")
            }
        })
    }

    /// The ids whose people may have access, for a full pull's `leaseStatusTypeIds`.
    fn live_ids(&self) -> String {
        self.mapped
            .iter()
            .filter(|(_, s)| {
                matches!(
                    s.as_str(),
                    status::FUTURE | status::CURRENT | status::NOTICE | status::EVICTING
                )
            })
            .map(|(id, _)| id.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The lintel status of a `getLeasePickList` lease status name.
fn status_for_name(name: &str) -> Option<&'static str> {
    Some(match name.trim().to_lowercase().as_str() {
        "applicant" => status::APPLICANT,
        "cancelled" | "canceled" => status::CANCELLED,
        "future" => status::FUTURE,
        "current" => status::CURRENT,
        "notice" => status::NOTICE,
        "past" => status::PAST,
        _ => return None,
    })
}

/// The Entrata source.
pub struct EntrataSource {
    name: String,
    base: String,
    auth: EntrataAuth,
    username: String,
    secret: Secret,
    properties: Vec<String>,
    tz: TimeZone,
    per_page: u32,
    status_ids: BTreeMap<String, String>,
    /// `lease_status_type_ids`, joined; `None`: the pass's live ids.
    full_status_ids: Option<String>,
    window_ahead_days: u32,
    http: HttpClient,
}

impl std::fmt::Debug for EntrataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntrataSource")
            .field("name", &self.name)
            .field("base", &self.base)
            .field("auth", &self.auth)
            .field("properties", &self.properties)
            .finish_non_exhaustive()
    }
}

impl EntrataSource {
    pub fn new(config: &EntrataConfig) -> Result<EntrataSource, SourceError> {
        let invalid =
            |reason: String| SourceError::Config(format!("source {:?}: {reason}", config.name));
        config.validate().map_err(invalid)?;
        let base = config.service_base().map_err(invalid)?;
        let secret = config.secret.load()?;
        if config.auth == EntrataAuth::ApiKey && secret_header(secret.expose()).is_none() {
            return Err(invalid("secret: not a valid header value".to_string()));
        }
        let tz =
            TimeZone::get(&config.time_zone).map_err(|e| invalid(format!("time_zone: {e}")))?;
        let http = HttpClient::new(&base, &config.http).map_err(invalid)?;
        Ok(EntrataSource {
            name: config.name.clone(),
            base,
            auth: config.auth,
            username: config.username.clone().unwrap_or_default(),
            secret,
            properties: config.property_ids.clone(),
            tz,
            per_page: config.per_page,
            status_ids: config
                .status_ids
                .iter()
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_lowercase()))
                .collect(),
            full_status_ids: config
                .lease_status_type_ids
                .as_ref()
                .map(|ids| ids.join(",")),
            window_ahead_days: config.window_ahead_days,
            http,
        })
    }

    /// One RPC call to the `leases` service; the parsed body and the URL it came from.
    async fn call(
        &self,
        query: &str,
        request_id: &str,
        method: Value,
    ) -> Result<(Value, String), SourceError> {
        let url = format!("{}/leases{query}", self.base);
        let body = json!({
            "auth": {"type": match self.auth { EntrataAuth::Basic => "basic", EntrataAuth::ApiKey => "apikey" }},
            "requestId": request_id,
            "method": method,
        });
        let auth = self.auth;
        let (user, secret) = (self.username.clone(), self.secret.expose().to_string());
        let target = url.clone();
        let response = self
            .http
            .send(&url, &move |c: &reqwest::Client| {
                let request = c
                    .post(&target)
                    .header("Accept", "application/json")
                    .header("X-Send-Pagination-Links", "1")
                    .json(&body);
                match auth {
                    EntrataAuth::Basic => request.basic_auth(&user, Some(&secret)),
                    EntrataAuth::ApiKey => {
                        let key = secret_header(&secret)
                            .unwrap_or_else(|| reqwest::header::HeaderValue::from_static(""));
                        request.header("X-Api-Key", key)
                    }
                }
            })
            .await?;
        Ok((response.json()?, response.url))
    }

    /// This pass's status map, from `getLeasePickList`.
    async fn lease_statuses(&self) -> Result<LeaseStatuses, SourceError> {
        let (document, url) = self
            .call(
                "",
                "pick-list",
                json!({"name": "getLeasePickList", "version": "r1", "params": {}}),
            )
            .await?;
        envelope_lease_statuses(&document, &url, &self.status_ids)
    }

    /// All leases for one `getLeases` parameter set, every page.
    ///
    /// Entrata's body carries no count or links that any source documents, so the end is
    /// confirmed instead: after a page shorter than `per_page` the next page is asked for too,
    /// and must bring no lease not already read. Leases there mean the short page was cut short
    /// in the middle of the listing. Nothing new there (empty, or a server that ignores
    /// `page_no` repeating the short listing) is the end.
    async fn leases(&self, params: Value) -> Result<Vec<Value>, SourceError> {
        let mut all = Vec::new();
        let mut seen = HashSet::new();
        let mut short: Option<(u32, usize)> = None;
        for page_no in 1u32.. {
            let (document, url) = self
                .call(
                    &format!("?page_no={page_no}&per_page={}", self.per_page),
                    &page_no.to_string(),
                    json!({"name": "getLeases", "version": "r2", "params": params}),
                )
                .await?;
            let page = envelope_leases(&document, &url)?;
            let listed = page.len();
            let mut repeated = None;
            let mut new = Vec::new();
            for lease in page {
                match id(&lease, "id").ok().flatten() {
                    Some(lease_id) if !seen.insert(lease_id.clone()) => {
                        repeated.get_or_insert(lease_id);
                    }
                    _ => new.push(lease),
                }
            }
            if new.is_empty() {
                if listed == 0 || short.is_some() {
                    return Ok(all);
                }
                // After a full page, a page of repeats cannot be told from a cut-off listing.
                return Err(SourceError::Incomplete {
                    url,
                    reason: format!(
                        "page {page_no} only repeats leases of earlier pages (getLeases ignored \
                         page_no?), so the leases after page {} cannot be read",
                        page_no - 1
                    ),
                });
            }
            if let Some((short_no, count)) = short {
                return Err(SourceError::Incomplete {
                    url,
                    reason: format!(
                        "page {short_no} held {count} leases of per_page {} but page {page_no} \
                         holds more: page {short_no} came back short",
                        self.per_page
                    ),
                });
            }
            if let Some(lease_id) = repeated {
                return Err(SourceError::Incomplete {
                    url,
                    reason: format!(
                        "page {page_no} repeats lease {lease_id} of an earlier page (the \
                         listing shifted while paging)"
                    ),
                });
            }
            if new.len() < self.per_page as usize {
                short = Some((page_no, new.len()));
            }
            all.extend(new);
        }
        Ok(all)
    }

    fn date(&self, at: Timestamp) -> Date {
        at.to_zoned(self.tz.clone()).date()
    }
}

fn mdy(d: Date) -> String {
    d.strftime("%m/%d/%Y").to_string()
}

/// An envelope's `response`, after checking its `code`.
fn envelope_response<'a>(document: &'a Value, url: &str) -> Result<&'a Value, SourceError> {
    let Some(response) = document.get("response") else {
        return Err(SourceError::Body {
            url: url.to_string(),
            reason: "no `response` envelope".to_string(),
        });
    };
    let code = id(response, "code").ok().flatten();
    if code.as_deref() != Some("200") {
        let message = lookup(response, "error.message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        return Err(SourceError::Api {
            url: url.to_string(),
            reason: format!(
                "envelope code {} ({message})",
                code.as_deref().unwrap_or("missing")
            ),
        });
    }
    Ok(response)
}

/// The lease array inside an envelope, after checking its `code`.
pub fn envelope_leases(document: &Value, url: &str) -> Result<Vec<Value>, SourceError> {
    let response = envelope_response(document, url)?;
    let leases =
        wrapped(response, "result.leases", "lease").map_err(|reason| SourceError::Body {
            url: url.to_string(),
            reason,
        })?;
    Ok(leases.into_iter().cloned().collect())
}

/// The status map in a `getLeasePickList` envelope, with `overrides` (`status_ids`) on top. A
/// pick list that cannot be read fails the pass: guessing statuses could grant access.
pub fn envelope_lease_statuses(
    document: &Value,
    url: &str,
    overrides: &BTreeMap<String, String>,
) -> Result<LeaseStatuses, SourceError> {
    let bad = |reason: String| SourceError::Body {
        url: url.to_string(),
        reason: format!("getLeasePickList: {reason}"),
    };
    let response = envelope_response(document, url)?;
    let types = wrapped(response, "result.leaseStatusTypes", "leaseStatusType").map_err(bad)?;
    if types.is_empty() {
        return Err(bad(
            "result.leaseStatusTypes lists no leaseStatusType".to_string()
        ));
    }
    let mut statuses = LeaseStatuses::default();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for (i, item) in types.into_iter().enumerate() {
        let at = |reason: String| bad(format!("leaseStatusType[{i}]: {reason}"));
        let fields = item.get("@attributes").unwrap_or(item);
        if !fields.is_object() {
            return Err(at(format!("is {}, expected an object", kind(fields))));
        }
        let type_id = id(fields, "id")
            .map_err(at)?
            .ok_or_else(|| at("id missing".to_string()))?;
        let name = text(fields, "name")
            .map_err(at)?
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| at("name missing".to_string()))?;
        if let Some(earlier) = names.insert(type_id.clone(), name.clone())
            && earlier != name
        {
            return Err(at(format!(
                "id {type_id} is listed as both {earlier:?} and {name:?}"
            )));
        }
        match status_for_name(&name) {
            Some(s) => {
                statuses.mapped.insert(type_id, s.to_string());
            }
            None => {
                statuses.unmapped.insert(type_id, name);
            }
        }
    }
    for (type_id, s) in overrides {
        statuses.unmapped.remove(type_id);
        statuses.mapped.insert(type_id.clone(), s.clone());
    }
    Ok(statuses)
}

#[async_trait]
impl Source for EntrataSource {
    async fn pull(&self, pull_kind: PullKind) -> Result<Pull, SourceError> {
        let statuses = self.lease_statuses().await?;
        let full_status_ids = self
            .full_status_ids
            .clone()
            .unwrap_or_else(|| statuses.live_ids());
        let mut leases = Vec::new();
        let changes_only = matches!(pull_kind, PullKind::Changes { .. });
        for property in &self.properties {
            match pull_kind {
                PullKind::Full => {
                    let mut params = json!({"propertyId": property});
                    if !full_status_ids.is_empty() {
                        params["leaseStatusTypeIds"] = json!(full_status_ids);
                    }
                    leases.extend(self.leases(params).await?);
                }
                PullKind::Changes { since } => {
                    // Whole days in the property's zone, one day of margin.
                    let from = self
                        .date(since)
                        .checked_sub(1.day())
                        .unwrap_or(self.date(since));
                    let today = self.date(Timestamp::now());
                    let ahead = today
                        .checked_add(i64::from(self.window_ahead_days).days())
                        .unwrap_or(today);
                    for (field, to) in [("moveIn", ahead), ("moveOut", ahead), ("eventDate", today)]
                    {
                        let key = if field == "eventDate" {
                            field.to_string()
                        } else {
                            format!("{field}Date")
                        };
                        let params = json!({
                            "propertyId": property,
                            format!("{key}From"): mdy(from),
                            format!("{key}To"): mdy(to),
                        });
                        leases.extend(self.leases(params).await?);
                    }
                }
            }
        }
        let mut pull = parse_leases(&leases, &statuses);
        pull.changes_only = changes_only;
        tracing::debug!(source = %self.name, records = pull.residents(),
            skipped = pull.skipped.len(), changes_only, "entrata pulled");
        Ok(pull)
    }
}

fn rank(status: &str) -> u8 {
    match status {
        status::CURRENT | status::NOTICE | status::EVICTING => 4,
        status::FUTURE => 3,
        status::APPLICANT => 2,
        _ => 1,
    }
}

/// Leases → one record per customer (the best lease when a customer is on several).
pub fn parse_leases(leases: &[Value], statuses: &LeaseStatuses) -> Pull {
    let mut pull = Pull::default();
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut skipped: Vec<SkippedRecord> = Vec::new();
    let mut index = 0usize;
    for lease in leases {
        for item in lease_customers(lease, statuses, &mut index) {
            match item {
                Ok(record) => match at.get(&record.external_id) {
                    Some(&i) => {
                        if rank(&record.status) > rank(&pull.records[i].status) {
                            pull.records[i] = record;
                        }
                    }
                    None => {
                        at.insert(record.external_id.clone(), pull.records.len());
                        pull.records.push(record);
                    }
                },
                Err(s) => skipped.push(s),
            }
        }
    }
    // A guarantor here may be an occupant on another lease: keep the record only.
    pull.skipped = skipped
        .into_iter()
        .filter(|s| s.external_id.as_ref().is_none_or(|id| !at.contains_key(id)))
        .collect();
    pull
}

fn lease_customers(
    lease: &Value,
    statuses: &LeaseStatuses,
    index: &mut usize,
) -> Vec<Result<SourceRecord, SkippedRecord>> {
    let lease_id = id(lease, "id").ok().flatten();
    let lease_skip = |i: usize, reason: String| SkippedRecord {
        index: i,
        external_id: None,
        reason: format!(
            "lease {}: {reason}",
            lease_id.as_deref().unwrap_or("(no id)")
        ),
    };
    if !lease.is_object() {
        let i = *index;
        *index += 1;
        return vec![Err(lease_skip(
            i,
            format!("is {}, expected an object", kind(lease)),
        ))];
    }
    let customers = match wrapped(lease, "customers", "customer") {
        Ok(c) => c,
        Err(e) => {
            let i = *index;
            *index += 1;
            return vec![Err(lease_skip(i, e))];
        }
    };
    let lease_status = id(lease, "leaseStatusTypeId");
    let unit = wrapped(lease, "unitSpaces", "unitSpace").and_then(|spaces| match spaces.first() {
        Some(s) => id(s, "unitSpace"),
        None => Ok(None),
    });
    let interval = wrapped(lease, "leaseIntervals", "leaseInterval").and_then(|intervals| {
        // The latest interval by start date.
        let mut best: Option<(Date, &Value)> = None;
        for i in intervals {
            let start = text(i, "startDate")?
                .map(|s| parse_date(s.trim()).map_err(|e| format!("leaseIntervals startDate: {e}")))
                .transpose()?;
            if let Some(start) = start
                && best.is_none_or(|(b, _)| start > b)
            {
                best = Some((start, i));
            }
        }
        Ok(best.map(|(_, i)| i))
    });
    let month_to_month = matches!(lookup(lease, "isMonthToMonth"), Some(v) if v == &json!(1) || v == &json!("1") || v == &json!(true));

    let mut out = Vec::new();
    for customer in customers {
        let i = *index;
        *index += 1;
        let cid = id(customer, "id").ok().flatten();
        let skip = |reason: String| SkippedRecord {
            index: i,
            external_id: cid.clone(),
            reason,
        };
        let record = (|| {
            let Some(cid) = id(customer, "id").map_err(skip)? else {
                return Err(skip("customer id: missing".to_string()));
            };
            let ctype = text(customer, "customerType")
                .map_err(skip)?
                .unwrap_or_default();
            if ctype.trim().eq_ignore_ascii_case("guarantor") {
                return Err(skip("guarantor is not an occupant".to_string()));
            }
            let cstatus = text(customer, "leaseCustomerStatus")
                .map_err(skip)?
                .unwrap_or_default();
            let status = if matches!(
                cstatus.trim().to_lowercase().as_str(),
                "cancelled" | "canceled"
            ) {
                status::CANCELLED.to_string()
            } else {
                let sid = lease_status
                    .clone()
                    .map_err(|e| skip(format!("lease: {e}")))?
                    .ok_or_else(|| skip("lease: leaseStatusTypeId missing".to_string()))?;
                statuses.status(&sid).map_err(skip)?.to_string()
            };
            let interval = interval.clone().map_err(|e| skip(format!("lease: {e}")))?;
            let unit = unit.clone().map_err(|e| skip(format!("lease: {e}")))?;
            let phones = wrapped(customer, "phones", "phone").map_err(skip)?;
            let mobile = phones.iter().find(|p| {
                p.get("phoneType").and_then(Value::as_str).is_some_and(|t| {
                    t.eq_ignore_ascii_case("mobile") || t.eq_ignore_ascii_case("cell")
                })
            });
            let phone = match mobile.or(phones.first()) {
                Some(p) => id(p, "phoneNumber").map_err(skip)?,
                None => None,
            };
            let interval_date = |key: &str| -> Result<Option<String>, SkippedRecord> {
                match interval {
                    Some(iv) => text(iv, key).map_err(|e| skip(format!("leaseIntervals {e}"))),
                    None => Ok(None),
                }
            };
            RawFields {
                external_id: Some(cid),
                first_name: text(customer, "firstName").map_err(skip)?,
                last_name: text(customer, "lastName").map_err(skip)?,
                email: text(customer, "emailAddress").map_err(skip)?,
                phone,
                unit,
                // The documented shape names no building (see the module docs).
                building: None,
                status: Some(status),
                lease_start: interval_date("startDate")?,
                // A month-to-month lease's end date has passed and means nothing.
                lease_end: if month_to_month {
                    None
                } else {
                    interval_date("endDate")?
                },
                move_in: text(customer, "moveInDate").map_err(skip)?,
                move_out: None,
                // Residents only: the documented API lists no visitors.
                ..RawFields::default()
            }
            .normalise(i)
        })();
        out.push(record);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::fixtures::entrata::{
        customer, lease, lease_status_type, lease_status_types, pick_list,
    };

    fn default_map() -> LeaseStatuses {
        envelope_lease_statuses(&pick_list(lease_status_types()), "u", &BTreeMap::new())
            .expect("pick list")
    }

    #[test]
    fn statuses_guarantors_cancelled_and_month_to_month() {
        let map = default_map();
        let mut leases = Vec::new();
        for sid in ["1", "2", "3", "4", "5", "6"] {
            leases.push(lease(
                &format!("L{sid}"),
                sid,
                "101",
                vec![customer(
                    100 + sid.parse::<i64>().unwrap_or(0),
                    "Primary",
                    "Current",
                )],
            ));
        }
        let pull = parse_leases(&leases, &map);
        let got: Vec<_> = pull.records.iter().map(|r| r.status.as_str()).collect();
        assert_eq!(
            got,
            [
                "applicant",
                "cancelled",
                "future",
                "current",
                "notice",
                "past"
            ]
        );

        let mut l = lease(
            "L9",
            "4",
            "202",
            vec![
                customer(201, "Primary", "Current"),
                customer(202, "Guarantor", "Current"),
                customer(203, "Primary", "Cancelled"),
            ],
        );
        l["isMonthToMonth"] = json!(1);
        let pull = parse_leases(&[l], &map);
        assert_eq!(pull.records.len(), 2);
        assert_eq!(pull.records[0].lease_end, None);
        assert_eq!(
            pull.records[0].lease_start,
            Some(jiff::civil::date(2025, 8, 1))
        );
        assert_eq!(pull.records[1].status, "cancelled");
        assert_eq!(pull.skipped.len(), 1);
        assert_eq!(pull.skipped[0].external_id.as_deref(), Some("202"));
        assert_eq!(pull.skipped[0].reason, "guarantor is not an occupant");
    }

    #[test]
    fn the_pick_list_maps_ids_by_name_and_status_ids_override_it() {
        // The OpenAPI models' bare objects, a lone object, ids as strings: all read.
        let bare = json!({"response": {"code": 200, "result": {"leaseStatusTypes":
            {"leaseStatusType": {"id": "12", "name": " current ", "type": "Active"}}}}});
        let map = envelope_lease_statuses(&bare, "u", &BTreeMap::new()).expect("bare");
        assert_eq!(map.status("12"), Ok("current"));
        assert_eq!(map.live_ids(), "12");

        let types = vec![
            lease_status_type(4, "Current", "Active"),
            lease_status_type(7, "Holdover", "Active"),
            lease_status_type(8, "Canceled", "NA"),
        ];
        let map =
            envelope_lease_statuses(&pick_list(types.clone()), "u", &BTreeMap::new()).expect("map");
        assert_eq!(map.status("4"), Ok("current"));
        assert_eq!(map.status("8"), Ok("cancelled"));
        assert_eq!(
            map.status("7"),
            Err(
                "leaseStatusTypeId 7 is \"Holdover\" in getLeasePickList, which has no lintel \
                 status (map it in status_ids)"
                    .to_string()
            )
        );
        assert_eq!(
            map.status("42"),
            Err(
                "leaseStatusTypeId 42 is not in getLeasePickList (map it in status_ids)"
                    .to_string()
            )
        );
        let overrides = BTreeMap::from([("7".to_string(), "evicting".to_string())]);
        let map = envelope_lease_statuses(&pick_list(types), "u", &overrides).expect("map");
        assert_eq!(map.status("7"), Ok("evicting"));
        assert_eq!(map.live_ids(), "4,7");

        for (types, reason) in [
            (
                vec![],
                "getLeasePickList: result.leaseStatusTypes lists no leaseStatusType",
            ),
            (
                vec![json!({"@attributes": {"id": 3}})],
                "getLeasePickList: leaseStatusType[0]: name missing",
            ),
            (
                vec![json!({"@attributes": {"name": "Past"}})],
                "getLeasePickList: leaseStatusType[0]: id missing",
            ),
            (
                vec![json!("Current")],
                "getLeasePickList: leaseStatusType[0]: is a string, expected an object",
            ),
            (
                vec![
                    lease_status_type(3, "Future", "NA"),
                    lease_status_type(3, "Past", "Completed"),
                ],
                "getLeasePickList: leaseStatusType[1]: id 3 is listed as both \"Future\" and \"Past\"",
            ),
        ] {
            let err = envelope_lease_statuses(&pick_list(types), "u", &BTreeMap::new())
                .expect_err(reason);
            assert_eq!(
                err.to_string(),
                format!("response from u is not valid: {reason}")
            );
        }
    }

    #[test]
    fn unknown_status_ids_and_envelope_errors() {
        let map = default_map();
        let pull = parse_leases(
            &[lease(
                "L1",
                "42",
                "1",
                vec![customer(1, "Primary", "Current")],
            )],
            &map,
        );
        assert_eq!(
            pull.skipped[0].reason,
            "leaseStatusTypeId 42 is not in getLeasePickList (map it in status_ids)"
        );
        assert_eq!(pull.skipped[0].external_id.as_deref(), Some("1"));
        let err = envelope_leases(
            &json!({"response": {"code": 301, "error": {"code": 301, "message": "Invalid propertyId"}}}),
            "u",
        )
        .expect_err("code");
        assert!(
            err.to_string()
                .contains("envelope code 301 (Invalid propertyId)"),
            "{err}"
        );
        assert!(envelope_leases(&json!({"oops": 1}), "u").is_err());
        let ok = envelope_leases(
            &json!({"response": {"code": "200", "result": {"leases": {"lease": {"id": 1}}}}}),
            "u",
        )
        .expect("single object");
        assert_eq!(ok.len(), 1);
        let none = envelope_leases(
            &json!({"response": {"code": 200, "result": {"leases": ""}}}),
            "u",
        )
        .expect("empty");
        assert!(none.is_empty());
    }

    #[test]
    fn config_validation_and_defaults() {
        let c: EntrataConfig = toml::from_str(
            "name = \"e\"\nsubdomain = \"maple\"\nusername = \"u\"\nsecret = { env = \"E\" }\nproperty_ids = [\"100\", 200]",
        )
        .expect("parse");
        assert_eq!(c.property_ids, ["100", "200"]);
        assert_eq!(c.time_zone, "America/Denver");
        assert_eq!(
            c.service_base().expect("base"),
            "https://maple.entrata.com/api/v1"
        );
        c.validate().expect("valid");
        let k = EntrataConfig {
            auth: EntrataAuth::ApiKey,
            username: None,
            ..c.clone()
        };
        assert_eq!(
            k.service_base().expect("base"),
            "https://apis.entrata.com/ext/orgs/maple/v1"
        );
        k.validate().expect("valid");
        for (bad, key) in [
            (
                EntrataConfig {
                    property_ids: vec![],
                    ..c.clone()
                },
                "property_ids",
            ),
            (
                EntrataConfig {
                    time_zone: "Mars/Base".into(),
                    ..c.clone()
                },
                "time_zone",
            ),
            (
                EntrataConfig {
                    username: None,
                    ..c.clone()
                },
                "username",
            ),
            (
                EntrataConfig {
                    subdomain: Some("a.b".into()),
                    ..c.clone()
                },
                "subdomain",
            ),
        ] {
            let err = bad.validate().expect_err(key);
            assert!(err.starts_with(key), "{err}");
        }
    }
}
