//! The first five minutes: while no user exists, `ctrl up` on a terminal prints
//! a one-time link, as Jupyter prints its token URL. The link's page asks for a
//! name and a password and creates the first admin with them, logged in: at no
//! moment does an account without a password exist. The link works once, for
//! 15 minutes, and only while there is still no user.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use crate::password::{digest, secret};

/// How long a link works.
pub const LINK_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The one link out: its digest (the secret itself is only printed) and its end.
struct Invite {
    digest: String,
    expires: Instant,
}

/// The link issued at start-up, if any.
#[derive(Default)]
pub struct FirstAdmin(Mutex<Option<Invite>>);

/// Why a link is refused: one answer for every cause, so it tells nothing.
#[derive(Debug, PartialEq, Eq)]
pub struct NotValid;

impl FirstAdmin {
    /// A new secret for the link, replacing any earlier one.
    pub fn issue(&self, now: Instant) -> String {
        let token = secret();
        let invite = Invite { digest: digest(&token), expires: now + LINK_LIFETIME };
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(invite);
        token
    }

    /// Uses the link up: it matches and has not expired. Taken whether or not
    /// the admin is then made ([`FirstAdmin::give_back`] when that failed).
    pub fn take(&self, token: &str, now: Instant) -> Result<Taken, NotValid> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let Some(invite) = slot.as_ref() else {
            return Err(NotValid);
        };
        let sent = digest(token);
        if !bool::from(sent.as_bytes().ct_eq(invite.digest.as_bytes())) {
            return Err(NotValid);
        }
        if now >= invite.expires {
            *slot = None;
            return Err(NotValid);
        }
        slot.take().map(Taken).ok_or(NotValid)
    }

    /// Puts a taken link back: the admin could not be made for a reason that
    /// was not the person's (the database was away).
    pub fn give_back(&self, taken: Taken) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(taken.0);
        }
    }
}

/// A link in use: given back or dropped.
pub struct Taken(Invite);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_works_once_before_it_expires_and_only_with_its_secret() {
        let links = FirstAdmin::default();
        let t0 = Instant::now();
        assert!(links.take("anything", t0).is_err(), "none issued");
        let token = links.issue(t0);
        assert!(links.take(&format!("{token}x"), t0).is_err());
        assert!(links.take("", t0).is_err());
        let taken = links.take(&token, t0 + Duration::from_secs(60)).unwrap();
        assert!(links.take(&token, t0).is_err(), "single use");
        links.give_back(taken);
        assert!(links.take(&token, t0).is_ok(), "given back after a failure not the person's");
        let token = links.issue(t0);
        assert!(links.take(&token, t0 + LINK_LIFETIME).is_err(), "expired");
        assert!(links.take(&token, t0).is_err(), "an expired link is gone");
    }
}
