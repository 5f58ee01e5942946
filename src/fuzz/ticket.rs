//! Target `ticket`: an invite ticket as a person pastes it.

use crate::net::ticket::InviteTicket;

/// Target `ticket`: the bytes (as UTF-8, lossily) parsed as an invite ticket. A ticket that
/// parses must print back to a string that parses to the same ticket.
pub fn ticket(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    match text.parse::<InviteTicket>() {
        Ok(t) => {
            let again: InviteTicket = t
                .to_string()
                .parse()
                .expect("a printed ticket parses again");
            assert_eq!(again, t, "a ticket survives printing and parsing");
            true
        }
        Err(_) => false,
    }
}
