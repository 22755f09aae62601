//! CRI's RuntimeService on berth's engine: pods (`pods`), containers (`containers`),
//! their stats (`stats`), metrics (`metrics`) and events (`events`), and what NRI
//! plugins see of them (`nri_hooks`).

pub mod containers;
pub mod events;
pub mod metrics;
pub mod nri_hooks;
pub mod pods;
pub mod stats;
pub mod streams;
