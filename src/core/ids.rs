//! Time, randomness and the short IDs people type.
//!
//! The core never reads a clock or an OS random source: callers pass a [`Timestamp`] and an
//! [`Entropy`] source, so tests can pin both.

use std::fmt;
use std::str::FromStr;

/// Seconds since the Unix epoch (UTC). Also the Automerge change time. Serialised (in `--json`
/// output) as an RFC 3339 string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl Timestamp {
    /// RFC 3339 in UTC, to the second: `2026-11-24T12:00:00Z`.
    pub fn to_rfc3339(self) -> String {
        match time::OffsetDateTime::from_unix_timestamp(self.0) {
            Ok(t) => t
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| self.0.to_string()),
            Err(_) => self.0.to_string(),
        }
    }

    /// Just the date, `2026-11-24`.
    pub fn date(self) -> String {
        self.to_rfc3339().chars().take(10).collect()
    }

    /// How long before `now`, as people say it: "just now", "5 minutes ago", "3 hours ago",
    /// "2 days ago"; the date beyond a week (or for a time after `now`).
    pub fn ago(self, now: Timestamp) -> String {
        let secs = now.0 - self.0;
        let plural = |n: i64, unit: &str| {
            if n == 1 {
                format!("1 {unit} ago")
            } else {
                format!("{n} {unit}s ago")
            }
        };
        match secs {
            s if s < 0 => self.date(),
            0..60 => "just now".into(),
            60..3_600 => plural(secs / 60, "minute"),
            3_600..86_400 => plural(secs / 3_600, "hour"),
            86_400..604_800 => plural(secs / 86_400, "day"),
            _ => self.date(),
        }
    }

    /// Date and minutes, for tables: `2026-11-24 12:00`.
    pub fn short(self) -> String {
        let s = self.to_rfc3339();
        if s.len() >= 16 {
            format!("{} {}", &s[..10], &s[11..16])
        } else {
            s
        }
    }
}

/// A source of randomness, supplied by the caller (the OS at the edge, a seeded one in tests).
pub trait Entropy {
    fn fill(&mut self, buf: &mut [u8]);
}

/// A small deterministic generator (SplitMix64) for tests and pinned CLI runs. Not for keys
/// outside tests.
pub struct SeededEntropy(u64);

impl SeededEntropy {
    pub fn new(seed: u64) -> Self {
        SeededEntropy(seed)
    }

    /// The next 64 random bits (SplitMix64).
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0); slightly biased for huge `n`, fine for tests.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

impl Entropy for SeededEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let z = self.next_u64();
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// What an item is; its ID starts with this letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Member,
    Need,
    Plan,
    Expectation,
    CheckIn,
}

impl ItemKind {
    /// Every kind, in the order of the alliance's steps (members first).
    pub const ALL: [ItemKind; 5] = [
        ItemKind::Member,
        ItemKind::Need,
        ItemKind::Plan,
        ItemKind::Expectation,
        ItemKind::CheckIn,
    ];

    pub fn prefix(self) -> char {
        match self {
            ItemKind::Member => 'm',
            ItemKind::Need => 'n',
            ItemKind::Plan => 'p',
            ItemKind::Expectation => 'e',
            ItemKind::CheckIn => 'c',
        }
    }

    /// The key of the document map that holds items of this kind.
    pub fn collection(self) -> &'static str {
        match self {
            ItemKind::Member => "members",
            ItemKind::Need => "needs",
            ItemKind::Plan => "plan",
            ItemKind::Expectation => "expectations",
            ItemKind::CheckIn => "checkins",
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            ItemKind::Member => "member",
            ItemKind::Need => "need",
            ItemKind::Plan => "design session",
            ItemKind::Expectation => "expectation",
            ItemKind::CheckIn => "check-in",
        }
    }

    fn from_prefix(c: char) -> Option<Self> {
        Some(match c {
            'm' => ItemKind::Member,
            'n' => ItemKind::Need,
            'p' => ItemKind::Plan,
            'e' => ItemKind::Expectation,
            'c' => ItemKind::CheckIn,
            _ => return None,
        })
    }
}

/// Letters used in IDs: lowercase, without 0/o, 1/l/i, so an ID read aloud or copied from paper
/// is typed right.
const ID_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
/// Random characters after the kind letter. 31^4 = 923,521 IDs per kind; a new ID is checked
/// against the existing ones before use.
pub const ID_RANDOM_CHARS: usize = 4;

/// A short, stable item ID such as `e7kq2`: kind letter, then four random characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ItemId(String);

impl ItemId {
    /// A fresh random ID of the given kind.
    pub fn random(kind: ItemKind, entropy: &mut dyn Entropy) -> Self {
        let mut bytes = [0u8; ID_RANDOM_CHARS];
        entropy.fill(&mut bytes);
        let mut s = String::with_capacity(1 + ID_RANDOM_CHARS);
        s.push(kind.prefix());
        for b in bytes {
            s.push(ID_ALPHABET[b as usize % ID_ALPHABET.len()] as char);
        }
        ItemId(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> ItemKind {
        ItemKind::from_prefix(self.0.chars().next().unwrap_or('?')).unwrap_or(ItemKind::Need)
    }

    /// Wraps a key read from a document (no validation: documents are data, not commands).
    pub(crate) fn from_doc_key(key: &str) -> Self {
        ItemId(key.to_string())
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A typed item ID that is not of the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an item ID (IDs look like e7kq2: a kind letter m/n/p/e/c and 4 characters)")]
pub struct InvalidItemId(pub String);

impl FromStr for ItemId {
    type Err = InvalidItemId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let mut chars = t.chars();
        let ok = chars.next().and_then(ItemKind::from_prefix).is_some()
            && t.len() == 1 + ID_RANDOM_CHARS
            && chars.all(|c| ID_ALPHABET.contains(&(c as u8)));
        if ok {
            Ok(ItemId(t))
        } else {
            Err(InvalidItemId(s.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_typeable_and_parse_back() {
        let mut e = SeededEntropy::new(1);
        for kind in [ItemKind::Need, ItemKind::Expectation, ItemKind::CheckIn] {
            let id = ItemId::random(kind, &mut e);
            assert_eq!(id.as_str().len(), 5);
            assert_eq!(id.kind(), kind);
            assert_eq!(id.as_str().parse::<ItemId>().unwrap(), id);
            assert_eq!(id.as_str().to_uppercase().parse::<ItemId>().unwrap(), id);
        }
        assert!("x1234".parse::<ItemId>().is_err());
        assert!("e12".parse::<ItemId>().is_err());
        assert!("e0000".parse::<ItemId>().is_err());
    }

    #[test]
    fn timestamps_format_in_utc() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(86_400 + 3_660).short(), "1970-01-02 01:01");
        assert_eq!(Timestamp(86_400).date(), "1970-01-02");
    }
}
