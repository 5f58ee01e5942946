//! One file per subcommand: a `///` help line, an `Args` struct, one `run` function.

pub mod bundle;
pub mod checkin;
pub mod demo;
pub mod expect;
pub mod export;
pub mod init;
pub mod list;
pub mod log;
pub mod member;
pub mod need;
pub mod new;
pub mod plan;
pub mod show;
pub mod verify;
pub mod vision;
pub mod whoami;
