pub mod core;
pub mod protocol;
pub mod store;
pub mod cli;
