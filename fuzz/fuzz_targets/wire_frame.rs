#![no_main]
//! Fuzz target `wire_frame`: see `alliance::fuzz::wire_frame`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: alliance_fuzz::init(),
    |data: &[u8]| alliance_fuzz::run(alliance::fuzz::wire_frame, data)
);
