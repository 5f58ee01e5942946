#![no_main]
//! Fuzz target `store_load`: see `alliance::fuzz::store_load`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: alliance_fuzz::init(),
    |data: &[u8]| alliance_fuzz::run(alliance::fuzz::store_load, data)
);
