//! When each source is pulled, and whether a pull is full or changes-only. Pure functions of the
//! configuration and explicit instants, so every rule is tested without waiting.
//!
//! - A source without a modified-since filter (CSV, generic JSON without `since_param`, AppFolio
//!   without the v0 API) is pulled in full every `sync.interval`.
//! - A source with one is pulled for changes every `incremental_every` (default
//!   `sync.interval`), from its last successful pass minus [`OVERLAP`]. That instant is read on
//!   the PMS's own clock (the `Date` header of the pass's first answer), since the PMS stamps
//!   its records with it; the gateway's clock only stands in when no usable `Date` came.
//! - A full pull instead: the first pass after the daemon starts; when the source never
//!   succeeded; when the last success is older than `max_lookback` (the API's incremental window,
//!   e.g. Yardi's two days: the gap could hide changes); and when the `full_reconcile` cron
//!   expression (site time zone, default nightly `0 3 * * *`) fired since the last successful full
//!   pull. A failed full pull is retried at the next poll, still full.
//! - `lintel sync-now` always pulls in full.

use std::time::Duration;

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::config::{Config, SourceConfig};
use crate::sources::PullKind;

/// Incremental pulls re-read this much before the last success, so that a record changed while
/// the previous pull ran (or stamped within the `Date` header's one-second resolution, or by a
/// PMS clock a little behind when the gateway's clock stands in) is not missed.
pub const OVERLAP: Duration = Duration::from_secs(5 * 60);

/// Parses a 5-field cron expression (minute hour day-of-month month day-of-week; `@daily` and
/// friends too). The error says why.
pub fn parse_cron(expression: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .build()
        .parse(expression.trim())
        .map_err(|e| {
            format!(
                "{:?} is not a 5-field cron expression: {e}",
                expression.trim()
            )
        })
}

/// One source's schedule, resolved.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Time between polls.
    pub poll_every: Duration,
    /// Whether changes-only pulls are possible.
    pub incremental: bool,
    pub full_reconcile: Cron,
    pub tz: TimeZone,
    pub max_lookback: Duration,
}

impl Plan {
    /// The plan for `source` under `config` (validated config cannot fail here, but a bad cron
    /// expression is an error rather than a panic).
    pub fn new(source: &SourceConfig, config: &Config) -> Result<Plan, String> {
        let schedule = source.schedule();
        let incremental = source.supports_incremental();
        Ok(Plan {
            poll_every: match schedule.incremental_every {
                Some(every) if incremental => every,
                _ => config.sync.interval,
            },
            incremental,
            full_reconcile: parse_cron(&schedule.full_reconcile)?,
            tz: config.time_zone(),
            max_lookback: schedule.max_lookback,
        })
    }
}

/// What the next poll pulls, and why (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub kind: PullKind,
    pub why: String,
}

fn full(why: impl Into<String>) -> Decision {
    Decision {
        kind: PullKind::Full,
        why: why.into(),
    }
}

/// The first `full_reconcile` instant strictly after `after`, in the plan's time zone.
pub fn next_full(plan: &Plan, after: Timestamp) -> Option<Timestamp> {
    plan.full_reconcile
        .find_next_occurrence(&after.to_zoned(plan.tz.clone()), false)
        .ok()
        .map(|z| z.timestamp())
}

/// The source's last successful pass of any kind, as the store keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastSuccess {
    /// Its start on the gateway's clock.
    pub gateway: Timestamp,
    /// The PMS's clock during it (its first answer's `Date` header), when it sent a usable one.
    pub pms: Option<Timestamp>,
}

impl LastSuccess {
    pub fn of(state: &crate::store::SourceState) -> Option<LastSuccess> {
        state.last_success_at.map(|gateway| LastSuccess {
            gateway,
            pms: state.last_success_pms_clock,
        })
    }
}

/// Decides the kind of the pull due at `now` (the gateway's clock). `last_full` is the start of
/// the last successful full pass since this daemon started.
pub fn decide(
    plan: &Plan,
    now: Timestamp,
    last_success: Option<LastSuccess>,
    last_full: Option<Timestamp>,
) -> Decision {
    if !plan.incremental {
        return full("the source has no modified-since filter");
    }
    let Some(last_full) = last_full else {
        return full("first full pull since the daemon started");
    };
    let Some(last_success) = last_success else {
        return full("the source never succeeded");
    };
    // The gap is time elapsed, measured between two readings of the gateway's clock, so the
    // PMS's skew cancels out; the PMS's clock cannot be read before pulling anyway. Mixing its
    // old reading with the gateway's `now` would turn the skew into a false gap: a PMS a day
    // behind would force a full pull every poll, and one ahead would hide a real gap.
    let gap =
        Duration::try_from(now.duration_since(last_success.gateway)).unwrap_or(Duration::ZERO);
    if gap > plan.max_lookback {
        return full(format!(
            "last success was {} ago, more than max_lookback {}",
            humantime::format_duration(Duration::from_secs(gap.as_secs())),
            humantime::format_duration(plan.max_lookback)
        ));
    }
    if next_full(plan, last_full).is_some_and(|due| due <= now) {
        return full("full_reconcile is due");
    }
    let (from, clock) = match last_success.pms {
        Some(pms) => (pms, "the PMS clock (its Date header)"),
        None => (
            last_success.gateway,
            "the gateway clock (no usable Date header)",
        ),
    };
    let since = from
        .checked_sub(jiff::SignedDuration::try_from(OVERLAP).unwrap_or_default())
        .unwrap_or(from);
    Decision {
        kind: PullKind::Changes { since },
        why: format!("incremental, since on {clock}"),
    }
}

/// The longest a failing source waits between passes (unless its poll interval is longer): an
/// unreachable PMS is still retried within the hour once it comes back.
pub const PASS_BACKOFF_CAP: Duration = Duration::from_secs(3600);

/// How long to sleep after a poll at `now` that ended `failures` consecutive failed passes (0:
/// it succeeded): the poll interval, growing exponentially (jittered, capped at
/// [`PASS_BACKOFF_CAP`]) while the source keeps failing, or less when a full reconcile falls due
/// sooner.
pub fn next_wait(
    plan: &Plan,
    now: Timestamp,
    last_full: Option<Timestamp>,
    failures: u32,
    rng: &mut impl rand::Rng,
) -> Duration {
    let mut wait = if failures == 0 {
        plan.poll_every
    } else {
        // From attempt `failures` of a doubling that starts at the poll interval, so a failing
        // source never polls faster than a healthy one.
        let cap = PASS_BACKOFF_CAP.max(plan.poll_every.saturating_mul(2));
        crate::backoff::backoff(failures, plan.poll_every, cap, rng)
    };
    if plan.incremental
        && let Some(due) = next_full(plan, last_full.unwrap_or(now))
    {
        let until = Duration::try_from(due.duration_since(now)).unwrap_or(Duration::ZERO);
        wait = wait.min(until);
    }
    wait
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(incremental: bool) -> Plan {
        Plan {
            poll_every: Duration::from_secs(60),
            incremental,
            full_reconcile: parse_cron("0 3 * * *").expect("cron"),
            tz: TimeZone::get("America/New_York").expect("tz"),
            max_lookback: Duration::from_secs(24 * 3600),
        }
    }

    fn rng() -> rand::rngs::StdRng {
        rand::SeedableRng::seed_from_u64(5)
    }

    #[test]
    fn failed_passes_back_off_exponentially_to_the_cap_and_reset_on_success() {
        let p = plan(false);
        let now = ny(2026, 3, 10, 12, 0);
        let mut rng = rng();
        let poll = p.poll_every;
        for failures in 1..20u32 {
            let ceiling = poll
                .saturating_mul(2u32.saturating_pow(failures))
                .min(PASS_BACKOFF_CAP);
            for _ in 0..20 {
                let wait = next_wait(&p, now, Some(now), failures, &mut rng);
                assert!(
                    wait >= (ceiling / 2).max(poll) && wait <= ceiling,
                    "after {failures} failures: {wait:?}, ceiling {ceiling:?}"
                );
            }
        }
        let capped = next_wait(&p, now, Some(now), 30, &mut rng);
        assert!(capped >= PASS_BACKOFF_CAP / 2 && capped <= PASS_BACKOFF_CAP);
        assert_eq!(next_wait(&p, now, Some(now), 0, &mut rng), poll);
        // A poll interval beyond the cap is never shortened by failing.
        let slow = Plan {
            poll_every: Duration::from_secs(4 * 3600),
            ..plan(false)
        };
        let wait = next_wait(&slow, now, Some(now), 5, &mut rng);
        assert!(
            wait >= slow.poll_every && wait <= slow.poll_every * 2,
            "{wait:?}"
        );
    }

    /// A last success with no PMS clock reading.
    fn gateway(at: Timestamp) -> Option<LastSuccess> {
        Some(LastSuccess {
            gateway: at,
            pms: None,
        })
    }

    /// A New York wall-clock instant.
    fn ny(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> Timestamp {
        jiff::civil::date(y, mo, d)
            .at(h, mi, 0, 0)
            .in_tz("America/New_York")
            .expect("tz")
            .timestamp()
    }

    #[test]
    fn cron_expressions_are_checked() {
        parse_cron("0 3 * * *").expect("nightly");
        parse_cron("*/15 * * * 1-5").expect("weekdays");
        parse_cron("@daily").expect("nickname");
        for bad in ["0 3 * *", "0 0 3 * * *", "61 3 * * *", "soon", ""] {
            assert!(parse_cron(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_source_without_modified_since_is_always_full() {
        let now = ny(2026, 3, 10, 12, 0);
        let d = decide(&plan(false), now, gateway(now), Some(now));
        assert_eq!(d.kind, PullKind::Full);
        assert_eq!(
            next_wait(&plan(false), now, Some(now), 0, &mut rng()),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn first_pass_and_never_succeeded_are_full() {
        let now = ny(2026, 3, 10, 12, 0);
        assert_eq!(
            decide(&plan(true), now, gateway(now), None).kind,
            PullKind::Full
        );
        let d = decide(&plan(true), now, None, Some(now));
        assert_eq!(d.kind, PullKind::Full);
        assert!(d.why.contains("never succeeded"));
    }

    #[test]
    fn incremental_from_the_last_success_with_overlap() {
        let last_full = ny(2026, 3, 10, 3, 0);
        let last = ny(2026, 3, 10, 11, 59);
        let now = ny(2026, 3, 10, 12, 0);
        let d = decide(&plan(true), now, gateway(last), Some(last_full));
        assert_eq!(
            d.kind,
            PullKind::Changes {
                since: ny(2026, 3, 10, 11, 54)
            }
        );
    }

    #[test]
    fn since_is_on_the_pms_clock_when_it_sent_one() {
        let last_full = ny(2026, 3, 10, 3, 0);
        let now = ny(2026, 3, 10, 12, 0);
        let last = ny(2026, 3, 10, 11, 59);
        for pms in [
            ny(2026, 3, 10, 10, 59),
            ny(2026, 3, 10, 5, 59),
            ny(2026, 3, 10, 17, 59),
        ] {
            let d = decide(
                &plan(true),
                now,
                Some(LastSuccess {
                    gateway: last,
                    pms: Some(pms),
                }),
                Some(last_full),
            );
            assert_eq!(
                d.kind,
                PullKind::Changes {
                    since: pms - jiff::SignedDuration::from_mins(5)
                }
            );
            assert!(d.why.contains("PMS clock"), "{}", d.why);
        }
        let d = decide(&plan(true), now, gateway(last), Some(last_full));
        assert!(d.why.contains("gateway clock"), "{}", d.why);
    }

    #[test]
    fn the_lookback_gap_is_measured_on_the_gateway_clock() {
        let p = Plan {
            full_reconcile: parse_cron("0 3 1 1 *").expect("yearly"),
            ..plan(true)
        };
        let now = ny(2026, 3, 10, 12, 0);
        let last_full = ny(2026, 3, 10, 3, 0);
        // A PMS 30 h behind, last asked a minute ago: still incremental, from its clock.
        let behind = LastSuccess {
            gateway: ny(2026, 3, 10, 11, 59),
            pms: Some(ny(2026, 3, 9, 5, 59)),
        };
        let d = decide(&p, now, Some(behind), Some(last_full));
        assert_eq!(
            d.kind,
            PullKind::Changes {
                since: ny(2026, 3, 9, 5, 54)
            }
        );
        // A PMS 30 h ahead, last asked 25 h ago: the real gap is over the lookback.
        let ahead = LastSuccess {
            gateway: ny(2026, 3, 9, 11, 0),
            pms: Some(ny(2026, 3, 10, 17, 0)),
        };
        let d = decide(&p, now, Some(ahead), Some(ny(2026, 3, 9, 11, 0)));
        assert_eq!(d.kind, PullKind::Full);
        assert!(d.why.contains("max_lookback"), "{}", d.why);
    }

    #[test]
    fn a_gap_longer_than_the_lookback_falls_back_to_full() {
        let p = plan(true);
        let last = ny(2026, 3, 9, 11, 0);
        let last_full = ny(2026, 3, 9, 11, 0);
        // 23 h later: still incremental (the cron fired at 03:00 though, see below).
        let p_no_cron = Plan {
            full_reconcile: parse_cron("0 3 1 1 *").expect("yearly"),
            ..p.clone()
        };
        let d = decide(
            &p_no_cron,
            ny(2026, 3, 10, 10, 0),
            gateway(last),
            Some(last_full),
        );
        assert!(matches!(d.kind, PullKind::Changes { .. }), "{d:?}");
        // 25 h later: full.
        let d = decide(
            &p_no_cron,
            ny(2026, 3, 10, 12, 0),
            gateway(last),
            Some(last_full),
        );
        assert_eq!(d.kind, PullKind::Full);
        assert!(d.why.contains("max_lookback"), "{}", d.why);
        // Yardi-like two-day window.
        let two_days = Plan {
            max_lookback: Duration::from_secs(2 * 86400),
            ..p_no_cron
        };
        let d = decide(
            &two_days,
            ny(2026, 3, 10, 12, 0),
            gateway(last),
            Some(last_full),
        );
        assert!(matches!(d.kind, PullKind::Changes { .. }));
    }

    #[test]
    fn the_nightly_reconcile_fires_at_3am_site_time() {
        let p = plan(true);
        let last_full = ny(2026, 3, 9, 3, 0);
        assert_eq!(next_full(&p, last_full), Some(ny(2026, 3, 10, 3, 0)));
        let last = ny(2026, 3, 10, 2, 58);
        let d = decide(&p, ny(2026, 3, 10, 2, 59), gateway(last), Some(last_full));
        assert!(matches!(d.kind, PullKind::Changes { .. }));
        let d = decide(&p, ny(2026, 3, 10, 3, 0), gateway(last), Some(last_full));
        assert_eq!(d.kind, PullKind::Full);
        assert_eq!(d.why, "full_reconcile is due");
        // A failed full pull leaves last_full alone: the next poll is full again.
        let d = decide(&p, ny(2026, 3, 10, 3, 1), gateway(last), Some(last_full));
        assert_eq!(d.kind, PullKind::Full);
        // The wait before the reconcile is cut short to land on it.
        assert_eq!(
            next_wait(&p, ny(2026, 3, 10, 2, 59,), Some(last_full), 0, &mut rng()),
            Duration::from_secs(60)
        );
        assert_eq!(
            next_wait(
                &p,
                ny(2026, 3, 10, 2, 59) + jiff::SignedDuration::from_secs(30),
                Some(last_full),
                0,
                &mut rng()
            ),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn the_reconcile_follows_daylight_saving_time() {
        let p = plan(true);
        // 2026-03-08 is the spring-forward day in New York: 03:00 EDT is 07:00 UTC.
        let before = ny(2026, 3, 7, 3, 0);
        let next = next_full(&p, before).expect("next");
        assert_eq!(next, ny(2026, 3, 8, 3, 0));
        assert_eq!(next.to_string(), "2026-03-08T07:00:00Z");
        assert_eq!(
            next_full(&p, next).expect("next").to_string(),
            "2026-03-09T07:00:00Z"
        );
        let utc = Plan {
            tz: TimeZone::UTC,
            ..p
        };
        assert_eq!(
            next_full(&utc, before).expect("utc").to_string(),
            "2026-03-08T03:00:00Z"
        );
    }
}
