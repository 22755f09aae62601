//! CRI's messages to and from the engine's: a container config becomes a Docker create
//! request (so the engine's checks and defaults apply to CRI as to the Engine API), and a
//! berth container becomes CRI's container status.

pub mod container;
pub mod labels;
pub mod status;
