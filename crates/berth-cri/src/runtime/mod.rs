//! CRI's RuntimeService on berth's engine: pods (`pods`), containers (`containers`),
//! their stats (`stats`), metrics (`metrics`) and events (`events`).

pub mod containers;
pub mod events;
pub mod metrics;
pub mod pods;
pub mod stats;
pub mod streams;
