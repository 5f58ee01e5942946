//! Test hooks (the `test-hooks` feature, never in a release build): what the receive path did
//! to documents, counted on the calling thread, so a test can show that a refused batch
//! reached no document.

use std::cell::Cell;

thread_local! {
    static DOCUMENT_APPLIES: Cell<usize> = const { Cell::new(0) };
}

/// How many times the receive path has put received changes into a document on this thread
/// (each `apply_changes` of a batch, and each whole document taken as parsed).
pub fn document_applies() -> usize {
    DOCUMENT_APPLIES.with(Cell::get)
}

/// Counts one.
pub(super) fn applied() {
    DOCUMENT_APPLIES.with(|c| c.set(c.get() + 1));
}
