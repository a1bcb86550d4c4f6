//! Buildium (Open API v1): `GET /v1/leases/tenants`, authenticated by the
//! `x-buildium-client-id` / `x-buildium-client-secret` headers, paged with `limit`/`offset` in a
//! stable order (`orderby=Id asc`) and checked against `X-Total-Count`. Incremental pulls use
//! `lastupdatedfrom` (UTC `YYYY-MM-DDTHH:MM:SSZ`).
//!
//! One record per tenant. The tenant's lease is the one listing them in `Lease.Tenants[]` (the
//! current one first); cosigners are not occupants and are skipped. Status mapping:
//!
//! | Buildium                                              | lintel     |
//! |-------------------------------------------------------|------------|
//! | lease `Past`, or tenant `MovedOut`                    | `past`     |
//! | lease `Future`, or tenant `Future`                    | `future`   |
//! | lease `Active`, `IsEvictionPending`                   | `evicting` |
//! | lease `Active`, `MoveOutData` for this tenant         | `notice`   |
//! | lease `Active`, tenant `Current`                      | `current`  |
//!
//! Building: none. The documented tenant and lease shapes carry a `PropertyId` (a number) but no
//! building or property name, so records have no building and `buildings` group rules never
//! match them.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use super::fields::RawFields;
use super::http::{HttpClient, HttpSettings, secret_header};
use super::value::{array, date_part, flag, id, kind, text};
use super::{Pull, PullKind, Schedule, SkippedRecord, Source, SourceError, SourceRecord, status};
use crate::config::secret::SecretRef;

pub const DEFAULT_BASE_URL: &str = "https://api.buildium.com";
/// Buildium's maximum page size (larger values are capped by the API).
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Buildium answers 500 to a query string over 4096 characters; stay well below.
const MAX_QUERY_CHARS: usize = 3500;
/// How often a listing that changed while being paged is started again before giving up.
const LISTING_RESTARTS: u32 = 2;

/// `[[source]]` settings for `kind = "buildium"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildiumConfig {
    pub name: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// API root; `https://apisandbox.buildium.com` for the sandbox.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    pub client_id: String,
    /// The API key's secret.
    pub secret: SecretRef,
    /// `limit` per page, 1–1000.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// `leasetermstatuses` for full pulls (incremental pulls ask for all three, so that a lease
    /// turning Past is seen).
    #[serde(default = "default_lease_term_statuses")]
    pub lease_term_statuses: Vec<String>,
    /// Only these properties (`propertyids`, chunked to keep the query short); empty = all.
    #[serde(default)]
    pub property_ids: Vec<u32>,
    /// The shared connection keys (taken out of the table by the config parser).
    #[serde(skip)]
    pub http: HttpSettings,
    #[serde(skip)]
    pub schedule: Schedule,
}

fn default_true() -> bool {
    true
}
fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}
fn default_page_size() -> u32 {
    MAX_PAGE_SIZE
}
fn default_lease_term_statuses() -> Vec<String> {
    vec!["Active".to_string(), "Future".to_string()]
}

impl BuildiumConfig {
    /// Every optional key at its default.
    pub fn new(name: &str, base_url: &str, client_id: &str, secret: SecretRef) -> Self {
        BuildiumConfig {
            name: name.to_string(),
            enabled: true,
            base_url: base_url.to_string(),
            client_id: client_id.to_string(),
            secret,
            page_size: MAX_PAGE_SIZE,
            lease_term_statuses: default_lease_term_statuses(),
            property_ids: Vec::new(),
            http: HttpSettings::default(),
            schedule: Schedule::default(),
        }
    }

    /// Checks what serde cannot; the error starts with the key.
    pub fn validate(&self) -> Result<(), String> {
        super::http::check_base_url("base_url", &self.base_url, true)?;
        if self.client_id.trim().is_empty() {
            return Err("client_id: must not be empty".to_string());
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(format!(
                "page_size: {} is outside 1–{MAX_PAGE_SIZE}",
                self.page_size
            ));
        }
        if self.lease_term_statuses.is_empty() {
            return Err(
                "lease_term_statuses: must list at least one of Active, Past, Future".to_string(),
            );
        }
        for s in &self.lease_term_statuses {
            if !matches!(s.as_str(), "Active" | "Past" | "Future") {
                return Err(format!(
                    "lease_term_statuses: {s:?} is not one of Active, Past, Future (case matters)"
                ));
            }
        }
        self.http.validate()
    }
}

/// The Buildium source.
pub struct BuildiumSource {
    name: String,
    base: reqwest::Url,
    client_id: String,
    /// The `x-buildium-client-secret` value (marked sensitive).
    secret: reqwest::header::HeaderValue,
    page_size: u32,
    lease_term_statuses: Vec<String>,
    property_ids: Vec<u32>,
    http: HttpClient,
}

impl std::fmt::Debug for BuildiumSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildiumSource")
            .field("name", &self.name)
            .field("base", &self.base.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl BuildiumSource {
    pub fn new(config: &BuildiumConfig) -> Result<BuildiumSource, SourceError> {
        let invalid =
            |reason: String| SourceError::Config(format!("source {:?}: {reason}", config.name));
        config.validate().map_err(invalid)?;
        let base =
            super::http::check_base_url("base_url", &config.base_url, true).map_err(invalid)?;
        let secret = secret_header(config.secret.load()?.expose()).ok_or_else(|| {
            invalid("secret: contains characters not allowed in an HTTP header".to_string())
        })?;
        let http = HttpClient::new(&config.base_url, &config.http).map_err(invalid)?;
        Ok(BuildiumSource {
            name: config.name.clone(),
            base,
            client_id: config.client_id.trim().to_string(),
            secret,
            page_size: config.page_size,
            lease_term_statuses: config.lease_term_statuses.clone(),
            property_ids: config.property_ids.clone(),
            http,
        })
    }

    fn url(
        &self,
        offset: usize,
        statuses: &[String],
        properties: &[u32],
        since: Option<Timestamp>,
    ) -> String {
        let mut url = self.base.clone();
        url.set_path(&format!(
            "{}/v1/leases/tenants",
            self.base.path().trim_end_matches('/')
        ));
        {
            let mut q = url.query_pairs_mut();
            q.clear();
            q.append_pair("limit", &self.page_size.to_string());
            q.append_pair("offset", &offset.to_string());
            q.append_pair("orderby", "Id asc");
            for s in statuses {
                q.append_pair("leasetermstatuses", s);
            }
            for p in properties {
                q.append_pair("propertyids", &p.to_string());
            }
            if let Some(since) = since {
                q.append_pair(
                    "lastupdatedfrom",
                    &since.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                );
            }
        }
        url.to_string()
    }

    /// Property id lists short enough that the query stays under Buildium's limit.
    fn property_chunks(&self) -> Vec<Vec<u32>> {
        if self.property_ids.is_empty() {
            return vec![Vec::new()];
        }
        let mut chunks: Vec<Vec<u32>> = Vec::new();
        let mut current: Vec<u32> = Vec::new();
        let mut chars = 0;
        for id in &self.property_ids {
            let add = "&propertyids=".len() + id.to_string().len();
            if !current.is_empty() && chars + add > MAX_QUERY_CHARS - 300 {
                chunks.push(std::mem::take(&mut current));
                chars = 0;
            }
            chars += add;
            current.push(*id);
        }
        chunks.push(current);
        chunks
    }

    async fn get(&self, url: &str) -> Result<super::http::Response, SourceError> {
        let client_id = self.client_id.clone();
        let secret = self.secret.clone();
        let target = url.to_string();
        self.http
            .send(url, &move |c: &reqwest::Client| {
                c.get(&target)
                    .header("Accept", "application/json")
                    .header("x-buildium-client-id", client_id.as_str())
                    .header("x-buildium-client-secret", secret.clone())
            })
            .await
    }

    /// Every tenant of one listing (one property chunk), all pages, checked for completeness.
    async fn listing(
        &self,
        statuses: &[String],
        properties: &[u32],
        since: Option<Timestamp>,
    ) -> Result<Vec<Value>, SourceError> {
        let mut restarts = 0;
        'listing: loop {
            let mut items: Vec<Value> = Vec::new();
            let mut total: Option<usize> = None;
            loop {
                let offset = items.len();
                let url = self.url(offset, statuses, properties, since);
                let response = self.get(&url).await?;
                let incomplete = |reason: String| SourceError::Incomplete {
                    url: response.url.clone(),
                    reason,
                };
                let page = match response.json()? {
                    Value::Array(page) => page,
                    other => {
                        return Err(SourceError::Body {
                            url: response.url.clone(),
                            reason: format!("expected an array of tenants, found {}", kind(&other)),
                        });
                    }
                };
                let page_total: usize = response
                    .header("x-total-count")
                    .ok_or_else(|| incomplete("no X-Total-Count header".to_string()))?
                    .trim()
                    .parse()
                    .map_err(|_| incomplete("X-Total-Count is not a number".to_string()))?;
                match total {
                    None => total = Some(page_total),
                    Some(t) if t != page_total => {
                        if restarts < LISTING_RESTARTS {
                            restarts += 1;
                            tracing::info!(source = %self.name, from = t, to = page_total,
                                "listing changed while paging; starting again");
                            continue 'listing;
                        }
                        return Err(incomplete(format!(
                            "the listing kept changing while being paged (X-Total-Count went \
                             from {t} to {page_total})"
                        )));
                    }
                    Some(_) => {}
                }
                let expected = (self.page_size as usize).min(page_total.saturating_sub(offset));
                let got = page.len();
                items.extend(page);
                if items.len() >= page_total {
                    return Ok(items);
                }
                if got < expected {
                    return Err(incomplete(format!(
                        "the page at offset {offset} held {got} tenants where {expected} were \
                         expected (X-Total-Count {page_total}); a page is missing"
                    )));
                }
            }
        }
    }
}

#[async_trait]
impl Source for BuildiumSource {
    async fn pull(&self, kind: PullKind) -> Result<Pull, SourceError> {
        let (statuses, since) = match kind {
            PullKind::Full => (self.lease_term_statuses.clone(), None),
            PullKind::Changes { since } => (
                ["Active", "Past", "Future"].map(String::from).to_vec(),
                Some(since),
            ),
        };
        let mut tenants = Vec::new();
        for chunk in self.property_chunks() {
            tenants.extend(self.listing(&statuses, &chunk, since).await?);
        }
        let mut pull = parse_tenants(&tenants);
        pull.changes_only = since.is_some();
        tracing::debug!(source = %self.name, records = pull.residents(),
            skipped = pull.skipped.len(), changes_only = pull.changes_only, "buildium pulled");
        Ok(pull)
    }
}

/// Turns listed tenants into records (public for tests and tools holding a listing).
pub fn parse_tenants(tenants: &[Value]) -> Pull {
    let mut pull = Pull::default();
    for (index, tenant) in tenants.iter().enumerate() {
        match tenant_record(index, tenant) {
            Ok(record) => pull.push_resident(record),
            Err(skipped) => pull.skipped.push(skipped),
        }
    }
    pull
}

struct Occupancy<'a> {
    lease: &'a Value,
    lease_status: String,
    tenant_status: Option<String>,
    move_in: Option<String>,
}

fn rank(o: &Occupancy<'_>) -> u8 {
    let ts = o.tenant_status.as_deref().unwrap_or("Current");
    match (o.lease_status.as_str(), ts) {
        ("Past", _) | (_, "MovedOut") => 1,
        ("Future", _) | (_, "Future") => 2,
        _ => 3,
    }
}

/// One tenant → one record, or the reason it is skipped.
pub fn tenant_record(index: usize, tenant: &Value) -> Result<SourceRecord, SkippedRecord> {
    let tenant_id = id(tenant, "Id").ok().flatten();
    let skip = |reason: String| SkippedRecord {
        index,
        external_id: tenant_id.clone(),
        reason,
    };
    if !tenant.is_object() {
        return Err(skip(format!(
            "tenant is {}, expected an object",
            kind(tenant)
        )));
    }
    let Some(tid) = id(tenant, "Id").map_err(skip)? else {
        return Err(skip("Id: missing".to_string()));
    };
    let same = |v: &Value| -> bool {
        let candidate = if v.is_object() {
            id(v, "Id")
        } else {
            id(v, "")
        };
        candidate.ok().flatten().as_deref() == Some(tid.as_str())
    };

    let mut occupancies: Vec<Occupancy<'_>> = Vec::new();
    let mut cosigner_of: Option<String> = None;
    for lease in array(tenant, "Leases").map_err(skip)? {
        let lease_status = text(lease, "LeaseStatus")
            .map_err(|e| skip(format!("Leases[]: {e}")))?
            .unwrap_or_default();
        let on_lease = array(lease, "Tenants").map_err(|e| skip(format!("Leases[]: {e}")))?;
        let cosigners = array(lease, "Cosigners").map_err(|e| skip(format!("Leases[]: {e}")))?;
        let me = on_lease.iter().find(|t| same(t));
        match me {
            Some(me) => occupancies.push(Occupancy {
                lease,
                lease_status,
                tenant_status: text(me, "Status")
                    .map_err(|e| skip(format!("Leases[].Tenants[]: {e}")))?,
                move_in: text(me, "MoveInDate")
                    .map_err(|e| skip(format!("Leases[].Tenants[]: {e}")))?,
            }),
            None if cosigners.iter().any(same) => {
                cosigner_of = id(lease, "Id").ok().flatten();
            }
            // The listing says this tenant is on the lease but did not fill Tenants[].
            None if on_lease.is_empty() => occupancies.push(Occupancy {
                lease,
                lease_status,
                tenant_status: None,
                move_in: None,
            }),
            None => {}
        }
    }
    for o in &occupancies {
        if !matches!(o.lease_status.as_str(), "Active" | "Past" | "Future") {
            return Err(skip(format!(
                "LeaseStatus {:?} is not one of Active, Past, Future",
                o.lease_status
            )));
        }
        if let Some(ts) = &o.tenant_status
            && !matches!(ts.as_str(), "Current" | "Future" | "MovedOut")
        {
            return Err(skip(format!(
                "tenant Status {ts:?} is not one of Current, Future, MovedOut"
            )));
        }
    }
    let Some(best) = occupancies.iter().max_by(|a, b| {
        rank(a).cmp(&rank(b)).then_with(|| {
            let from = |o: &Occupancy<'_>| o.lease["LeaseFromDate"].as_str().map(str::to_string);
            from(a).cmp(&from(b))
        })
    }) else {
        return Err(skip(match cosigner_of {
            Some(lease) => format!("cosigner on lease {lease}, not an occupant"),
            None => "no lease lists this tenant as an occupant".to_string(),
        }));
    };
    let lease = best.lease;
    let lease_err = |e: String| skip(format!("Leases[]: {e}"));
    let move_out = array(lease, "MoveOutData")
        .map_err(lease_err)?
        .iter()
        .find(|m| id(m, "TenantId").ok().flatten().as_deref() == Some(tid.as_str()));
    let move_out_date = match move_out {
        Some(m) => text(m, "MoveOutDate").map_err(lease_err)?,
        None => None,
    };
    let eviction = flag(lease, "IsEvictionPending").map_err(lease_err)?;
    let status = match rank(best) {
        1 => status::PAST,
        2 => status::FUTURE,
        _ if eviction => status::EVICTING,
        _ if move_out.is_some() => status::NOTICE,
        _ => status::CURRENT,
    };

    let email = match text(tenant, "Email").map_err(skip)? {
        Some(e) if !e.trim().is_empty() => Some(e),
        _ => text(tenant, "AlternateEmail").map_err(skip)?,
    };
    let phones = array(tenant, "PhoneNumbers").map_err(skip)?;
    let mobile = phones.iter().find(|p| {
        matches!(
            p.get("Type").and_then(Value::as_str),
            Some("Cell" | "Mobile")
        )
    });
    let phone = match mobile.or(phones.first()) {
        Some(p) => text(p, "Number").map_err(|e| skip(format!("PhoneNumbers[]: {e}")))?,
        None => None,
    };
    let unit = match lease.get("UnitNumber") {
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => text(lease, "UnitNumber").map_err(lease_err)?,
    };
    RawFields {
        external_id: Some(tid.clone()),
        first_name: text(tenant, "FirstName").map_err(skip)?,
        last_name: text(tenant, "LastName").map_err(skip)?,
        email,
        phone,
        unit,
        // The documented shape names no building (see the module docs).
        building: None,
        status: Some(status.to_string()),
        lease_start: text(lease, "LeaseFromDate")
            .map_err(lease_err)?
            .map(|d| date_part(&d).to_string()),
        lease_end: text(lease, "LeaseToDate")
            .map_err(lease_err)?
            .map(|d| date_part(&d).to_string()),
        move_in: best.move_in.as_deref().map(|d| date_part(d).to_string()),
        move_out: move_out_date.map(|d| date_part(&d).to_string()),
        // Residents only: the documented API lists no visitors.
        ..RawFields::default()
    }
    .normalise(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::fixtures::buildium::{Lease, tenant};
    use serde_json::json;
    use std::time::Duration;

    fn record(t: &Value) -> Result<SourceRecord, SkippedRecord> {
        tenant_record(0, t)
    }

    #[test]
    fn every_status_maps() {
        let mut cases = Vec::new();
        let l = Lease::active(1, "101");
        cases.push((l.clone(), "current"));
        let mut notice = l.clone();
        notice.move_out = Some(("2035-07-31".into(), "2035-05-01".into()));
        cases.push((notice, "notice"));
        let mut evict = l.clone();
        evict.eviction_pending = true;
        cases.push((evict, "evicting"));
        let mut future = l.clone();
        future.status = "Future".into();
        future.tenant_status = "Future".into();
        cases.push((future, "future"));
        let mut past = l.clone();
        past.status = "Past".into();
        past.tenant_status = "MovedOut".into();
        cases.push((past, "past"));
        let mut left = l.clone();
        left.tenant_status = "MovedOut".into();
        cases.push((left, "past"));
        for (lease, want) in cases {
            let r = record(&tenant(42, "Test", "Tenant", &[lease])).expect("record");
            assert_eq!(r.status, want);
        }
    }

    #[test]
    fn fields_are_read_and_notice_sets_move_out() {
        let mut lease = Lease::active(1, "206");
        lease.move_out = Some(("2035-07-31".into(), "2035-05-01".into()));
        lease.move_in = Some("2025-08-01T00:00:00".into());
        let r = record(&tenant(42, "Test", "Tenant", &[lease])).expect("record");
        assert_eq!(r.external_id, "42");
        assert_eq!(r.email.as_deref(), Some("test.tenant.42@example.com"));
        assert_eq!(r.phone.as_deref(), Some("+15550100042"));
        assert_eq!(r.unit.as_deref(), Some("206"));
        assert_eq!(r.lease_start, Some(jiff::civil::date(2025, 8, 1)));
        assert_eq!(r.lease_end, Some(jiff::civil::date(2035, 7, 31)));
        assert_eq!(r.move_in, Some(jiff::civil::date(2025, 8, 1)));
        assert_eq!(r.move_out, Some(jiff::civil::date(2035, 7, 31)));
        assert_eq!(r.status, "notice");
    }

    #[test]
    fn the_current_lease_wins_over_an_old_one() {
        let mut old = Lease::active(1, "101");
        old.status = "Past".into();
        old.tenant_status = "MovedOut".into();
        old.from = "2023-01-01".into();
        let new = Lease::active(2, "305");
        let r = record(&tenant(42, "T", "T", &[new.clone(), old.clone()])).expect("record");
        assert_eq!(
            (r.unit.as_deref(), r.status.as_str()),
            (Some("305"), "current")
        );
        let r = record(&tenant(42, "T", "T", &[old, new])).expect("record");
        assert_eq!(r.unit.as_deref(), Some("305"));
    }

    #[test]
    fn cosigners_are_not_occupants() {
        let mut lease = Lease::active(1, "101");
        lease.as_cosigner = true;
        lease.roommates = vec![77];
        let skipped = record(&tenant(42, "Co", "Signer", &[lease])).expect_err("cosigner");
        assert_eq!(skipped.external_id.as_deref(), Some("42"));
        assert_eq!(skipped.reason, "cosigner on lease 1, not an occupant");
    }

    #[test]
    fn wrong_types_and_unknown_statuses_are_skipped_with_reasons() {
        let mut t = tenant(42, "T", "T", &[Lease::active(1, "101")]);
        t["FirstName"] = json!(5);
        assert_eq!(
            record(&t).expect_err("type").reason,
            "FirstName: expected a string, found a number"
        );
        let mut t = tenant(42, "T", "T", &[Lease::active(1, "101")]);
        t["Leases"][0]["LeaseStatus"] = json!("Draft");
        assert!(record(&t).expect_err("status").reason.contains("\"Draft\""));
        let mut t = tenant(42, "T", "T", &[Lease::active(1, "101")]);
        t["Leases"][0]["LeaseFromDate"] = json!("2025-02-30");
        assert!(
            record(&t)
                .expect_err("date")
                .reason
                .starts_with("lease_start:")
        );
        let t = json!({"FirstName": "No", "LastName": "Id"});
        let s = record(&t).expect_err("id");
        assert_eq!((s.external_id, s.reason.as_str()), (None, "Id: missing"));
        let t = json!({"Id": true});
        assert!(record(&t).expect_err("bool id").reason.starts_with("Id:"));
        assert!(record(&json!("x")).is_err());
    }

    #[test]
    fn config_defaults_and_validation() {
        let cfg: BuildiumConfig =
            toml::from_str("name = \"b\"\nclient_id = \"c\"\nsecret = { env = \"B\" }")
                .expect("parse");
        assert_eq!(cfg.base_url, DEFAULT_BASE_URL);
        assert_eq!(cfg.page_size, 1000);
        assert_eq!(cfg.lease_term_statuses, ["Active", "Future"]);
        assert_eq!(cfg.http.retries, 3);
        assert_eq!(cfg.http.retry_min, Duration::from_millis(200));
        cfg.validate().expect("valid");
        for (bad, key) in [
            (
                BuildiumConfig {
                    page_size: 1001,
                    ..cfg.clone()
                },
                "page_size",
            ),
            (
                BuildiumConfig {
                    lease_term_statuses: vec!["active".into()],
                    ..cfg.clone()
                },
                "lease_term_statuses",
            ),
            (
                BuildiumConfig {
                    base_url: "http://api.buildium.com".into(),
                    ..cfg.clone()
                },
                "base_url",
            ),
            (
                BuildiumConfig {
                    client_id: " ".into(),
                    ..cfg.clone()
                },
                "client_id",
            ),
        ] {
            let err = bad.validate().expect_err(key);
            assert!(err.starts_with(key), "{err}");
        }
        assert!(
            toml::from_str::<BuildiumConfig>(
                "name = \"b\"\nclient_id = \"c\"\nsecret = { env = \"B\" }\nbogus = 1"
            )
            .is_err()
        );
    }
}
