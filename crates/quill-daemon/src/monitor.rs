//! The daemon monitor's decisions, apart from the thread that acts on them:
//! which of mod_wsgi's timeouts has expired, given the clock readings. Each
//! limit is in seconds, 0 = off, and expires when *more* than that has
//! passed, as mod_wsgi compares.

use std::time::{Duration, Instant};

/// The process-level timeouts of a daemon group (`WSGIDaemonProcess`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessLimits {
    pub deadlock_timeout_s: u32,
    pub inactivity_timeout_s: u32,
    pub startup_timeout_s: u32,
}

/// What the monitor reads each second (milliseconds on one clock; 0 = never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessReadings {
    pub now_ms: u64,
    /// When the ticker thread last held the GIL.
    pub last_gil_ms: u64,
    /// When a request last started or ended.
    pub last_activity_ms: u64,
    /// Requests running now.
    pub active: u32,
    /// When loading the application first failed.
    pub first_load_failure_ms: u64,
}

/// A process-level timeout that expired, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessExpiry {
    /// The GIL was not released for deadlock-timeout: exit at once.
    Deadlock,
    /// No request for inactivity-timeout while idle: retire.
    Inactivity,
    /// The application kept failing to load for startup-timeout: retire.
    Startup,
}

fn expired(limit_s: u32, since_ms: u64, now_ms: u64) -> bool {
    limit_s > 0 && now_ms.saturating_sub(since_ms) > u64::from(limit_s) * 1000
}

/// The timeout that expired, if any (deadlock before the others).
pub fn process_expiry(limits: &ProcessLimits, r: &ProcessReadings) -> Option<ProcessExpiry> {
    if expired(limits.deadlock_timeout_s, r.last_gil_ms, r.now_ms) {
        return Some(ProcessExpiry::Deadlock);
    }
    if r.last_activity_ms > 0
        && r.active == 0
        && expired(limits.inactivity_timeout_s, r.last_activity_ms, r.now_ms)
    {
        return Some(ProcessExpiry::Inactivity);
    }
    if r.first_load_failure_ms > 0
        && expired(limits.startup_timeout_s, r.first_load_failure_ms, r.now_ms)
    {
        return Some(ProcessExpiry::Startup);
    }
    None
}

/// What request-timeout asks of one busy thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadExpiry {
    /// Its request ran past request-timeout: interrupt it.
    Interrupt,
    /// It was interrupted and has not unwound within the grace period,
    /// with its response still open: answer for it and restart the process.
    Restart,
}

/// request-timeout for one thread: `limit` (None = off), the grace an
/// interrupted thread has to unwind, when its request started (None =
/// idle), when it was interrupted, and whether its response is still open.
pub fn thread_expiry(
    limit: Option<Duration>,
    grace: Duration,
    now: Instant,
    busy_since: Option<Instant>,
    interrupted_at: Option<Instant>,
    response_open: bool,
) -> Option<ThreadExpiry> {
    let limit = limit?;
    let since = busy_since?;
    match interrupted_at {
        None if now.duration_since(since) > limit => Some(ThreadExpiry::Interrupt),
        Some(at) if now.duration_since(at) > grace && response_open => Some(ThreadExpiry::Restart),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ProcessLimits = ProcessLimits {
        deadlock_timeout_s: 60,
        inactivity_timeout_s: 10,
        startup_timeout_s: 15,
    };

    fn readings(now_ms: u64) -> ProcessReadings {
        ProcessReadings {
            now_ms,
            last_gil_ms: now_ms,
            last_activity_ms: 0,
            active: 0,
            first_load_failure_ms: 0,
        }
    }

    #[test]
    fn each_timeout_expires_only_when_more_than_its_limit_has_passed() {
        let mut r = readings(100_000);
        assert_eq!(process_expiry(&LIMITS, &r), None);
        r.last_activity_ms = 90_000;
        assert_eq!(process_expiry(&LIMITS, &r), None, "exactly 10 s: not yet");
        r.last_activity_ms = 89_999;
        assert_eq!(process_expiry(&LIMITS, &r), Some(ProcessExpiry::Inactivity));
        r.active = 1;
        assert_eq!(process_expiry(&LIMITS, &r), None, "busy is not inactive");
        r.first_load_failure_ms = 84_999;
        assert_eq!(process_expiry(&LIMITS, &r), Some(ProcessExpiry::Startup));
        r.last_gil_ms = 39_999;
        assert_eq!(
            process_expiry(&LIMITS, &r),
            Some(ProcessExpiry::Deadlock),
            "deadlock first"
        );
    }

    #[test]
    fn a_zero_limit_is_off() {
        let off = ProcessLimits {
            deadlock_timeout_s: 0,
            inactivity_timeout_s: 0,
            startup_timeout_s: 0,
        };
        let r = ProcessReadings {
            now_ms: 10_000_000,
            last_gil_ms: 1,
            last_activity_ms: 1,
            active: 0,
            first_load_failure_ms: 1,
        };
        assert_eq!(process_expiry(&off, &r), None);
        let now = Instant::now();
        let long_ago = now.checked_sub(Duration::from_secs(3600));
        assert_eq!(
            thread_expiry(None, Duration::from_secs(5), now, long_ago, None, true),
            None
        );
    }

    #[test]
    fn request_timeout_interrupts_then_restarts_a_thread_that_does_not_unwind() {
        let Some(start) = Instant::now().checked_sub(Duration::from_secs(100)) else {
            return; // a clock too young to go back 100 s
        };
        let limit = Some(Duration::from_secs(60));
        let grace = Duration::from_secs(5);
        let at = |s: u64| start + Duration::from_secs(s);
        assert_eq!(
            thread_expiry(limit, grace, at(60), Some(start), None, true),
            None
        );
        assert_eq!(
            thread_expiry(limit, grace, at(61), Some(start), None, true),
            Some(ThreadExpiry::Interrupt)
        );
        assert_eq!(
            thread_expiry(limit, grace, at(65), Some(start), Some(at(61)), true),
            None,
            "within its grace"
        );
        assert_eq!(
            thread_expiry(limit, grace, at(67), Some(start), Some(at(61)), true),
            Some(ThreadExpiry::Restart)
        );
        assert_eq!(
            thread_expiry(limit, grace, at(67), Some(start), Some(at(61)), false),
            None,
            "its response already ended"
        );
        assert_eq!(
            thread_expiry(limit, grace, at(99), None, None, true),
            None,
            "idle"
        );
    }
}
