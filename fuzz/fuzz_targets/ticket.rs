#![no_main]
//! Fuzz target `ticket`: see `alliance::fuzz::ticket`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: alliance_fuzz::init(),
    |data: &[u8]| alliance_fuzz::run(alliance::fuzz::ticket, data)
);
