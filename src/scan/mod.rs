//! Byte scanning: classification of input bytes, UTF-8 decoding, and the vectorized ASCII
//! piece finder.
//!
//! # The ASCII piece finder
//!
//! Most text is mostly ASCII. [`Scanner::ascii_pieces`] finds BERT pieces in a run of
//! printable ASCII without looking at one byte at a time:
//!
//! ```text
//! for each 64-byte block:
//!     ws, punct, special = classify(block)          // three u64 bitmasks (see below)
//!     word   = !(ws | punct | special)
//!     starts = word & !(word << 1 | carry)          // first byte of each word
//!     ends   = !word & (word << 1 | carry)          // first byte after each word
//!     walk (starts | punct) with trailing_zeros:    // in order
//!         punct bit  -> span [i, i+1)
//!         start bit  -> span [i, next end bit) or the word continues in the next block
//!     newlines are reported as one-byte spans too (the caller turns them into line ends);
//!     stop at the first special byte (non-ASCII, or a control character); a word that
//!     touches it (or the end of the input) is left to the caller, which knows what follows.
//! ```
//!
//! `classify` is the only per-ISA code: a nibble-table lookup (simdjson's technique) gives
//! whitespace and punctuation bits, and the sign bit plus a compare give "special". The
//! tables are derived from [`class::BYTE_CLASS`] at compile time and tested against it.
//! Every implementation is checked against [`scalar`], the obvious byte loop.

pub mod class;
mod generic;
pub mod scalar;
pub mod utf8;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use std::sync::OnceLock;

pub use generic::BlockMasks;

/// Most spans [`Scanner::ascii_pieces`] returns per call: bounds the span buffer.
pub const MAX_SPANS: usize = 4096;

/// Spans found by [`Scanner::ascii_pieces`]: piece `k` is `starts[k]..ends[k]`, relative to
/// the scanned input, for `k < len`. Fixed capacity with slack for branch-free writes.
pub struct Spans {
    /// Piece starts.
    pub starts: Box<[u32]>,
    /// Piece ends (exclusive).
    pub ends: Box<[u32]>,
    /// Number of pieces.
    pub len: usize,
}

impl Default for Spans {
    fn default() -> Self {
        Spans {
            starts: vec![0; MAX_SPANS + 64].into_boxed_slice(),
            ends: vec![0; MAX_SPANS + 64].into_boxed_slice(),
            len: 0,
        }
    }
}

impl Spans {
    /// A placeholder that owns no memory (to move a buffer out and back without allocating).
    pub fn empty() -> Self {
        Spans {
            starts: Box::new([]),
            ends: Box::new([]),
            len: 0,
        }
    }

    /// Append one span.
    #[inline]
    pub fn push(&mut self, start: u32, end: u32) {
        self.starts[self.len] = start;
        self.ends[self.len] = end;
        self.len += 1;
    }

    /// The spans as pairs.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.starts[..self.len]
            .iter()
            .copied()
            .zip(self.ends[..self.len].iter().copied())
    }

    /// Forget every span.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// An implementation level of the scanner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// No piece finder at all: every byte goes through the rules engine's per-character
    /// reference path. The oracle.
    Reference,
    /// The piece finder as a plain byte loop (portable fallback).
    Scalar,
    /// x86-64 SSE4.2 (SSSE3 shuffles), 16 bytes at a time.
    Sse42,
    /// x86-64 AVX2, 32 bytes at a time.
    Avx2,
    /// x86-64 AVX-512BW, 64 bytes at a time.
    Avx512,
    /// aarch64 NEON, 16 bytes at a time.
    Neon,
}

impl Level {
    /// Every level, slowest first.
    pub const ALL: &'static [Level] = &[
        Level::Reference,
        Level::Scalar,
        Level::Sse42,
        Level::Avx2,
        Level::Avx512,
        Level::Neon,
    ];

    /// The name used by `TOKSTREAM_SIMD` and in `--stats`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Reference => "reference",
            Level::Scalar => "scalar",
            Level::Sse42 => "sse4.2",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
            Level::Neon => "neon",
        }
    }

    /// Parse a level name.
    pub fn from_name(s: &str) -> Option<Level> {
        Level::ALL.iter().copied().find(|l| l.name() == s)
    }

    /// True if this CPU can run the level.
    pub fn is_available(self) -> bool {
        match self {
            Level::Reference | Level::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Level::Sse42 => x86_64::sse42_available(),
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => x86_64::avx2_available(),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => x86_64::avx512_available(),
            #[cfg(target_arch = "aarch64")]
            Level::Neon => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Every level this CPU can run.
    pub fn available() -> Vec<Level> {
        Level::ALL
            .iter()
            .copied()
            .filter(|l| l.is_available())
            .collect()
    }

    /// The fastest level this CPU can run.
    pub fn best() -> Level {
        *Level::available().last().unwrap_or(&Level::Scalar)
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

type PiecesFn = fn(&[u8], &mut Spans) -> usize;

/// A piece finder bound to one implementation level. Cheap to copy; chosen once.
#[derive(Clone, Copy)]
pub struct Scanner {
    level: Level,
    pieces: Option<PiecesFn>,
}

impl PartialEq for Scanner {
    fn eq(&self, other: &Self) -> bool {
        self.level == other.level
    }
}

impl Eq for Scanner {}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scanner({})", self.level)
    }
}

impl Scanner {
    /// The scanner for `level`, or `None` if this CPU cannot run it.
    pub fn with_level(level: Level) -> Option<Scanner> {
        if !level.is_available() {
            return None;
        }
        let pieces: Option<PiecesFn> = match level {
            Level::Reference => None,
            Level::Scalar => Some(scalar::ascii_pieces),
            #[cfg(target_arch = "x86_64")]
            Level::Sse42 => Some(x86_64::ascii_pieces_sse42),
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => Some(x86_64::ascii_pieces_avx2),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => Some(x86_64::ascii_pieces_avx512),
            #[cfg(target_arch = "aarch64")]
            Level::Neon => Some(aarch64::ascii_pieces_neon),
            #[allow(unreachable_patterns)]
            _ => return None,
        };
        Some(Scanner { level, pieces })
    }

    /// The scanner used by default: `TOKSTREAM_SIMD` if set to an available level, else the
    /// fastest this CPU runs. Detected once and cached.
    pub fn detect() -> Scanner {
        static CHOSEN: OnceLock<Scanner> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let forced = std::env::var("TOKSTREAM_SIMD")
                .ok()
                .and_then(|s| Level::from_name(&s));
            forced.and_then(Scanner::with_level).unwrap_or_else(|| {
                Scanner::with_level(Level::best()).expect("the best level is available")
            })
        })
    }

    /// The level in use.
    pub fn level(&self) -> Level {
        self.level
    }

    /// False for [`Level::Reference`]: the caller does everything per character.
    #[inline]
    pub fn has_piece_finder(&self) -> bool {
        self.pieces.is_some()
    }

    /// Find BERT pieces (ASCII words and single ASCII punctuation characters) at the start of
    /// `input`, appending their spans to `out` (at most [`MAX_SPANS`] per call); each `\n` is
    /// reported as the one-byte span `[i, i+1)` so the caller can report line ends in order.
    /// Returns the position where the caller must take over: the first byte that is neither
    /// printable ASCII nor whitespace, or the start of a word that touches it or the end of
    /// `input`, or a position between pieces where the span buffer filled up. Every piece before that
    /// position has been reported; at it, no piece is in progress.
    #[inline]
    pub fn ascii_pieces(&self, input: &[u8], out: &mut Spans) -> usize {
        match self.pieces {
            Some(f) => f(input, out),
            None => 0,
        }
    }
}

/// The name of the scanner level in use (for `--version` and `--stats`).
pub fn implementation() -> &'static str {
    Scanner::detect().level().name()
}

#[cfg(test)]
mod tests {
    use super::generic::{ascii_pieces_scalar_masks, classify_scalar};
    use super::*;

    /// A deterministic xorshift stream for test inputs.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed | 1;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    fn vector_classifiers(block: &[u8; 64]) -> Vec<(&'static str, BlockMasks)> {
        #[cfg(target_arch = "x86_64")]
        return x86_64::classify_all(block);
        #[cfg(target_arch = "aarch64")]
        return aarch64::classify_all(block);
        #[allow(unreachable_code)]
        Vec::new()
    }

    #[test]
    fn every_classifier_agrees_with_the_scalar_one() {
        let mut next = rng(7);
        // Every byte value at every position, then random blocks biased to ASCII.
        let mut blocks: Vec<[u8; 64]> = (0..=255u8)
            .map(|b| std::array::from_fn(|i| b.wrapping_add((i as u8).wrapping_mul(37))))
            .collect();
        for _ in 0..20_000 {
            blocks.push(std::array::from_fn(|_| {
                let r = next();
                if r.is_multiple_of(4) {
                    r as u8
                } else {
                    b" \n\t\r.,!_#aZ09xyz\x01\x7f"[(r >> 8) as usize % 18]
                }
            }));
        }
        for block in &blocks {
            let want = classify_scalar(block);
            for (name, got) in vector_classifiers(block) {
                assert_eq!(got, want, "{name} on {block:?}");
            }
        }
    }

    fn all_pieces(f: impl Fn(&[u8], &mut Spans) -> usize, input: &[u8]) -> Vec<(usize, usize)> {
        // Drive a finder over the whole input the way the engine does, skipping the bytes it
        // leaves to the caller up to the next whitespace.
        let mut out = Vec::new();
        let mut spans = Spans::default();
        let mut pos = 0;
        while pos < input.len() {
            spans.clear();
            let stop = f(&input[pos..], &mut spans);
            out.extend(
                spans
                    .iter()
                    .map(|(s, e)| (pos + s as usize, pos + e as usize)),
            );
            if spans.len >= MAX_SPANS - 64 {
                pos += stop; // the buffer filled up: carry on from the stop
                continue;
            }
            out.push((usize::MAX, pos + stop)); // where the caller takes over
            pos += stop;
            while pos < input.len() && !matches!(input[pos], b' ' | b'\t') {
                pos += 1;
            }
        }
        out
    }

    #[test]
    fn every_piece_finder_agrees_with_the_scalar_one() {
        let mut next = rng(11);
        let mut inputs: Vec<Vec<u8>> = vec![
            b"hello, world! foo-bar_baz (x) y.".to_vec(),
            b"a".repeat(200),
            b"!".repeat(5000),
            b"ab ".repeat(3000),
            "caf\u{e9} na\u{ef}ve \u{4e16}\u{754c}\nline two\r\nthree"
                .as_bytes()
                .to_vec(),
        ];
        for len in [0, 1, 2, 63, 64, 65, 127, 128, 129, 300, 1000] {
            for _ in 0..200 {
                inputs.push(
                    (0..len)
                        .map(|_| {
                            let r = next();
                            if r.is_multiple_of(16) {
                                r as u8
                            } else {
                                b" \n.,aZ09bc\tdef!"[(r >> 8) as usize % 15]
                            }
                        })
                        .collect(),
                );
            }
        }
        for input in &inputs {
            let want = all_pieces(scalar::ascii_pieces, input);
            assert_eq!(
                all_pieces(ascii_pieces_scalar_masks, input),
                want,
                "mask walk on {input:?}"
            );
            for level in Level::available() {
                if let Some(s) = Scanner::with_level(level).filter(|s| s.has_piece_finder()) {
                    let got = all_pieces(|i, o| s.ascii_pieces(i, o), input);
                    assert_eq!(got, want, "{level} on {:?}", String::from_utf8_lossy(input));
                }
            }
        }
    }
}
