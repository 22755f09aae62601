//! CRI's RuntimeService on berth's engine: pods (`pods`), containers (`containers`),
//! their stats (`stats`) and events (`events`).

pub mod containers;
pub mod events;
pub mod pods;
pub mod stats;
pub mod streams;
