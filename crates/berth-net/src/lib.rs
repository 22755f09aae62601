//! berth's container networking, below the engine: nothing here knows Docker's API.
//!
//! - `ipam`: a subnet's addresses, handed out and given back.
//! - `link`: the host's bridge, and per container a veth pair whose inner end is created
//!   straight in the container's network namespace (moving it there afterwards would cost
//!   an RCU barrier), then addressed and routed from inside that namespace.
//! - `files`: /etc/hosts and /etc/resolv.conf as Docker writes them.
//! - `dns`: the embedded resolver at 127.0.0.11 of user networks.
//! - `ports`: published ports held on the host, and berth's nftables table.
//! - `proxy`: published ports reached from containers, carried by the daemon.

pub mod cni;
pub mod dns;
pub mod error;
pub mod files;
pub mod ipam;
pub mod link;
pub mod ports;
pub mod proxy;
pub mod sysctl;

pub use error::{NetError, Result};
