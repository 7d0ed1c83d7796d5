//! Container lifecycle: create/start/kill/delete/exec and the create handshake.

pub mod channel;
pub mod create;
pub mod exec;
pub mod foreground;
pub mod lifecycle;
pub mod signal;

pub use lifecycle::{delete, force_delete, kill, start};
