//! The one guard between Automerge and data from outside: a panic inside Automerge on bytes a
//! peer or a file sent is caught and becomes a refusal, never a crash. Every call of Automerge on
//! outside data goes through [`guarded`].

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs an Automerge call on data from outside; a panic inside Automerge becomes `None`.
///
/// The panic is expected (the data is what is wrong, and the caller reports it in one line),
/// so Rust's panic message is kept off the terminal: a panic hook, installed once, stays quiet
/// for panics inside `guarded` on this thread and passes every other panic to the hook that
/// was there before.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    use std::cell::Cell;
    use std::sync::Once;
    thread_local! {
        static DEPTH: Cell<u32> = const { Cell::new(0) };
    }
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) == 0 {
                previous(info);
            } else {
                tracing::debug!(panic = %info, "Automerge panicked on data from outside");
            }
        }));
    });
    DEPTH.with(|d| d.set(d.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f)).ok();
    DEPTH.with(|d| d.set(d.get() - 1));
    result
}
