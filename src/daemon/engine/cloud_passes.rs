//! Visitor passes listed by a source (origin `cloud`): each successful pull creates or updates
//! them, keyed by (source, external id); a full pull that no longer lists one cancels it. A pass
//! an administrator cancelled here stays cancelled. Doors on controllers that take no visitor
//! passes are left out automatically (kept local), with the reason in the activity log.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;

use super::{Engine, EngineError};
use crate::sources::{Pull, VisitorRecord};
use crate::store::{Activity, Outcome, PassOrigin, Person, SourceLink, VisitorPass};

/// What one pull means for the source's passes.
#[derive(Debug, Default)]
pub struct CloudPlan {
    pub passes: Vec<VisitorPass>,
    pub activity: Vec<Activity>,
}

impl Engine {
    /// Plans the passes `pull` lists for `source`. `people` are everyone after this pass's own
    /// changes, so a host added by the same pull is found; `ids` numbers new passes.
    pub(super) fn plan_cloud_passes(
        &self,
        source: &str,
        pull: &Pull,
        people: &[Person],
        now: Timestamp,
        ids: &mut dyn FnMut() -> u64,
    ) -> Result<CloudPlan, EngineError> {
        let mut plan = CloudPlan::default();
        let existing: HashMap<String, VisitorPass> = self
            .store
            .passes()?
            .into_iter()
            .filter_map(|p| match &p.link {
                Some(l) if l.source == source => Some((l.external_id.clone(), p)),
                _ => None,
            })
            .collect();
        let hosts: HashMap<&str, &Person> = people
            .iter()
            .filter(|p| p.is_from(source))
            .filter_map(|p| p.external_id().map(|e| (e, p)))
            .collect();
        // Skipped rows that name an id are still listed: their passes keep their state.
        let mut listed: HashSet<&str> = pull
            .skipped
            .iter()
            .filter_map(|s| s.external_id.as_deref())
            .collect();
        let mut log = |outcome: Outcome, subject: &str, ext: &str, reason: String| {
            plan.activity
                .push(Activity::new(now, outcome, subject, reason).record(source, ext));
        };
        let mut count: HashMap<&str, usize> = HashMap::new();
        for v in &pull.visitors {
            *count.entry(v.external_id.as_str()).or_default() += 1;
        }
        let mut passes = Vec::new();
        for v in &pull.visitors {
            let ext = v.external_id.as_str();
            let subject = existing.get(ext).map_or(ext, |p| p.id.as_str());
            listed.insert(ext);
            if count.get(ext).is_some_and(|n| *n > 1) {
                // Which copy is right cannot be known: flagged once below, none applied.
                continue;
            }
            let previous = existing.get(ext);
            if let Some(p) = previous.filter(|p| p.cancelled_at.is_some() && !p.removed_at_source) {
                log(
                    Outcome::Skipped,
                    &p.id,
                    ext,
                    "cancelled here by an administrator; still listed by the source but not revived"
                        .into(),
                );
                continue;
            }
            match self.cloud_pass(source, v, previous, &hosts, now, ids) {
                Ok((pass, reason)) => {
                    if let Some(reason) = reason {
                        let outcome = if previous.is_some() {
                            Outcome::Updated
                        } else {
                            Outcome::Added
                        };
                        log(outcome, &pass.id, ext, reason);
                        passes.push(pass);
                    }
                }
                Err(why) => log(
                    Outcome::Skipped,
                    subject,
                    ext,
                    format!("visitor pass: {why}; kept as it was"),
                ),
            }
        }
        let mut repeated: Vec<(&str, usize)> = count.into_iter().filter(|(_, n)| *n > 1).collect();
        repeated.sort_unstable();
        for (ext, n) in repeated {
            {
                log(
                    Outcome::Flagged,
                    ext,
                    ext,
                    format!(
                        "visitor pass listed {n} times by `{source}`; none applied, kept as it was"
                    ),
                );
            }
        }
        let anonymous_skips = pull.skipped.iter().any(|s| s.external_id.is_none());
        if !pull.changes_only && !anonymous_skips {
            let mut gone: Vec<&VisitorPass> = existing
                .iter()
                .filter(|(ext, p)| p.cancelled_at.is_none() && !listed.contains(ext.as_str()))
                .map(|(_, p)| p)
                .collect();
            gone.sort_by(|a, b| a.id.cmp(&b.id));
            for p in gone {
                let mut p = p.clone();
                p.cancelled_at = Some(now);
                p.removed_at_source = true;
                log(
                    Outcome::Disabled,
                    &p.id,
                    p.link.as_ref().map_or("", |l| l.external_id.as_str()),
                    format!(
                        "visitor pass for {} no longer listed by `{source}`; cancelled, its card revoked",
                        p.name
                    ),
                );
                passes.push(p);
            }
        }
        plan.passes = passes;
        Ok(plan)
    }

    /// The pass `v` describes (new, or `previous` brought up to date) and why it changed;
    /// `None` when nothing did. The error is why the record cannot be applied.
    fn cloud_pass(
        &self,
        source: &str,
        v: &VisitorRecord,
        previous: Option<&VisitorPass>,
        hosts: &HashMap<&str, &Person>,
        now: Timestamp,
        ids: &mut dyn FnMut() -> u64,
    ) -> Result<(VisitorPass, Option<String>), String> {
        let tz = self.config.time_zone();
        let from = v
            .from
            .resolve(&tz)
            .map_err(|e| format!("valid_from: {e}"))?;
        let to = v.to.resolve(&tz).map_err(|e| format!("valid_to: {e}"))?;
        if to <= from {
            return Err(format!("valid_to ({to}) is not after valid_from ({from})"));
        }
        let host = match &v.host {
            None => None,
            Some(ext) => Some(
                hosts
                    .get(ext.as_str())
                    .map(|p| p.id.clone())
                    .ok_or_else(|| format!("host `{ext}` is not a person from `{source}`"))?,
            ),
        };
        if let Some(unknown) = v.doors.iter().find(|d| !self.policy.has_door(d)) {
            return Err(format!("no door is named `{unknown}`"));
        }
        if v.doors.is_empty() && host.is_none() {
            return Err("names neither doors nor a host".into());
        }
        let fresh = previous.is_none();
        let mut pass = match previous {
            Some(p) => p.clone(),
            None => VisitorPass {
                id: format!("v{:06}", ids()),
                name: String::new(),
                host: None,
                unit: None,
                from,
                to,
                doors: Vec::new(),
                origin: PassOrigin::Cloud,
                link: Some(SourceLink {
                    source: source.to_string(),
                    external_id: v.external_id.clone(),
                }),
                kept_local: Vec::new(),
                cancelled_at: None,
                removed_at_source: false,
                created_at: now,
            },
        };
        let unit = v
            .unit
            .as_deref()
            .map(|u| self.config.policy.units.canonical(u));
        let mut changed = Vec::new();
        macro_rules! take {
            ($field:ident, $value:expr) => {
                if pass.$field != $value {
                    pass.$field = $value;
                    changed.push(stringify!($field));
                }
            };
        }
        take!(name, v.name.clone());
        take!(host, host);
        take!(unit, unit);
        take!(from, from);
        take!(to, to);
        take!(doors, v.doors.clone());
        if pass.cancelled_at.is_some() {
            pass.cancelled_at = None;
            pass.removed_at_source = false;
            changed.push("listed again");
        }
        let host_person = pass
            .host
            .as_deref()
            .and_then(|id| hosts.values().find(|p| p.id == id).copied());
        let kept = match self.keep_local(&mut pass, host_person, true, now) {
            Ok(note) => note,
            Err(EngineError::Refused(why)) => return Err(why),
            Err(e) => return Err(e.to_string()),
        };
        let mut reason = if fresh {
            Some(format!(
                "visitor pass for {} from `{source}`, from {from} until {to}",
                pass.name
            ))
        } else if changed.is_empty() {
            None
        } else {
            Some(format!("`{source}` changed {}", changed.join(", ")))
        };
        if let Some(note) = kept {
            reason = Some(match reason {
                Some(r) => format!("{r}; {note}"),
                None => note,
            });
        }
        Ok((pass, reason))
    }
}
