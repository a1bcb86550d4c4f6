//! PIN policy, checks and generation. Nothing here ever puts a PIN's digits into an error or a
//! log line.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::CredentialError;

/// Longest PIN lintel accepts under any policy.
pub const PIN_MAX_DIGITS: usize = 12;

/// How many candidates [`generate_pin`] draws before it gives up.
pub const GENERATE_PIN_TRIES: u32 = 1000;

/// What a PIN must look like. Uniqueness across people is the caller's job (see
/// [`generate_pin`]'s `taken`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PinPolicy {
    /// Fewest digits (default 4).
    pub min_len: usize,
    /// Most digits (default 4 — what every controller profile holds — at most
    /// [`PIN_MAX_DIGITS`]).
    pub max_len: usize,
    /// Refuse trivially guessable PINs: one digit repeated (`1111`), an ascending run (`1234`,
    /// `0123`) or a descending run (`4321`). Default on.
    pub reject_weak: bool,
}

impl Default for PinPolicy {
    fn default() -> Self {
        Self {
            min_len: 4,
            max_len: 4,
            reject_weak: true,
        }
    }
}

impl PinPolicy {
    /// The policy itself is sane: `1 <= min_len <= max_len <= PIN_MAX_DIGITS`.
    pub fn validate(&self) -> Result<(), CredentialError> {
        if self.min_len == 0 {
            return Err(CredentialError::PinPolicy(
                "min_len must be at least 1".to_string(),
            ));
        }
        if self.max_len > PIN_MAX_DIGITS {
            return Err(CredentialError::PinPolicy(format!(
                "max_len {} is above the supported {PIN_MAX_DIGITS} digits",
                self.max_len
            )));
        }
        if self.min_len > self.max_len {
            return Err(CredentialError::PinPolicy(format!(
                "min_len {} is greater than max_len {}",
                self.min_len, self.max_len
            )));
        }
        Ok(())
    }

    /// Whether `pin` satisfies this policy. The error never contains the PIN.
    pub fn check(&self, pin: &str) -> Result<(), CredentialError> {
        self.validate()?;
        check_digits(pin)?;
        let len = pin.len();
        if len < self.min_len || len > self.max_len {
            return Err(CredentialError::PinLength {
                len,
                min: self.min_len,
                max: self.max_len,
            });
        }
        if self.reject_weak
            && let Some(why) = weakness(pin)
        {
            return Err(CredentialError::PinWeak(why));
        }
        Ok(())
    }
}

/// Digits only, 1 to [`PIN_MAX_DIGITS`] of them: what any stored PIN must be, whatever policy
/// admitted it.
pub(super) fn check_digits(pin: &str) -> Result<(), CredentialError> {
    if pin.is_empty() {
        return Err(CredentialError::PinEmpty);
    }
    if !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CredentialError::PinNotDigits);
    }
    if pin.len() > PIN_MAX_DIGITS {
        return Err(CredentialError::PinTooLong {
            len: pin.len(),
            max: PIN_MAX_DIGITS,
        });
    }
    Ok(())
}

/// Why a PIN of ASCII digits is trivially guessable, if it is.
pub(super) fn weakness(pin: &str) -> Option<&'static str> {
    let digits = pin.as_bytes();
    if digits.len() < 2 {
        return None;
    }
    let steps = || digits.windows(2).map(|w| i16::from(w[1]) - i16::from(w[0]));
    if steps().all(|d| d == 0) {
        Some("all one digit")
    } else if steps().all(|d| d == 1) {
        Some("an ascending run")
    } else if steps().all(|d| d == -1) {
        Some("a descending run")
    } else {
        None
    }
}

/// A fresh random PIN of `policy.min_len` digits that `taken` says is free.
///
/// Generated PINs are stricter than the policy requires, never looser: they are never weak (as
/// [`PinPolicy::reject_weak`] defines it, even when the policy allows weak PINs) and never start
/// with `0`, because controllers that keep a PIN as a number (the Modbus profile's u16 register)
/// would drop the leading zero. They have the policy's shortest length so they fit such
/// registers (4 digits by default).
///
/// Draws at most [`GENERATE_PIN_TRIES`] candidates, calling `taken` once per candidate that
/// passes the checks, then gives up with [`CredentialError::PinSpaceExhausted`].
pub fn generate_pin<R: Rng + ?Sized>(
    policy: &PinPolicy,
    taken: &dyn Fn(&str) -> bool,
    rng: &mut R,
) -> Result<String, CredentialError> {
    policy.validate()?;
    let len = policy.min_len;
    let mut pin = String::with_capacity(len);
    for _ in 0..GENERATE_PIN_TRIES {
        pin.clear();
        pin.push(char::from(b'0' + rng.random_range(1..=9u8)));
        for _ in 1..len {
            pin.push(char::from(b'0' + rng.random_range(0..=9u8)));
        }
        if weakness(&pin).is_some() || policy.check(&pin).is_err() {
            continue;
        }
        if !taken(&pin) {
            return Ok(pin);
        }
    }
    Err(CredentialError::PinSpaceExhausted {
        tries: GENERATE_PIN_TRIES,
        len,
    })
}
