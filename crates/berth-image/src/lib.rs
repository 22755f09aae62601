//! Images: a content store of blobs by digest, unpacked layers shared by chain ID, image
//! configs, references (`busybox:latest`), and docker-archive import/export.
//!
//! Everything here is blocking filesystem work: async callers run it off their executor.

pub mod archive;
pub mod atomic;
pub mod changes;
pub mod commit;
pub mod config;
pub mod content;
pub mod digest;
pub mod error;
pub mod layer;
pub mod pack;
pub mod reference;
pub mod stack;
pub mod store;
pub mod unpack;
pub mod usage;

pub use digest::Digest;
pub use error::ImageError;
pub use store::ImageStore;
