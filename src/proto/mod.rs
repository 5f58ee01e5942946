//! The sync protocol as state machines without I/O, the way iroh-gossip's `proto` and
//! samod-core are built: events and the time go in, what should happen comes out as data.
//! `net` drives them over iroh; `sim` drives many of them over a simulated network with a
//! virtual clock, for the tests and the benchmark.
//!
//! - [`frame`]: the frames on a stream, their encoding and the close codes.
//! - [`handshake`]: who is welcome (a pure function of the hello and what this device knows).
//! - [`session`]: one sync session after the handshake, one-shot or live.
//! - `sim`: devices, links and a virtual clock, driving real sessions (built for tests and
//!   benchmarks only: the `sim` feature, which the test build turns on).

pub mod frame;
pub mod handshake;
pub mod session;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
