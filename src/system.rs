//! The edge's sources of time and randomness, given to the I/O-free core as arguments.

use crate::core::{Entropy, SeededEntropy, Timestamp};

/// Pins the clock (Unix seconds) for reproducible output in tests.
pub const ENV_NOW: &str = "ALLIANCE_TEST_NOW";
/// Pins randomness (a u64 seed) for reproducible IDs and keys in tests. Never set it in real use.
pub const ENV_SEED: &str = "ALLIANCE_TEST_SEED";

/// Randomness from the operating system.
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        getrandom::fill(buf).expect("the operating system has no random source");
    }
}

/// The current time: the system clock, or `ALLIANCE_TEST_NOW` when set.
pub fn now() -> Timestamp {
    if let Some(t) = std::env::var(ENV_NOW).ok().and_then(|v| v.parse().ok()) {
        return Timestamp(t);
    }
    Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    )
}

/// Randomness for this process: the OS, or a seeded generator when `ALLIANCE_TEST_SEED` is set
/// (mixed with `salt`, so successive commands of a test draw different values reproducibly).
pub fn entropy(salt: &str) -> Result<Box<dyn Entropy + Send>, String> {
    match std::env::var(ENV_SEED) {
        Ok(v) => {
            let seed: u64 = v
                .parse()
                .map_err(|_| format!("{ENV_SEED} must be a number"))?;
            let mix = salt.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            Ok(Box::new(SeededEntropy::new(seed ^ mix)))
        }
        Err(_) => Ok(Box::new(OsEntropy)),
    }
}
