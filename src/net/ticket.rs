//! Invite tickets: `alliance` + base32 of a postcard-encoded [`InviteTicket`] followed by a
//! 4-byte checksum (the first bytes of its SHA-256), in the iroh-tickets format. A ticket holds
//! the alliance ID, the inviting device's address and the invite secret. The checksum makes a
//! ticket with a mistyped or missing character fail as mistyped, instead of decoding into
//! another address or secret and failing later with a misleading network error.

use std::fmt;
use std::str::FromStr;

use iroh::EndpointAddr;
use iroh_tickets::{ParseError, Ticket};
use serde::{Deserialize, Serialize};

use crate::constants::TICKET_KIND;

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
struct Wire {
    version: u8,
    ticket: InviteTicket,
}

impl Ticket for InviteTicket {
    const KIND: &'static str = TICKET_KIND;

    fn encode_bytes(&self) -> Vec<u8> {
        let mut bytes = postcard::to_stdvec(&Wire {
            version: TICKET_VERSION,
            ticket: self.clone(),
        })
        .expect("tickets serialise");
        let sum = checksum(&bytes);
        bytes.extend_from_slice(&sum);
        bytes
    }

    fn decode_bytes(bytes: &[u8]) -> Result<Self, ParseError> {
        let Some(split) = bytes.len().checked_sub(CHECKSUM_LEN) else {
            return Err(ParseError::verification_failed("too short"));
        };
        let (body, sum) = bytes.split_at(split);
        if checksum(body) != sum {
            return Err(ParseError::verification_failed("checksum"));
        }
        let wire: Wire = postcard::from_bytes(body)?;
        if wire.version != TICKET_VERSION {
            return Err(ParseError::verification_failed("unknown ticket version"));
        }
        Ok(wire.ticket)
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
}

impl FromStr for InviteTicket {
    type Err = BadTicket;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
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
