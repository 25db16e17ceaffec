//! The controller's notion of time: an offset from an epoch the driver picks.
//!
//! The controller never reads a clock. Every `handle_*` call carries `now`,
//! and every deadline it hands back is a [`Timestamp`] on the same scale, so
//! the same code runs in virtual time (simulator) and real time (supervisor:
//! `Timestamp::from_nanos(monotonic_now - server_start)`).

use std::fmt;
use std::ops::Add;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Nanoseconds since the driver's epoch (normally the moment the server started).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The epoch itself.
    pub const ZERO: Timestamp = Timestamp(0);

    /// A timestamp `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Self {
        Timestamp(nanos)
    }

    /// A timestamp `micros` microseconds after the epoch (saturating).
    pub const fn from_micros(micros: u64) -> Self {
        Timestamp(micros.saturating_mul(1_000))
    }

    /// A timestamp `millis` milliseconds after the epoch (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Timestamp(millis.saturating_mul(1_000_000))
    }

    /// A timestamp `secs` seconds after the epoch (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000))
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds since the epoch, for charts and messages.
    pub fn as_secs_f64(self) -> f64 {
        // Precision loss above 2^53 ns (~104 days) is irrelevant for display.
        self.0 as f64 / 1e9
    }

    /// `self + duration`, clamped at the largest representable timestamp.
    pub fn saturating_add(self, duration: Duration) -> Self {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(nanos))
    }

    /// Time elapsed from `earlier` to `self`; zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    fn add(self, rhs: Duration) -> Timestamp {
        self.saturating_add(rhs)
    }
}

impl fmt::Display for Timestamp {
    /// Seconds with millisecond precision, e.g. `12.016s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0 / 1_000_000;
        write!(f, "{}.{:03}s", millis / 1000, millis % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_overflowing() {
        let late = Timestamp::from_nanos(u64::MAX - 1);
        assert_eq!(
            late + Duration::from_secs(5),
            Timestamp::from_nanos(u64::MAX)
        );
        assert_eq!(
            Timestamp::ZERO.saturating_duration_since(late),
            Duration::ZERO
        );
    }

    #[test]
    fn display_shows_seconds_and_millis() {
        assert_eq!(Timestamp::from_millis(12_016).to_string(), "12.016s");
        assert_eq!(Timestamp::from_secs(3).to_string(), "3.000s");
    }
}
