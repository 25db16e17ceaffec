//! # quill-report — how much of a configuration a server really uses, and what to change
//!
//! ```text
//!  status + metrics samples ─┐                 ┌─▶ answers: front end used vs configured,
//!  (live, or recorded)       ├─▶ Observation ──┤    per daemon group utilisation and waiting,
//!  access log with %D ───────┘   + replay load │    where the time goes
//!                                              ├─▶ Proposal: daemon processes × threads for a
//!                                              │    target utilisation, MaxSpare against churn,
//!                                              │    then `quill check`'s edits until it is clean
//!                                              └─▶ what-if: the replay load through quill-sim
//!                                                   with the current and the proposed config
//! ```
//!
//! Pure: the caller fetches the pages or reads the log, and reads the
//! configuration again when asked ([`advice::ConfigReader`]). Nothing here
//! reads the clock, the network or files.

pub mod advice;
pub mod observe;
pub mod render;
pub mod scrape;
pub mod whatif;

use quill_config::Resolved;
use quill_config::syntax::ParsedConfig;
use serde::Serialize;

pub use advice::{AdviceOptions, ConfigReader, Proposal};
pub use observe::{Observation, Observed, RawSample, from_access_log, from_samples};
pub use whatif::Comparison;

/// Everything `quill report` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub observation: Observation,
    /// The thread's questions answered, one paragraph each.
    pub answers: Vec<String>,
    /// What the what-if replays.
    pub replay: String,
    pub proposal: Proposal,
    pub whatif: Comparison,
}

/// The analysis failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReportError {
    #[error("the replay load cannot be built: {0}")]
    Replay(String),
    #[error("the what-if simulation failed: {0}")]
    Simulation(String),
}

/// Answers, proposal and what-if for an observation of the server that
/// `original` configures.
pub fn analyse(
    original: (&ParsedConfig, &Resolved),
    observed: &Observed,
    reader: &dyn ConfigReader,
    options: &AdviceOptions,
) -> Result<Report, ReportError> {
    let load = observed
        .replay_load()
        .map_err(|e| ReportError::Replay(e.to_string()))?;
    let proposal = advice::propose(original, &observed.observation, &load, reader, options)
        .map_err(ReportError::Simulation)?;
    let current = whatif::simulate(&original.1.config, &load, options.seed, &options.lint)
        .map_err(ReportError::Simulation)?;
    let proposed = whatif::simulate(
        &proposal.resolved.config,
        &load,
        options.seed,
        &options.lint,
    )
    .map_err(ReportError::Simulation)?;
    Ok(Report {
        answers: render::answers(&observed.observation),
        observation: observed.observation.clone(),
        replay: observed.replay_note.clone(),
        proposal,
        whatif: Comparison {
            load: load.describe(),
            seconds: whatif::duration_s(&load),
            current,
            proposed,
        },
    })
}
