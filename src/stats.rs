//! Run statistics: plain values that add up, and their human-readable summary.

use std::fmt;
use std::ops::{Add, AddAssign};

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
}
