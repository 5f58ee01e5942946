//! The test suite, as one binary (as jj builds its CLI tests): every test links the library,
//! iroh, Automerge and tokio once instead of once a file. `kit` is the one test kit they share.
//!
//! - in memory, the protocol's own state machines on a simulated network: `sync_sim`, `load`,
//!   `replica`, `review`, `fast_sync`;
//! - real iroh endpoints on 127.0.0.1 and real stores in temporary directories: `net`, `attacks`,
//!   `store`;
//! - the real binary in temporary homes, with the clock and randomness pinned: `cli*`,
//!   `durability`, `crash`; the family's page in a real headless Chromium: `app`;
//! - the docs themselves: `docs` (every test they cite and every `cargo test` command exists).

mod keeper;
mod kit;

mod app;
mod app_family;
mod app_seed;
mod attacks;
mod cli;
mod cli_evening;
mod cli_net;
mod cli_reference;
mod cli_review;
mod cli_seed;
mod cli_text_conflicts;
mod crash;
mod docs;
mod durability;
mod fast_sync;
mod load;
mod net;
mod progress;
mod promises;
mod readers;
mod removal;
mod replay;
mod replica;
mod review;
mod rules;
mod store;
mod sync_sim;
mod terminal;
mod text_conflicts;
