pub mod core;
pub mod protocol;
