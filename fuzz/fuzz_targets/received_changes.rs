#![no_main]
//! Fuzz target `received_changes`: see `alliance::fuzz::received_changes`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: alliance_fuzz::init(),
    |data: &[u8]| alliance_fuzz::run(alliance::fuzz::received_changes, data)
);
