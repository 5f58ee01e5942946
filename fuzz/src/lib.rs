//! What every fuzz target shares: a panic hook that lets the library catch Automerge's panics,
//! and a runner that turns a panic escaping the library into a crash libFuzzer reports.
//!
//! libfuzzer-sys installs a panic hook that aborts the process on *any* panic, before it
//! unwinds. alliance deliberately catches Automerge's panics on malformed input
//! (`catch_unwind` in `core::replica::guarded` and `SignedChange::from_bytes`), so with that
//! hook every such input would be reported as a crash. [`init`] replaces the hook with one that
//! only records the panic (message, location, and a backtrace when `RUST_BACKTRACE` is set) and
//! lets it unwind; [`run`] calls the target under `catch_unwind`: a panic that the library
//! caught never reaches it, a panic that escaped the library is printed and aborts the process,
//! which libFuzzer reports as a crash and saves the input for. (cargo-fuzz builds with
//! unwinding, not `-Cpanic=abort`, so `catch_unwind` works.)

use std::backtrace::Backtrace;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces libfuzzer-sys's abort-on-every-panic hook (call it from the target's `init`).
pub fn init() {
    panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let text = format!(
            "thread '{}' panicked at {}:\n{}\n{}",
            thread.name().unwrap_or("<unnamed>"),
            info.location()
                .map(|l| l.to_string())
                .unwrap_or_else(|| "<unknown>".into()),
            payload(info.payload()),
            Backtrace::capture(),
        );
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(text));
    }));
}

fn payload(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<non-string panic payload>".into())
}

/// Runs one target on one input; a panic that escapes it aborts (a crash for libFuzzer).
///
/// With `ALLIANCE_FUZZ_CAUGHT_DIR` set, an input during which a panic happened and was caught
/// (inside Automerge, by the library's guards) is saved there, once per panic location: that
/// is how the fixtures of `tests/fixtures/automerge_panics/` were found.
pub fn run(target: fn(&[u8]) -> bool, data: &[u8]) {
    LAST_PANIC.with(|p| p.borrow_mut().take());
    let result = panic::catch_unwind(AssertUnwindSafe(|| target(data)));
    let last = LAST_PANIC.with(|p| p.borrow_mut().take());
    if result.is_err() {
        let text = last.unwrap_or_else(|| "<no panic recorded>".into());
        eprintln!(
            "==== a panic escaped alliance (a bug in alliance, not just in Automerge):\n{text}"
        );
        std::process::abort();
    }
    if let (Some(text), Some(dir)) = (last, std::env::var_os("ALLIANCE_FUZZ_CAUGHT_DIR")) {
        save_caught(std::path::Path::new(&dir), &text, data);
    }
}

/// Saves an input whose panic was caught, named after the panic's location (first line).
fn save_caught(dir: &std::path::Path, text: &str, data: &[u8]) {
    let location: String = text
        .lines()
        .next()
        .unwrap_or_default()
        .rsplit(" at ")
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path = dir.join(format!("{location}.bin"));
    if !path.exists() {
        let _ = std::fs::create_dir_all(dir);
        let _ = std::fs::write(&path, data);
        let _ = std::fs::write(dir.join(format!("{location}.txt")), text);
    }
}
