//! Invites, as kept by the inviting device (device-local, never synced).
//!
//! An invite is a random 32-byte secret handed to a new member inside a ticket. The inviting
//! device keeps only the SHA-256 of the secret, the invite's expiry and whether it was used or
//! revoked. Redeeming is pure: it takes the time as an argument.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::ids::Timestamp;

/// The inviting device's record of one invite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// Short ID for `invite list` / `invite revoke`: the first 8 hex characters of the hash.
    pub id: String,
    /// Hex SHA-256 of the secret.
    pub secret_hash: String,
    /// The role the new member gets.
    pub role: String,
    /// Set for a link ticket (`alliance device link`): the member ID of the person the new
    /// device will belong to; no new person is added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// What the person who made it calls it ("for Zoe", "Zoe's phone"): how it is listed, and
    /// for a link, the name this device gives the device that used it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// An invite for a reader (`alliance invite --reader`): the new person syncs and sees
    /// everything and writes nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reader: bool,
    pub created_at: i64,
    pub expires_at: i64,
    /// The device key that used it, once used.
    pub used_by: Option<String>,
    pub used_at: Option<i64>,
    pub revoked: bool,
}

impl Invite {
    pub fn new(secret: &[u8; 32], role: &str, now: Timestamp, valid_secs: i64) -> Self {
        let hash = secret_hash(secret);
        Invite {
            id: hash[..8].to_string(),
            secret_hash: hash,
            role: role.to_string(),
            member: None,
            label: None,
            reader: false,
            created_at: now.0,
            expires_at: now.0.saturating_add(valid_secs),
            used_by: None,
            used_at: None,
            revoked: false,
        }
    }

    /// A link ticket's record: the device that uses it becomes another device of `member`.
    pub fn link(secret: &[u8; 32], member: &str, now: Timestamp, valid_secs: i64) -> Self {
        Invite {
            member: Some(member.to_string()),
            ..Invite::new(secret, "", now, valid_secs)
        }
    }

    pub fn status(&self, now: Timestamp) -> &'static str {
        if self.revoked {
            "revoked"
        } else if self.used_by.is_some() {
            "used"
        } else if now.0 >= self.expires_at {
            "expired"
        } else {
            "open"
        }
    }
}

pub fn secret_hash(secret: &[u8; 32]) -> String {
    hex::encode(Sha256::digest(secret))
}

/// Why an invite could not be used. The messages are sent to the joining device as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    #[error("this invite is not known to the inviting device (was it made for another alliance?)")]
    Unknown,
    #[error("this invite was already used; ask for a new one (`alliance invite`)")]
    Used,
    #[error("this invite has expired; ask for a new one (`alliance invite`)")]
    Expired,
    #[error("this invite was revoked; ask for a new one (`alliance invite`)")]
    Revoked,
}

/// The invites of one alliance on the inviting device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invites {
    pub invites: Vec<Invite>,
}

impl Invites {
    /// Checks that `secret` opens a usable invite, without using it up.
    pub fn check(&self, secret: &[u8; 32], now: Timestamp) -> Result<&Invite, InviteError> {
        let hash = secret_hash(secret);
        let invite = self
            .invites
            .iter()
            .find(|i| i.secret_hash == hash)
            .ok_or(InviteError::Unknown)?;
        match invite.status(now) {
            "revoked" => Err(InviteError::Revoked),
            "used" => Err(InviteError::Used),
            "expired" => Err(InviteError::Expired),
            _ => Ok(invite),
        }
    }

    /// Uses up the invite opened by `secret` for `device`. Returns the invite as it was.
    pub fn redeem(
        &mut self,
        secret: &[u8; 32],
        device: &str,
        now: Timestamp,
    ) -> Result<Invite, InviteError> {
        self.check(secret, now)?;
        let hash = secret_hash(secret);
        let invite = self
            .invites
            .iter_mut()
            .find(|i| i.secret_hash == hash)
            .ok_or(InviteError::Unknown)?;
        let before = invite.clone();
        invite.used_by = Some(device.to_string());
        invite.used_at = Some(now.0);
        Ok(before)
    }

    /// Revokes an open invite by ID (or ID prefix). Returns whether one was found.
    pub fn revoke(&mut self, id: &str) -> bool {
        let mut found = false;
        for i in self.invites.iter_mut().filter(|i| i.id.starts_with(id)) {
            i.revoked = true;
            found = true;
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invite_is_single_use_expires_and_can_be_revoked() {
        let mut invites = Invites::default();
        let (s1, s2, s3) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        for s in [&s1, &s2, &s3] {
            invites
                .invites
                .push(Invite::new(s, "teen", Timestamp(100), 60));
        }
        assert!(!invites.invites[0].secret_hash.contains(&hex::encode(s1)));
        assert_eq!(
            invites.redeem(&s1, "dev", Timestamp(120)).unwrap().role,
            "teen"
        );
        assert_eq!(
            invites.redeem(&s1, "dev2", Timestamp(121)),
            Err(InviteError::Used)
        );
        assert_eq!(
            invites.check(&s2, Timestamp(160)).unwrap_err(),
            InviteError::Expired
        );
        let id = invites.invites[2].id.clone();
        assert!(invites.revoke(&id));
        assert_eq!(
            invites.check(&s3, Timestamp(101)).unwrap_err(),
            InviteError::Revoked
        );
        assert_eq!(
            invites.check(&[9; 32], Timestamp(101)).unwrap_err(),
            InviteError::Unknown
        );
    }
}
