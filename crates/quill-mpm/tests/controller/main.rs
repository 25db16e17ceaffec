//! Integration tests of the pool controller, driven by a small virtual-time
//! harness. One binary, one module per topic.

mod harness;
mod main_loop;
mod properties;
mod restarts_and_stops;
mod timelines;
mod worked_examples;
