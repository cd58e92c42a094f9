//! Run statistics: plain values that add up ([`Stats`]), the reporter that watches a run
//! (per-second series, `--progress` line, Ctrl-C) and the end-of-run [`Summary`].

use std::fmt;
use std::io::Write;
use std::ops::{Add, AddAssign};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Counts of one run (or one part of it: per-chunk stats add up to the total).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Input bytes read.
    pub bytes: u64,
    /// Input lines (a last line without `\n` counts).
    pub lines: u64,
    /// Pre-token pieces.
    pub pieces: u64,
    /// Token ids produced (encode only).
    pub tokens: u64,
    /// `[UNK]` tokens among them.
    pub unk: u64,
    /// Invalid UTF-8 sequences replaced by U+FFFD (lossy mode).
    pub replaced: u64,
    /// Stream offset of the first replaced sequence, if any.
    pub first_replaced: Option<u64>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl Stats {
    /// Throughput in megabytes (10^6 bytes) per second.
    pub fn mb_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes as f64 / 1e6 / self.seconds
        } else {
            0.0
        }
    }

    /// Tokens (or pieces, for `split`) per second.
    pub fn tokens_per_s(&self) -> f64 {
        let n = if self.tokens > 0 {
            self.tokens
        } else {
            self.pieces
        };
        if self.seconds > 0.0 {
            n as f64 / self.seconds
        } else {
            0.0
        }
    }
}

impl Add for Stats {
    type Output = Stats;
    fn add(mut self, o: Stats) -> Stats {
        self += o;
        self
    }
}

impl AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.bytes += o.bytes;
        self.lines += o.lines;
        self.pieces += o.pieces;
        self.tokens += o.tokens;
        self.unk += o.unk;
        self.replaced += o.replaced;
        self.seconds += o.seconds;
        self.first_replaced = match (self.first_replaced, o.first_replaced) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// Watches a run (as the pipeline's [`crate::pipeline::Monitor`]): records the tokens delivered
/// in each second of wall time, draws the `--progress` line on stderr at most twice a second,
/// and stops the run when its stop flag (Ctrl-C) is raised.
pub struct Reporter {
    start: Instant,
    total_size: Option<u64>,
    progress: bool,
    pieces_not_tokens: bool,
    last_draw: Option<Instant>,
    drawn: bool,
    /// Tokens delivered in each complete second so far.
    series: Vec<u64>,
    /// Count at the start of the current second, and at the last update.
    bucket_start: u64,
    last_count: u64,
    last: Stats,
    stop: Option<Arc<AtomicBool>>,
    interrupted: bool,
}

/// Redraw the progress line at most this often.
const DRAW_EVERY: Duration = Duration::from_millis(500);

impl Reporter {
    /// A reporter starting now. `total_size`: the input size when known (percent and ETA);
    /// `progress`: draw the progress line; `pieces_not_tokens`: count pieces (for `split`).
    pub fn new(total_size: Option<u64>, progress: bool, pieces_not_tokens: bool) -> Self {
        Reporter {
            start: Instant::now(),
            total_size,
            progress,
            pieces_not_tokens,
            last_draw: None,
            drawn: false,
            series: Vec::new(),
            bucket_start: 0,
            last_count: 0,
            last: Stats::default(),
            stop: None,
            interrupted: false,
        }
    }

    /// Stop the run (cleanly, with the summary so far) when `flag` becomes true.
    pub fn stop_on(&mut self, flag: Arc<AtomicBool>) -> &mut Self {
        self.stop = Some(flag);
        self
    }

    /// True when the run was stopped by the stop flag.
    pub fn interrupted(&self) -> bool {
        self.interrupted
    }

    fn count(&self, s: &Stats) -> u64 {
        if self.pieces_not_tokens {
            s.pieces
        } else {
            s.tokens
        }
    }

    /// Progress so far; `false` when the stop flag is raised.
    pub fn observe(&mut self, so_far: &Stats) -> bool {
        let now = Instant::now();
        let sec = now.duration_since(self.start).as_secs() as usize;
        while self.series.len() < sec {
            // Close the current second with what was delivered in it; seconds without any
            // update get 0.
            self.series.push(self.last_count - self.bucket_start);
            self.bucket_start = self.last_count;
        }
        self.last_count = self.count(so_far);
        self.last = *so_far;
        if self.progress && self.last_draw.is_none_or(|t| now - t >= DRAW_EVERY) {
            self.last_draw = Some(now);
            self.draw(now);
        }
        if self
            .stop
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
        {
            self.interrupted = true;
            return false;
        }
        true
    }

    fn draw(&mut self, now: Instant) {
        let s = &self.last;
        let secs = now.duration_since(self.start).as_secs_f64().max(1e-9);
        let rate = self.count(s) as f64 / secs;
        let last_sec = self.series.last().map_or(rate, |&n| n as f64);
        let unit = if self.pieces_not_tokens {
            "pieces"
        } else {
            "tok"
        };
        let mut line = format!(
            "{}  {:.1} MB/s  {} {unit}/s (last 1 s), {} overall",
            human_bytes(s.bytes),
            s.bytes as f64 / 1e6 / secs,
            human_count(last_sec),
            human_count(rate)
        );
        if let Some(total) = self.total_size.filter(|&t| t > 0) {
            let pct = (s.bytes as f64 / total as f64 * 100.0).min(100.0);
            let bps = s.bytes as f64 / secs;
            let eta = if bps > 0.0 {
                format_duration(total.saturating_sub(s.bytes) as f64 / bps)
            } else {
                "?".into()
            };
            line.push_str(&format!("  {pct:.1}%  ETA {eta}"));
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line:<100}");
        let _ = err.flush();
        self.drawn = true;
    }

    /// The end of the run: clears the progress line and returns the summary of `stats` (the
    /// stats the run returned, or the last ones observed when it failed).
    pub fn finish(&mut self, stats: Option<&Stats>) -> Summary {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{:<100}\r", "");
            let _ = err.flush();
        }
        let wall = self.start.elapsed().as_secs_f64();
        let mut stats = *stats.unwrap_or(&self.last);
        stats.seconds = wall;
        // The per-second series: complete seconds, then the partial last one (not used for
        // the sustained rate).
        let mut series = self.series.clone();
        let partial = self.count(&stats).saturating_sub(self.bucket_start);
        let sustained: Vec<u64> = series.iter().skip(1).copied().collect();
        series.push(partial);
        Summary {
            stats,
            wall_seconds: wall,
            cpu_seconds: cpu_seconds(),
            simd: simd_level(),
            workers: 0,
            chunk_size: 0,
            unit: if self.pieces_not_tokens {
                "pieces"
            } else {
                "tokens"
            },
            input_size: self.total_size,
            per_second: series,
            sustained_median: median(&sustained),
            sustained_min: sustained.iter().min().copied(),
            interrupted: self.interrupted,
        }
    }
}

impl crate::pipeline::Monitor for Reporter {
    fn update(&mut self, so_far: &Stats) -> bool {
        self.observe(so_far)
    }
}

fn median(v: &[u64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut v = v.to_vec();
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
    })
}

/// The end-of-run report: counts, wall and CPU time, SIMD level and the sustained rate.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Merged counts (`seconds` = wall time).
    pub stats: Stats,
    /// Wall-clock seconds.
    pub wall_seconds: f64,
    /// User + system CPU seconds of the process (all threads), where the OS tells.
    pub cpu_seconds: Option<f64>,
    /// The scanner implementation in use.
    pub simd: &'static str,
    /// Worker threads.
    pub workers: usize,
    /// Bytes per chunk.
    pub chunk_size: usize,
    /// What the rates count: `tokens` (encode) or `pieces` (split).
    pub unit: &'static str,
    /// Input size when known.
    pub input_size: Option<u64>,
    /// Units delivered in each second of wall time (the last entry is a partial second).
    pub per_second: Vec<u64>,
    /// Median of the per-second rates after the first second (complete seconds only).
    pub sustained_median: Option<f64>,
    /// Minimum of the same.
    pub sustained_min: Option<u64>,
    /// The run was stopped by Ctrl-C.
    pub interrupted: bool,
}

impl Summary {
    /// Everything, as JSON (`--stats-json`, `bench --json`).
    pub fn to_json(&self) -> serde_json::Value {
        let s = &self.stats;
        serde_json::json!({
            "bytes": s.bytes,
            "lines": s.lines,
            "pieces": s.pieces,
            "tokens": s.tokens,
            "unk": s.unk,
            "replaced": s.replaced,
            "first_replaced": s.first_replaced,
            "wall_seconds": self.wall_seconds,
            "cpu_seconds": self.cpu_seconds,
            "mb_per_s": s.mb_per_s(),
            "units_per_s": s.tokens_per_s(),
            "unit": self.unit,
            "simd": self.simd,
            "workers": self.workers,
            "chunk_size": self.chunk_size,
            "input_size": self.input_size,
            "sustained_median_per_s": self.sustained_median,
            "sustained_min_per_s": self.sustained_min,
            "per_second": self.per_second,
            "interrupted": self.interrupted,
        })
    }
}

impl fmt::Display for Summary {
    /// `name value` rows, one per line (the `--stats` summary).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        let rate = |r: Option<f64>| r.map_or("n/a".to_string(), |r| grouped(r as u64));
        let unit = self.unit;
        let rows = [
            ("bytes", grouped(s.bytes)),
            ("lines", grouped(s.lines)),
            ("pieces", grouped(s.pieces)),
            ("tokens", grouped(s.tokens)),
            ("[UNK]", grouped(s.unk)),
            ("replaced", grouped(s.replaced)),
            ("seconds", format!("{:.3}", self.wall_seconds)),
            (
                "cpu-seconds",
                self.cpu_seconds.map_or("n/a".into(), |c| format!("{c:.3}")),
            ),
            ("MB/s", format!("{:.1}", s.mb_per_s())),
            ("tokens/s", grouped(s.tokens_per_s() as u64)),
            ("sustained", rate(self.sustained_median)),
            ("sustained-min", rate(self.sustained_min.map(|m| m as f64))),
            ("workers", self.workers.to_string()),
            ("simd", self.simd.to_string()),
        ];
        for (name, value) in rows {
            writeln!(f, "{name:<14}{value:>16}")?;
        }
        writeln!(
            f,
            "(sustained = median and minimum {unit}/s over the complete seconds after the first{})",
            if self.interrupted {
                "; interrupted"
            } else {
                ""
            }
        )
    }
}

/// The SIMD level the scanner dispatched to on this CPU (`TOKSTREAM_SIMD` can force one).
pub fn simd_level() -> &'static str {
    crate::scan::Scanner::detect().level().name()
}

/// User + system CPU seconds of this process (all threads), from `/proc/self/stat` (Linux;
/// `None` elsewhere). Ticks are USER_HZ = 100, fixed by the Linux ABI for /proc.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// `1234567890` → `1.23 GB`.
fn human_bytes(n: u64) -> String {
    let n = n as f64;
    match n {
        n if n >= 1e9 => format!("{:.2} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        n if n >= 1e3 => format!("{:.1} kB", n / 1e3),
        n => format!("{n} B"),
    }
}

/// `12345678.0` → `12.3M`.
fn human_count(n: f64) -> String {
    match n {
        n if n >= 1e9 => format!("{:.2}G", n / 1e9),
        n if n >= 1e6 => format!("{:.1}M", n / 1e6),
        n if n >= 1e3 => format!("{:.1}k", n / 1e3),
        n => format!("{n:.0}"),
    }
}

/// `83.2` → `1:23`.
fn format_duration(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// `1234567` → `1,234,567`.
fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

impl fmt::Display for Stats {
    /// The `--stats` summary, one `name value` pair per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = [
            ("bytes", grouped(self.bytes)),
            ("lines", grouped(self.lines)),
            ("pieces", grouped(self.pieces)),
            ("tokens", grouped(self.tokens)),
            ("[UNK]", grouped(self.unk)),
            ("replaced", grouped(self.replaced)),
            ("seconds", format!("{:.3}", self.seconds)),
            ("MB/s", format!("{:.1}", self.mb_per_s())),
            ("tokens/s", grouped(self.tokens_per_s() as u64)),
        ];
        for (name, value) in rows {
            writeln!(f, "{name:<10}{value:>16}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_add_up() {
        let a = Stats {
            bytes: 10,
            lines: 1,
            pieces: 3,
            tokens: 4,
            unk: 1,
            replaced: 0,
            first_replaced: None,
            seconds: 1.0,
        };
        let b = Stats {
            bytes: 5,
            lines: 2,
            pieces: 1,
            tokens: 1,
            unk: 0,
            replaced: 2,
            first_replaced: Some(9),
            seconds: 0.5,
        };
        let s = a + b;
        assert_eq!(
            (s.bytes, s.lines, s.pieces, s.tokens, s.unk, s.replaced),
            (15, 3, 4, 5, 1, 2)
        );
        assert_eq!(grouped(1234567), "1,234,567");
        assert_eq!(grouped(12), "12");
        assert!(s.to_string().contains("tokens/s"));
    }

    #[test]
    fn reporter_series_and_summary() {
        let mut r = Reporter::new(Some(100), false, false);
        let s = Stats {
            bytes: 50,
            tokens: 10,
            ..Stats::default()
        };
        assert!(r.observe(&s));
        let sum = r.finish(Some(&s));
        assert_eq!(sum.per_second.iter().sum::<u64>(), 10);
        assert_eq!(sum.sustained_median, None);
        assert!(sum.to_string().contains("sustained"));
        assert_eq!(sum.to_json()["tokens"], 10);
        let flag = Arc::new(AtomicBool::new(true));
        let mut r = Reporter::new(None, false, true);
        r.stop_on(flag);
        assert!(!r.observe(&s));
        assert!(r.interrupted());
        assert_eq!(median(&[3, 1, 2]), Some(2.0));
        assert_eq!(median(&[4, 1, 2, 3]), Some(2.5));
        assert_eq!(format_duration(83.2), "1:23");
        assert_eq!(format_duration(3725.0), "1:02:05");
        assert!(cpu_seconds().is_some_and(|c| c >= 0.0));
    }
}
