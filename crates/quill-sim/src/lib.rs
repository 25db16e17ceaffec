//! # quill-sim — what an Apache process configuration does under a load
//!
//! ```text
//!  load (CSV / access log) ──▶ arrivals ──▶ engine (virtual time) ◀──▶ quill-mpm controller
//!                                              │                       (the same code the
//!                                              ▼                        real server runs)
//!                              timeline (one row per second), events
//!                                              │
//!                                  timeline.csv · events.log · chart.svg · report.html
//! ```
//!
//! Pure: virtual time only, randomness from an explicit seed.

pub mod chart;
pub mod engine;
pub mod load;
pub mod report;
pub mod setup;
pub mod timeline;
