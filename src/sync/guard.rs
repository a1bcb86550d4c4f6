//! The mass-change guard: a pass that would take access from more people than the configured
//! count AND percentage is held before it revokes anyone, with one alert, until an
//! administrator approves or rejects exactly that set.

use std::collections::{HashMap, HashSet};

use super::Pass;
use crate::store::{AlertKind, GuardState, Outcome, Person, Resolution};

fn has_access(pass: &Pass<'_>, p: &Person) -> bool {
    p.at_source && p.extra.excluded.is_none() && pass.carries_access(&p.status)
}

pub fn apply(pass: &mut Pass<'_>) {
    let source = pass.input.source;
    let before: HashMap<&str, &Person> = pass
        .input
        .people
        .iter()
        .map(|p| (p.id.as_str(), p))
        .collect();
    let mut losing: Vec<String> = pass
        .changed
        .values()
        .filter(|after| {
            before
                .get(after.id.as_str())
                .is_some_and(|b| has_access(pass, b) && !has_access(pass, after))
        })
        .map(|p| p.id.clone())
        .collect();
    losing.sort();
    let active = pass
        .input
        .people
        .iter()
        .filter(|p| p.is_from(source) && !p.decoupled && has_access(pass, p))
        .count();
    let state = pass.input.guard.clone();
    let limits = pass.input.policy.mass_disable;
    let approved: HashSet<&String> = state.approved.iter().collect();

    if !limits.trips(losing.len(), active) || losing.iter().all(|id| approved.contains(id)) {
        if !state.approved.is_empty() && !losing.is_empty() {
            pass.log(
                Outcome::Processed,
                source,
                "",
                format!("applying {} approved revocation(s)", losing.len()),
            );
        }
        if state != GuardState::default() {
            if let Some(alert) = state.alert {
                resolve(pass, alert, "cleared");
            }
            pass.plan.guard = Some(GuardState::default());
        }
        return;
    }

    // Hold: every losing person keeps exactly what they had; their other changes wait too.
    let held: HashSet<&str> = losing.iter().map(String::as_str).collect();
    pass.changed.retain(|id, _| !held.contains(id.as_str()));
    pass.plan.activity.retain(|a| {
        !(held.contains(a.subject.as_str())
            && matches!(a.outcome, Outcome::Disabled | Outcome::Updated))
    });
    pass.plan.disabled = pass
        .plan
        .activity
        .iter()
        .filter(|a| a.outcome == Outcome::Disabled)
        .count();
    pass.plan.updated = pass
        .plan
        .activity
        .iter()
        .filter(|a| a.outcome == Outcome::Updated)
        .count();

    let summary = format!(
        "`{source}` would take access from {} of {active} active people (limits: more than {} and more than {} %); held until `lintel sync approve {source}` or `lintel sync reject {source}`",
        losing.len(),
        limits.max_count,
        limits.max_percent
    );
    let same_as_open = state.held == losing && state.alert.is_some_and(|id| is_open(pass, id));
    let alert = if same_as_open {
        state.alert
    } else if state.rejected == losing {
        None
    } else {
        if let Some(old) = state.alert {
            resolve(pass, old, "superseded");
        }
        Some(pass.alert(
            AlertKind::MassDisable {
                people: losing.clone(),
            },
            "",
            None,
            summary.clone(),
        ))
    };
    for id in &losing {
        let ext = before
            .get(id.as_str())
            .and_then(|p| p.external_id())
            .unwrap_or_default()
            .to_string();
        pass.log(
            Outcome::Flagged,
            id,
            &ext,
            format!("held by the mass-change guard: {summary}"),
        );
    }
    pass.plan.held = losing.clone();
    pass.plan.guard = Some(GuardState {
        held: losing,
        alert,
        approved: state.approved,
        rejected: state.rejected,
    });
}

fn is_open(pass: &Pass<'_>, id: u64) -> bool {
    pass.input
        .alerts
        .iter()
        .any(|a| a.id == id && a.resolved.is_none())
}

fn resolve(pass: &mut Pass<'_>, id: u64, how: &str) {
    if let Some(alert) = pass
        .input
        .alerts
        .iter()
        .find(|a| a.id == id && a.resolved.is_none())
    {
        let mut alert = alert.clone();
        alert.resolved = Some(Resolution {
            at: pass.input.now,
            how: how.to_string(),
        });
        pass.plan.alerts.push(alert);
    }
}
