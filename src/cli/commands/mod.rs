//! One file per subcommand: a `///` help line, an `Args` struct, one `run` function.

pub mod bundle;
pub mod checkin;
pub mod demo;
pub mod expect;
pub mod export;
pub mod history;
pub mod init;
pub mod invite;
pub mod join;
pub mod list;
pub mod log;
pub mod member;
pub mod need;
pub mod new;
pub mod peers;
pub mod plan;
pub mod serve;
pub mod show;
pub mod sync;
pub mod verify;
pub mod vision;
pub mod whoami;
