//! `[policy]`: which source records become people with access, how records are matched to
//! people, and how much one pass may take away before it waits for a person.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Lease statuses (compared lower-case) that carry access.
    pub lease_statuses: Vec<String>,
    /// External ids, emails or (canonical) units that sync never takes in.
    pub exclude: Vec<String>,
    /// Which contact details a record must have to be taken in.
    pub require_identifier: RequireIdentifier,
    /// Whether a record without a unit is skipped.
    pub require_unit: bool,
    /// Whether a record without a building (facility) is skipped: on a multi-building site the
    /// building picks the groups, so a record without one cannot be given the right doors.
    pub require_building: bool,
    /// How a record finds the person it belongs to when its external id is not known yet.
    pub match_key: MatchKey,
    pub mass_disable: MassDisable,
    pub units: UnitRules,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            lease_statuses: ["pending", "current", "notice"].map(String::from).to_vec(),
            exclude: Vec::new(),
            require_identifier: RequireIdentifier::EmailOrPhone,
            require_unit: true,
            require_building: false,
            match_key: MatchKey::ExternalId,
            mass_disable: MassDisable::default(),
            units: UnitRules::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequireIdentifier {
    Email,
    Phone,
    EmailOrPhone,
    Both,
}

impl RequireIdentifier {
    /// The reason a record fails the policy, if it does.
    pub fn missing(self, email: bool, phone: bool) -> Option<&'static str> {
        match self {
            RequireIdentifier::Email if !email => {
                Some("no email (policy.require_identifier = \"email\")")
            }
            RequireIdentifier::Phone if !phone => {
                Some("no phone (policy.require_identifier = \"phone\")")
            }
            RequireIdentifier::EmailOrPhone if !email && !phone => {
                Some("neither email nor phone (policy.require_identifier = \"email_or_phone\")")
            }
            RequireIdentifier::Both if !(email && phone) => {
                Some("email and phone are both required (policy.require_identifier = \"both\")")
            }
            _ => None,
        }
    }
}

/// BuildingLink-style choice of identity key for a source's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKey {
    /// The source's immutable id (recommended).
    ExternalId,
    /// The email: a source that re-keys its records still finds the same person.
    Email,
    /// Unit plus first and last name.
    UnitAndName,
}

/// Both limits must be exceeded for a pass to be held (Entra counts, Okta percentages).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MassDisable {
    pub max_count: usize,
    pub max_percent: f64,
}

impl Default for MassDisable {
    fn default() -> Self {
        MassDisable {
            max_count: 10,
            max_percent: 5.0,
        }
    }
}

impl MassDisable {
    /// Whether taking access from `losing` of `active` people trips the guard.
    pub fn trips(&self, losing: usize, active: usize) -> bool {
        let percent = if active == 0 {
            100.0
        } else {
            losing as f64 * 100.0 / active as f64
        };
        losing > self.max_count && percent > self.max_percent
    }
}

/// How unit numbers become one canonical form: `12-03`, `#1203`, `Apt 1203` → `1203`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UnitRules {
    /// Leading words or marks removed (case-insensitive), e.g. `apt`, `unit`, `#`.
    pub strip_prefixes: Vec<String>,
    /// Characters removed anywhere.
    pub remove: String,
    pub uppercase: bool,
}

impl Default for UnitRules {
    fn default() -> Self {
        UnitRules {
            strip_prefixes: ["apartment", "apt", "unit", "suite", "ste", "no", "#"]
                .map(String::from)
                .to_vec(),
            remove: "-. #/".to_string(),
            uppercase: true,
        }
    }
}

impl UnitRules {
    pub fn canonical(&self, unit: &str) -> String {
        let mut rest = unit.trim();
        while let Some((prefix, after)) = self
            .strip_prefixes
            .iter()
            .filter(|p| !p.is_empty())
            .find_map(|p| Some((p, strip_prefix_ignoring_case(rest, p)?)))
        {
            // A word prefix must end at a separator ("Apt 12", "Apt.12"), not inside a word.
            let word = prefix.chars().all(char::is_alphanumeric);
            if word && after.chars().next().is_some_and(char::is_alphabetic) {
                break;
            }
            rest = after.trim_start_matches(|c: char| c.is_whitespace() || c == '.' || c == ':');
        }
        let mut out: String = rest.chars().filter(|c| !self.remove.contains(*c)).collect();
        if self.uppercase {
            out = out.to_uppercase();
        }
        out
    }
}

/// `text` after `prefix`, letters compared one by one in lower case; `None` when it does not
/// start with it. Char by char, because a lower-cased letter can take more or fewer bytes than
/// the letter ("K", the Kelvin sign, is three bytes; "k" one): the rest is cut at `text`'s own
/// boundaries.
fn strip_prefix_ignoring_case<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let mut chars = text.chars();
    for p in prefix.chars() {
        if !chars.next()?.to_lowercase().eq(p.to_lowercase()) {
            return None;
        }
    }
    Some(chars.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_formats_collapse_to_one_canonical_form() {
        let rules = UnitRules::default();
        for raw in [
            "12-03",
            "#1203",
            "Apt 1203",
            "1203 ",
            "APT. 1203",
            "Unit #12-03",
            "apt1203",
        ] {
            assert_eq!(rules.canonical(raw), "1203", "{raw:?}");
        }
        assert_eq!(rules.canonical("Suite 4b"), "4B");
        assert_eq!(
            rules.canonical("Nordwing 3"),
            "NORDWING3",
            "a word starting like a prefix stays"
        );
    }

    #[test]
    fn a_prefix_is_matched_letter_by_letter_whatever_the_bytes() {
        let rules = UnitRules {
            strip_prefixes: vec!["k".into(), "bâtiment".into()],
            ..UnitRules::default()
        };
        // The Kelvin sign lower-cases to a one-byte "k": the rest is cut after its three bytes.
        assert_eq!(rules.canonical("\u{212A} 12"), "12");
        assert_eq!(rules.canonical("BÂTIMENT 3"), "3");
        assert_eq!(
            rules.canonical("kö 3"),
            "KÖ3",
            "a word starting like a prefix stays"
        );
    }

    #[test]
    fn mass_disable_needs_both_limits() {
        let guard = MassDisable::default();
        assert!(!guard.trips(10, 100), "10 is not more than 10");
        assert!(guard.trips(11, 100));
        assert!(!guard.trips(11, 1000), "1.1 % is under 5 %");
        assert!(!guard.trips(3, 4), "75 % but only 3 people");
    }

    #[test]
    fn identifier_policy_names_what_is_missing() {
        assert_eq!(RequireIdentifier::EmailOrPhone.missing(false, true), None);
        assert!(
            RequireIdentifier::EmailOrPhone
                .missing(false, false)
                .is_some()
        );
        assert!(
            RequireIdentifier::Both
                .missing(true, false)
                .expect("missing")
                .contains("both")
        );
        assert!(RequireIdentifier::Email.missing(false, true).is_some());
        assert!(RequireIdentifier::Phone.missing(true, false).is_some());
    }
}
