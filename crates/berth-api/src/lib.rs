//! Docker Engine API types shared by the daemon and the CLI.
//!
//! Field names follow the Engine API (v1.45) exactly, so the structs serialize to what the
//! docker CLI and docker-py expect. Nothing here knows about HTTP servers or the runtime.

pub mod container;
pub mod error;
pub mod exec;
pub mod image;
pub mod stream;
pub mod strslice;
pub mod system;

/// The newest Engine API version berth speaks.
pub const API_VERSION: &str = "1.45";
/// The oldest Engine API version berth accepts in a path prefix.
pub const MIN_API_VERSION: &str = "1.24";
