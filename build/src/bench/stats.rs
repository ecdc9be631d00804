//! Minimum, median and maximum of repeated measurements.

use serde_json::{json, Value};

/// Minimum, median and maximum of a set of samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub samples: Vec<f64>,
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Stats {
    /// `None` for no samples (or any sample that is not a finite number).
    pub fn of(samples: &[f64]) -> Option<Stats> {
        if samples.is_empty() || samples.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut s = samples.to_vec();
        s.sort_by(|a, b| a.total_cmp(b));
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        Some(Stats {
            samples: samples.to_vec(),
            min: s[0],
            median,
            max: s[n - 1],
        })
    }

    /// (max − min) / median: how far apart the repetitions are.
    pub fn spread(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            (self.max - self.min) / self.median
        }
    }

    pub fn to_json(&self) -> Value {
        json!({ "samples": self.samples, "min": self.min, "median": self.median,
                "max": self.max, "spread": self.spread() })
    }
}

/// Guest median / native median (> 1: the guest is slower).
pub fn ratio(guest: &Stats, native: &Stats) -> Option<f64> {
    (native.median > 0.0).then(|| guest.median / native.median)
}
