//! The edge's sources of time and randomness, given to the I/O-free core as arguments.

use crate::core::{Entropy, SeededEntropy, Timestamp};

/// Pins the clock (Unix seconds) for reproducible output in tests. Test builds only
/// ([`TEST_HOOKS`]).
pub const ENV_NOW: &str = "ALLIANCE_TEST_NOW";
/// Pins randomness (a u64 seed) for reproducible IDs and keys in tests. Test builds only
/// ([`TEST_HOOKS`]): a device key derived from 64 bits could be guessed.
pub const ENV_SEED: &str = "ALLIANCE_TEST_SEED";

/// Whether this build reads [`ENV_NOW`] and [`ENV_SEED`]: only with the `test-hooks` feature,
/// which only the tests' own dev-dependency on this crate turns on. `cargo build --release` and
/// `cargo install` make a binary that ignores both.
pub const TEST_HOOKS: bool = cfg!(any(test, feature = "test-hooks"));

/// The value of a test-only variable, when `hooks` (this build's [`TEST_HOOKS`]) allow it.
pub fn test_var(name: &str, hooks: bool) -> Option<String> {
    if hooks {
        std::env::var(name).ok()
    } else {
        None
    }
}

/// Randomness from the operating system.
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        getrandom::fill(buf).expect("the operating system has no random source");
    }
}

/// The current time: the system clock, or `ALLIANCE_TEST_NOW` when set in a test build.
pub fn now() -> Timestamp {
    if let Some(t) = test_var(ENV_NOW, TEST_HOOKS).and_then(|v| v.parse().ok()) {
        return Timestamp(t);
    }
    Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    )
}

/// Randomness for this process: the OS, or, in a test build, a seeded generator when
/// `ALLIANCE_TEST_SEED` is set (mixed with `salt`, so successive commands of a test draw
/// different values reproducibly).
pub fn entropy(salt: &str) -> Result<Box<dyn Entropy + Send>, String> {
    entropy_with(salt, TEST_HOOKS)
}

/// [`entropy`] with the test hooks on or off.
pub fn entropy_with(salt: &str, hooks: bool) -> Result<Box<dyn Entropy + Send>, String> {
    match test_var(ENV_SEED, hooks) {
        Some(v) => {
            let seed: u64 = v
                .parse()
                .map_err(|_| format!("{ENV_SEED} must be a number"))?;
            let mix = salt.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            Ok(Box::new(SeededEntropy::new(seed ^ mix)))
        }
        None => Ok(Box::new(OsEntropy)),
    }
}
