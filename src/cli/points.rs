//! Points in the history a person can name: `--since DATE|HASH`. The other point, this
//! device's "seen" marker (`alliance seen`), is a device-local file of the store
//! ([`crate::store::Seen`]).

use automerge::ChangeHash;

use crate::core::Timestamp;
use crate::core::index::ChangeIndex;
use crate::device::{DeviceError, Result};

/// Resolves `--since DATE|HASH` to the heads of that point (see [`point`]).
pub fn since(index: &ChangeIndex, since: &str) -> Result<Vec<ChangeHash>> {
    point(index, "--since", since)
}

/// Resolves a point the person names with `option` (`--since`, `--at`) to the heads of that
/// point: for a date (YYYY-MM-DD, UTC), the history as it stood at the start of that day; for a
/// hash (or a unique prefix of at least six characters), that change.
pub fn point(index: &ChangeIndex, option: &str, since: &str) -> Result<Vec<ChangeHash>> {
    let since = since.trim();
    if let Ok(date) = crate::core::edit::parse_date(since) {
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        let day = time::Date::parse(&date, &fmt)
            .map_err(|_| DeviceError::user(format!("'{since}' is not a date")))?;
        let start = day.midnight().assume_utc().unix_timestamp();
        return Ok(index.heads_before(Timestamp(start)));
    }
    let lower = since.to_lowercase();
    let matches: Vec<ChangeHash> = index
        .entries()
        .iter()
        .map(|e| e.hash)
        .filter(|h| h.to_string().starts_with(&lower))
        .collect();
    match (lower.len() >= 6, matches.as_slice()) {
        (true, [one]) => Ok(vec![*one]),
        (true, [_, _, ..]) => Err(DeviceError::user(format!(
            "{option} '{since}' matches several changes; give more of the hash"
        ))),
        _ => Err(DeviceError::user(format!(
            "{option} '{since}' is neither a date (YYYY-MM-DD) nor the hash of one change in `alliance log`"
        ))),
    }
}
