//! Axis ticks: time (seconds, minutes or hours, by run length) and counts.

/// A tick on the time axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimeTick {
    pub t_s: u64,
    pub label: String,
}

/// Ticks for `[t0, t_end]`: whole seconds up to 5 minutes, whole minutes up
/// to 2 hours, whole hours beyond; at most 10 intervals.
pub(crate) fn time_ticks(t0: u64, t_end: u64) -> Vec<TimeTick> {
    let span = t_end.saturating_sub(t0).max(1);
    let (unit, name, steps): (u64, &str, &[u64]) = if t_end <= 300 {
        (1, "s", &[1, 2, 5, 10, 15, 20, 30, 60])
    } else if t_end <= 7200 {
        (60, "min", &[1, 2, 5, 10, 15, 20, 30, 60])
    } else {
        (3600, "h", &[1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720])
    };
    let step = steps
        .iter()
        .map(|s| s * unit)
        .find(|s| span / s <= 10)
        .unwrap_or_else(|| {
            // Longer than the table: a multiple of the largest step.
            let largest = steps[steps.len() - 1] * unit;
            span.div_ceil(10).div_ceil(largest) * largest
        });
    let first = t0.div_ceil(step) * step;
    (0..)
        .map(|i| first + i * step)
        .take_while(|&t| t <= t_end)
        .map(|t| TimeTick {
            t_s: t,
            label: if t == 0 {
                "0".to_string()
            } else {
                format!("{} {name}", t / unit)
            },
        })
        .collect()
}

/// A value axis from `min` (≤ 0) to `max` (≥ 0) with ticks every `step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ValueAxis {
    pub min: i64,
    pub max: i64,
    pub step: i64,
}

impl ValueAxis {
    /// An axis from 0 up to at least `top`, about four ticks.
    pub(crate) fn up_to(top: u64) -> ValueAxis {
        let top = top.max(1) as i64;
        let step = nice_step(top, 4);
        ValueAxis {
            min: 0,
            max: ceil_to(top, step),
            step,
        }
    }

    /// An axis with `up` above zero and `down` below, one step shared, each
    /// side at least one step tall.
    pub(crate) fn up_down(up: u64, down: u64) -> ValueAxis {
        let (up, down) = (up.max(1) as i64, down.max(1) as i64);
        let step = nice_step(up + down, 4);
        ValueAxis {
            min: -ceil_to(down, step),
            max: ceil_to(up, step),
            step,
        }
    }

    pub(crate) fn ticks(&self) -> impl Iterator<Item = i64> + '_ {
        let first = self.min.div_euclid(self.step) * self.step;
        (0..)
            .map(move |i| first + i * self.step)
            .take_while(move |&v| v <= self.max)
            .filter(move |&v| v >= self.min)
    }
}

/// `v` rounded up to a multiple of `step` (both positive).
fn ceil_to(v: i64, step: i64) -> i64 {
    (v + step - 1) / step * step
}

/// The smallest 1·10ⁿ, 2·10ⁿ or 5·10ⁿ (n ≥ 0) with `range / step ≤ max_ticks`.
fn nice_step(range: i64, max_ticks: i64) -> i64 {
    let mut magnitude = 1i64;
    loop {
        for m in [1, 2, 5] {
            let step = m * magnitude;
            if range <= step * max_ticks {
                return step;
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(t0: u64, t_end: u64) -> Vec<String> {
        time_ticks(t0, t_end).into_iter().map(|t| t.label).collect()
    }

    #[test]
    fn time_axis() {
        assert_eq!(
            labels(0, 60),
            ["0", "10 s", "20 s", "30 s", "40 s", "50 s", "60 s"]
        );
        assert_eq!(
            labels(0, 20),
            [
                "0", "2 s", "4 s", "6 s", "8 s", "10 s", "12 s", "14 s", "16 s", "18 s", "20 s"
            ]
        );
        assert_eq!(
            labels(0, 900),
            [
                "0", "2 min", "4 min", "6 min", "8 min", "10 min", "12 min", "14 min"
            ]
        );
        assert_eq!(labels(0, 3600).len(), 7);
        assert_eq!(labels(0, 86_400)[1], "3 h");
        assert_eq!(labels(0, 86_400).last().map(String::as_str), Some("24 h"));
        assert_eq!(
            labels(5, 20),
            ["6 s", "8 s", "10 s", "12 s", "14 s", "16 s", "18 s", "20 s"]
        );
        assert!(time_ticks(0, 100_000_000).len() <= 11);
    }

    #[test]
    fn value_axis() {
        assert_eq!(
            ValueAxis::up_to(0),
            ValueAxis {
                min: 0,
                max: 1,
                step: 1
            }
        );
        assert_eq!(
            ValueAxis::up_to(10),
            ValueAxis {
                min: 0,
                max: 10,
                step: 5
            }
        );
        assert_eq!(
            ValueAxis::up_to(250),
            ValueAxis {
                min: 0,
                max: 300,
                step: 100
            }
        );
        assert_eq!(
            ValueAxis::up_to(16),
            ValueAxis {
                min: 0,
                max: 20,
                step: 5
            }
        );
        let a = ValueAxis::up_down(4, 1);
        assert_eq!(
            a,
            ValueAxis {
                min: -2,
                max: 4,
                step: 2
            }
        );
        assert_eq!(a.ticks().collect::<Vec<_>>(), [-2, 0, 2, 4]);
    }
}
