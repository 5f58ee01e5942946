//! Tickets, in the iroh-tickets format: a kind, then base32 of a postcard-encoded ticket
//! followed by a 4-byte checksum (the first bytes of its SHA-256).
//!
//! - An invite ticket ([`InviteTicket`], `alliance...`) holds the alliance ID, the inviting
//!   device's address and the invite secret.
//! - A keeper ticket ([`KeeperTicket`], `keeper...`) holds a keeper's address, its name and
//!   the secret that lets an admin hand it an alliance (`alliance keeper add`).
//!
//! The checksum makes a ticket with a mistyped or missing character fail as mistyped, instead
//! of decoding into another address or secret and failing later with a misleading network
//! error.

use std::fmt;
use std::str::FromStr;

use iroh::EndpointAddr;
use iroh_tickets::{ParseError, Ticket};
use serde::{Deserialize, Serialize};

use crate::constants::{KEEPER_TICKET_KIND, TICKET_KIND};

/// Version byte inside the ticket, for future formats. Version 1 had no checksum.
const TICKET_VERSION: u8 = 2;

/// Bytes of the checksum at the end of a ticket.
const CHECKSUM_LEN: usize = 4;

fn checksum(bytes: &[u8]) -> [u8; CHECKSUM_LEN] {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(bytes);
    [hash[0], hash[1], hash[2], hash[3]]
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteTicket {
    pub alliance: [u8; 32],
    /// The inviting device: its key and the addresses it serves on.
    pub inviter: EndpointAddr,
    pub secret: [u8; 32],
}

#[derive(Serialize, Deserialize)]
struct Wire<T> {
    version: u8,
    ticket: T,
}

/// A ticket's bytes: version, the ticket, then the checksum.
fn encode_checked<T: Serialize>(ticket: &T) -> Vec<u8> {
    let mut bytes = postcard::to_stdvec(&Wire {
        version: TICKET_VERSION,
        ticket,
    })
    .expect("tickets serialise");
    let sum = checksum(&bytes);
    bytes.extend_from_slice(&sum);
    bytes
}

/// A ticket from its bytes, once its checksum and version hold.
fn decode_checked<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ParseError> {
    let Some(split) = bytes.len().checked_sub(CHECKSUM_LEN) else {
        return Err(ParseError::verification_failed("too short"));
    };
    let (body, sum) = bytes.split_at(split);
    if checksum(body) != sum {
        return Err(ParseError::verification_failed("checksum"));
    }
    let wire: Wire<T> = postcard::from_bytes(body)?;
    if wire.version != TICKET_VERSION {
        return Err(ParseError::verification_failed("unknown ticket version"));
    }
    Ok(wire.ticket)
}

impl Ticket for InviteTicket {
    const KIND: &'static str = TICKET_KIND;

    fn encode_bytes(&self) -> Vec<u8> {
        encode_checked(self)
    }

    fn decode_bytes(bytes: &[u8]) -> Result<Self, ParseError> {
        decode_checked(bytes)
    }
}

/// What an admin needs to add a keeper: where it is, what it is called, and the secret that
/// lets this alliance be handed to it (a keeper holds only alliances handed over with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeeperTicket {
    /// The keeper: its key and the addresses it listens on.
    pub keeper: EndpointAddr,
    /// What the keeper calls itself ("the Okafor NAS"); the admin may name it otherwise.
    pub name: String,
    pub secret: [u8; 32],
}

impl Ticket for KeeperTicket {
    const KIND: &'static str = KEEPER_TICKET_KIND;

    fn encode_bytes(&self) -> Vec<u8> {
        encode_checked(self)
    }

    fn decode_bytes(bytes: &[u8]) -> Result<Self, ParseError> {
        decode_checked(bytes)
    }
}

impl fmt::Display for KeeperTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode_string())
    }
}

/// A string that is not a usable keeper ticket.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadKeeperTicket {
    #[error(
        "this is an invite ticket, not a keeper ticket; a person joins with it (`alliance join`), a keeper is added with the line `alliance keeper ticket` prints on the keeper"
    )]
    AnInvite,
    #[error(
        "this is not a keeper ticket (those start with \"{KEEPER_TICKET_KIND}\"); copy the whole line that `alliance keeper ticket` prints on the keeper"
    )]
    NotATicket,
    #[error(
        "this keeper ticket is mistyped or incomplete (its checksum does not match); copy the whole line that `alliance keeper ticket` printed again"
    )]
    Mistyped,
}

impl FromStr for KeeperTicket {
    type Err = BadKeeperTicket;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.starts_with(TICKET_KIND) {
            return Err(BadKeeperTicket::AnInvite);
        }
        if !s.starts_with(KEEPER_TICKET_KIND) {
            return Err(BadKeeperTicket::NotATicket);
        }
        Self::decode_string(s).map_err(|_| BadKeeperTicket::Mistyped)
    }
}

impl fmt::Display for InviteTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode_string())
    }
}

/// A string that is not a usable alliance invite ticket.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadTicket {
    #[error(
        "this is not an alliance invite ticket (those start with \"{TICKET_KIND}\"); copy the whole line that `alliance invite` printed"
    )]
    NotATicket,
    #[error(
        "this ticket is mistyped or incomplete (its checksum does not match); copy the whole line that `alliance invite` printed again"
    )]
    Mistyped,
    #[error(
        "this is a keeper ticket, not an invite; an admin adds the keeper with `alliance keeper add TICKET`"
    )]
    AKeeper,
}

impl FromStr for InviteTicket {
    type Err = BadTicket;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.starts_with(KEEPER_TICKET_KIND) {
            return Err(BadTicket::AKeeper);
        }
        if !s.starts_with(TICKET_KIND) {
            return Err(BadTicket::NotATicket);
        }
        // Whatever else is wrong (a character that is not base32, a changed or missing one, a
        // checksum that does not match) comes from copying it: the fix is the same.
        Self::decode_string(s).map_err(|_| BadTicket::Mistyped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> InviteTicket {
        let key = iroh::SecretKey::from_bytes(&[3; 32]).public();
        InviteTicket {
            alliance: [5; 32],
            inviter: EndpointAddr::new(key).with_ip_addr("127.0.0.1:4242".parse().unwrap()),
            secret: [9; 32],
        }
    }

    #[test]
    fn tickets_round_trip_and_malformed_ones_are_refused() {
        let t = sample();
        let s = t.to_string();
        assert!(s.starts_with("alliance"));
        assert_eq!(s.parse::<InviteTicket>().unwrap(), t);
        assert_eq!(
            "alliancexyz".parse::<InviteTicket>(),
            Err(BadTicket::Mistyped)
        );
        assert_eq!(
            "blobabc".parse::<InviteTicket>(),
            Err(BadTicket::NotATicket)
        );
        assert_eq!(
            s[..s.len() - 5].parse::<InviteTicket>(),
            Err(BadTicket::Mistyped)
        );
    }

    #[test]
    fn keeper_tickets_round_trip_and_are_told_from_invites() {
        let key = iroh::SecretKey::from_bytes(&[4; 32]).public();
        let t = KeeperTicket {
            keeper: EndpointAddr::new(key).with_ip_addr("127.0.0.1:4343".parse().unwrap()),
            name: "the Okafor NAS".into(),
            secret: [7; 32],
        };
        let s = t.to_string();
        assert!(s.starts_with("keeper"));
        assert_eq!(s.parse::<KeeperTicket>().unwrap(), t);
        assert_eq!(s.parse::<InviteTicket>(), Err(BadTicket::AKeeper));
        let invite = sample().to_string();
        assert_eq!(
            invite.parse::<KeeperTicket>(),
            Err(BadKeeperTicket::AnInvite)
        );
        assert_eq!(
            s[..s.len() - 3].parse::<KeeperTicket>(),
            Err(BadKeeperTicket::Mistyped)
        );
        assert_eq!(
            "hello".parse::<KeeperTicket>(),
            Err(BadKeeperTicket::NotATicket)
        );
    }

    #[test]
    fn every_one_character_typo_in_a_ticket_is_recognised_as_mistyped() {
        let t = sample();
        let s = t.to_string();
        let alphabet = "abcdefghijklmnopqrstuvwxyz234567";
        for i in TICKET_KIND.len()..s.len() {
            for c in alphabet.chars().filter(|&c| !s[i..].starts_with(c)) {
                let typo = format!("{}{c}{}", &s[..i], &s[i + 1..]);
                assert_eq!(
                    typo.parse::<InviteTicket>(),
                    Err(BadTicket::Mistyped),
                    "{c} at {i}"
                );
            }
            let dropped = format!("{}{}", &s[..i], &s[i + 1..]);
            assert_eq!(dropped.parse::<InviteTicket>(), Err(BadTicket::Mistyped));
        }
    }
}
