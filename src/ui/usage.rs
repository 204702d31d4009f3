//! Resource history: CPU % and resident memory of each service's whole
//! group (members, escaped, orphans), one sample per inspection, over the
//! last ten minutes; drawn as sparklines.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Ten minutes of samples at the dashboard's 2 s inspection.
pub const WINDOW: Duration = Duration::from_secs(600);
const CAP: usize = 300;

#[derive(Debug, Default, Clone)]
pub struct History {
    /// (when, CPU % of a core, resident bytes)
    samples: VecDeque<(Instant, f32, u64)>,
    last: Option<Instant>,
}

impl History {
    /// A sample from an inspection taken at `at` (ignored if already seen).
    pub fn record(&mut self, at: Instant, cpu: f32, rss: u64) {
        if self.last == Some(at) {
            return;
        }
        self.last = Some(at);
        self.samples.push_back((at, cpu, rss));
        while self.samples.len() > CAP
            || self
                .samples
                .front()
                .is_some_and(|(t, ..)| at.saturating_duration_since(*t) > WINDOW)
        {
            self.samples.pop_front();
        }
    }

    pub fn cpu(&self) -> Vec<f64> {
        self.samples.iter().map(|s| s.1 as f64).collect()
    }

    pub fn rss(&self) -> Vec<f64> {
        self.samples.iter().map(|s| s.2 as f64).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// The sum of several services' histories, sample by sample from the
/// newest (they are sampled together, every inspection).
pub fn total(hs: &[&History], pick: impl Fn(&History) -> Vec<f64>) -> Vec<f64> {
    let series: Vec<Vec<f64>> = hs.iter().map(|h| pick(h)).collect();
    let n = series.iter().map(Vec::len).max().unwrap_or(0);
    (0..n)
        .map(|k| {
            series
                .iter()
                .filter_map(|s| s.len().checked_sub(n - k).map(|i| s[i]))
                .sum()
        })
        .collect()
}

/// `values` squeezed into `width` cells of ▁…█ (each cell the largest value
/// of its stretch), scaled to the largest value or `floor`, whichever is
/// more; newest on the right, blank where there is no history yet.
pub fn sparkline(values: &[f64], width: usize, floor: f64) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if width == 0 {
        return String::new();
    }
    let per = values.len().div_ceil(width).max(1);
    let cells: Vec<f64> = values
        .rchunks(per)
        .take(width)
        .map(|c| c.iter().cloned().fold(0.0, f64::max))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let max = cells.iter().cloned().fold(floor, f64::max);
    let mut out = " ".repeat(width - cells.len());
    for v in cells {
        let i = ((v / max) * 7.0).round().clamp(0.0, 7.0) as usize;
        out.push(BARS[i]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_squeeze_and_pad() {
        assert_eq!(sparkline(&[0.0, 50.0, 100.0], 3, 1.0), "▁▅█");
        assert_eq!(
            sparkline(&[1.0, 1.0], 4, 100.0),
            "  ▁▁",
            "floor keeps noise low"
        );
        // Six samples in three cells: the larger of each pair.
        assert_eq!(sparkline(&[0.0, 8.0, 0.0, 0.0, 4.0, 0.0], 3, 1.0), "█▁▅");
        assert_eq!(sparkline(&[], 3, 1.0), "   ");
    }

    #[test]
    fn history_keeps_ten_minutes_once_per_inspection() {
        let t = Instant::now();
        let mut h = History::default();
        for i in 0..400u64 {
            let at = t + Duration::from_secs(2 * i);
            h.record(at, i as f32, i * 10);
            h.record(at, 999.0, 0); // the same inspection again: ignored
        }
        assert_eq!(h.cpu().len(), 300);
        assert_eq!(*h.cpu().last().unwrap(), 399.0);
        let other = History::default();
        assert_eq!(total(&[&h, &other], History::rss).len(), 300);
    }
}
