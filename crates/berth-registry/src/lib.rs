//! Talking to registries over the OCI distribution API: manifests and indexes, the
//! token/basic auth flows, and pulls that stream every layer at once through its digest
//! check, the content store and decompression straight into its layer dir.

pub mod auth;
pub mod client;
pub mod error;
pub mod inspect;
pub mod manifest;
pub mod pull;
pub mod push;
pub mod tls;

pub use error::RegistryError;
