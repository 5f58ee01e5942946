#![no_main]
//! Fuzz target `session_frames`: see `alliance::fuzz::session_frames`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: alliance_fuzz::init(),
    |data: &[u8]| alliance_fuzz::run(alliance::fuzz::session_frames, data)
);
