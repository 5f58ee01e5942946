//! Invite tickets: `alliance` + base32 of a postcard-encoded [`InviteTicket`] (the iroh-tickets
//! format). A ticket holds the alliance ID, the inviting device's address and the invite secret.

use std::fmt;
use std::str::FromStr;

use iroh::EndpointAddr;
use iroh_tickets::{ParseError, Ticket};
use serde::{Deserialize, Serialize};

use crate::protocol::TICKET_KIND;

/// Version byte inside the ticket, for future formats.
const TICKET_VERSION: u8 = 1;

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
        postcard::to_stdvec(&Wire {
            version: TICKET_VERSION,
            ticket: self.clone(),
        })
        .expect("tickets serialise")
    }

    fn decode_bytes(bytes: &[u8]) -> Result<Self, ParseError> {
        let wire: Wire = postcard::from_bytes(bytes)?;
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

/// A string that is not an alliance invite ticket.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "this is not a valid alliance invite ticket ({0}); copy the whole line that `alliance invite` printed"
)]
pub struct BadTicket(String);

impl FromStr for InviteTicket {
    type Err = BadTicket;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::decode_string(s.trim()).map_err(|e| BadTicket(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_round_trip_and_malformed_ones_are_refused() {
        let key = iroh::SecretKey::from_bytes(&[3; 32]).public();
        let t = InviteTicket {
            alliance: [5; 32],
            inviter: EndpointAddr::new(key).with_ip_addr("127.0.0.1:4242".parse().unwrap()),
            secret: [9; 32],
        };
        let s = t.to_string();
        assert!(s.starts_with("alliance"));
        assert_eq!(s.parse::<InviteTicket>().unwrap(), t);
        assert!("alliancexyz".parse::<InviteTicket>().is_err());
        assert!("blobabc".parse::<InviteTicket>().is_err());
        assert!(s[..s.len() - 5].parse::<InviteTicket>().is_err());
        let mut flipped = s.clone().into_bytes();
        let i = flipped.len() / 2;
        flipped[i] = if flipped[i] == b'a' { b'b' } else { b'a' };
        // A flipped character either fails to parse or yields a different ticket, never a panic.
        if let Ok(other) = String::from_utf8(flipped).unwrap().parse::<InviteTicket>() {
            assert_ne!(other, t);
        }
    }
}
