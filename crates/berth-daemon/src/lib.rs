#![recursion_limit = "256"]
//! berthd: the Docker Engine API over a unix socket.
//!
//! `api/` only translates HTTP into calls on the engine and results back into Docker's
//! JSON; `engine/` holds containers, execs and images and never sees HTTP.

pub mod api;
pub mod config;
pub mod dirs;
pub mod engine;
pub mod error;
pub mod listen;
mod lock;
pub mod server;

pub use config::DaemonConfig;
pub use error::DaemonError;
