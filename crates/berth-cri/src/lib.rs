//! Kubernetes' CRI v1 on berth's engine: `berth daemon --cri` serves RuntimeService and
//! ImageService on a unix socket beside the Engine API. Pods hold their namespaces
//! without a pause process (`sandbox`), get their network from CNI plugins, and their
//! containers are berth containers (`runtime`), listed by `berth ps -a`. NRI plugins
//! take part in their lives (`nri`).

pub mod config;
pub mod convert;
pub mod deadline;
pub mod error;
pub mod grpc;
pub mod images;
pub mod nri;
pub mod runtime;
pub mod sandbox;
pub mod server;
pub mod service;
mod status;
pub mod streaming;

pub use config::CriConfig;
pub use error::CriError;

/// The messages and services of `runtime.v1`, generated from cri-api's proto.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("runtime.v1");
}
