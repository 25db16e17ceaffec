//! `quill report --url`: fetch a live server's status and metrics pages
//! every `--interval` seconds for `--window` seconds. The only part of the
//! report that talks to the network or reads the clock.

use std::time::{Duration, Instant};

use quill_report::RawSample;

/// What to sample.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `http://host:port`, no trailing slash.
    pub base: String,
    /// The status page's path (`/server-status`), asked with `?auto`.
    pub status_path: Option<String>,
    /// The metrics page's path.
    pub metrics_path: Option<String>,
    pub window: Duration,
    pub interval: Duration,
}

fn agent(timeout: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build();
    ureq::Agent::new_with_config(config)
}

/// GET `url`: the body of a 200, else what went wrong and how to fix it.
fn fetch(agent: &ureq::Agent, url: &str) -> Result<String, String> {
    let response = agent.get(url).call().map_err(|e| {
        format!("cannot fetch {url}: {e} (is the server running, and is --url its address?)")
    })?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .read_to_string()
        .map_err(|e| format!("cannot read the answer of {url}: {e}"))?;
    match status {
        200 => Ok(body),
        403 => Err(format!(
            "{url} answered 403: the Location's Require lines do not grant this machine; add \
             `Require local` (or `Require ip` with this address) to it"
        )),
        404 => Err(format!(
            "{url} answered 404: no `SetHandler` Location there; give its path with \
             --status-path / --metrics-path"
        )),
        other => Err(format!("{url} answered {other}")),
    }
}

/// Samples until the window is over. A page that fails on the first
/// sample is an error; later failures leave that page out of the sample
/// (and are reported through `warn`).
pub fn run(plan: &Plan, warn: &mut dyn FnMut(&str)) -> Result<Vec<RawSample>, String> {
    let timeout = plan
        .interval
        .clamp(Duration::from_secs(1), Duration::from_secs(10));
    let agent = agent(timeout);
    let status_url = plan
        .status_path
        .as_ref()
        .map(|p| format!("{}{p}?auto", plan.base));
    let metrics_url = plan
        .metrics_path
        .as_ref()
        .map(|p| format!("{}{p}", plan.base));
    let interval = plan.interval.max(Duration::from_millis(100));
    let count = (plan.window.as_millis() / interval.as_millis()).max(1) as u32;
    let start = Instant::now();
    let mut samples = Vec::new();
    for i in 0..=count {
        let due = start + interval * i;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let t_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut page = |url: &Option<String>| -> Result<Option<String>, String> {
            let Some(url) = url else { return Ok(None) };
            match fetch(&agent, url) {
                Ok(body) => Ok(Some(body)),
                Err(e) if i == 0 => Err(e),
                Err(e) => {
                    warn(&e);
                    Ok(None)
                }
            }
        };
        let status = page(&status_url)?;
        let metrics = page(&metrics_url)?;
        samples.push(RawSample {
            t_ms,
            status,
            metrics,
        });
    }
    Ok(samples)
}
