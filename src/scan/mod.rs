//! Byte scanning: classification of input bytes, UTF-8 decoding, and the vectorized piece
//! finder.
//!
//! # The piece finder
//!
//! Most text is mostly ASCII, and Chinese text is mostly CJK ideographs and punctuation.
//! [`Scanner::find_pieces`] finds BERT pieces in runs of printable ASCII, CJK ideographs and
//! other one-character pieces without looking at one byte at a time:
//!
//! ```text
//! for each 64-byte block:
//!     ws, punct, special = classify(block)          // three u64 bitmasks (see below)
//!     if special has bits and CJK isolation is on:
//!         cont, lead, e4, ge_b8 = utf8(block)       // four more bitmasks
//!         cjk  = (lead | e4 & ge_b8 >> 1) & cont >> 1 & cont >> 2   // U+4E00..U+9FFF
//!         special &= !(cjk | cjk << 1 | cjk << 2)   // those three bytes are handled here
//!     while the first special byte starts a character of the `CharTable`:
//!         a single (`，` `“`): add it like a CJK ideograph; a word character (`１`): nothing
//!         to add; either way clear its bytes from special
//!     word   = !(ws | punct | special | one-char piece bytes)
//!     starts = word & !(word << 1 | carry) | punct | one-char piece leads
//!     ends   = !word & (word << 1 | carry) | punct << 1 | one-char piece ends
//!     flatten starts and ends with trailing_zeros   // simdjson's branch-light writes
//!     newlines are reported as one-byte spans too (the caller turns them into line ends);
//!     stop at the first special byte (other non-ASCII, or a control character); a word
//!     that touches it (or the end of the input) is left to the caller, which knows what
//!     follows. Bits that cross into the next block (a CJK character's continuation bytes,
//!     an end at byte 64+) are carried.
//! ```
//!
//! `classify` and `utf8` are the only per-ISA code: a nibble-table lookup (simdjson's
//! technique) gives whitespace and punctuation bits, and the sign bit plus a compare give
//! "special"; four compares give the UTF-8 masks, computed only for blocks with non-ASCII
//! bytes. The tables are derived from [`class::BYTE_CLASS`] at compile time and tested
//! against it. Every implementation is checked against [`scalar`], the obvious byte loop.

pub mod class;
mod generic;
pub mod gpt;
pub mod scalar;
pub mod utf8;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use std::sync::OnceLock;

pub use generic::{BlockMasks, Utf8Masks};

/// Start loading the cache line of `*p` (for hash probes issued a group at a time); a no-op
/// where no prefetch instruction is wired up.
#[inline(always)]
pub fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    x86_64::prefetch(p);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Most spans [`Scanner::find_pieces`] returns per call: bounds the span buffer.
pub const MAX_SPANS: usize = 4096;

/// What the piece finder does with a non-ASCII character (see [`CharTable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CharClass {
    /// Stop: the caller's rules engine handles it.
    Other,
    /// A piece of its own (a CJK ideograph, punctuation).
    Single,
    /// A word character, part of a word piece with its neighbours (`１`, `ａ`).
    Word,
}

/// The non-ASCII characters of the Basic Multilingual Plane (2- and 3-byte UTF-8) that
/// [`Scanner::find_pieces`] handles itself, and how; all must normalize to themselves under
/// the caller's rules. Two bitmaps (16 KiB), built once per rule setting.
pub struct CharTable {
    single: Box<[u64; 1024]>,
    word: Box<[u64; 1024]>,
    cjk: bool,
}

impl CharTable {
    /// The class of each character `U+0080..=U+FFFF` by `class`.
    pub fn new(class: impl Fn(char) -> CharClass) -> CharTable {
        let mut single = Box::new([0u64; 1024]);
        let mut word = Box::new([0u64; 1024]);
        for cp in 0x80..0x1_0000u32 {
            let bit = 1 << (cp & 63);
            match char::from_u32(cp).map(&class) {
                Some(CharClass::Single) => single[cp as usize >> 6] |= bit,
                Some(CharClass::Word) => word[cp as usize >> 6] |= bit,
                _ => {}
            }
        }
        let mut t = CharTable {
            single,
            word,
            cjk: false,
        };
        // The vector path finds U+4E00..U+9FFF by compares: only when all are singles.
        t.cjk = ('\u{4E00}'..='\u{9FFF}').all(|c| t.class(c) == CharClass::Single);
        t
    }

    /// The CJK ideographs U+4E00..U+9FFF as singles, nothing else (built once).
    pub fn cjk_ideographs() -> &'static CharTable {
        static CJK: OnceLock<CharTable> = OnceLock::new();
        CJK.get_or_init(|| {
            CharTable::new(|c| {
                if ('\u{4E00}'..='\u{9FFF}').contains(&c) {
                    CharClass::Single
                } else {
                    CharClass::Other
                }
            })
        })
    }

    /// The class of `c`.
    #[inline(always)]
    pub fn class(&self, c: char) -> CharClass {
        let cp = c as usize;
        if cp >= 0x1_0000 {
            CharClass::Other
        } else if (self.single[cp >> 6] >> (cp & 63)) & 1 != 0 {
            CharClass::Single
        } else if (self.word[cp >> 6] >> (cp & 63)) & 1 != 0 {
            CharClass::Word
        } else {
            CharClass::Other
        }
    }

    /// True if every CJK ideograph U+4E00..U+9FFF is a single.
    pub fn has_cjk(&self) -> bool {
        self.cjk
    }

    /// The length of the character at `input[i..]` and whether it is a word character, if
    /// it is a well-formed 2- or 3-byte sequence of a single or word character; else length 0.
    #[inline(always)]
    pub(crate) fn class_at(&self, input: &[u8], i: usize) -> (usize, bool) {
        let b = input.get(i..).unwrap_or(&[]);
        let cont = |k: usize| b.get(k).is_some_and(|&x| x & 0xC0 == 0x80);
        let (cp, len) = match b.first() {
            Some(&b0 @ 0xC2..=0xDF) if cont(1) => {
                ((b0 as usize & 0x1F) << 6 | (b[1] as usize & 0x3F), 2)
            }
            Some(&b0 @ 0xE0..=0xEF) if cont(1) && cont(2) => {
                let cp = (b0 as usize & 0x0F) << 12
                    | (b[1] as usize & 0x3F) << 6
                    | (b[2] as usize & 0x3F);
                // An overlong form is not the character (surrogates are in neither set).
                if cp < 0x800 {
                    return (0, false);
                }
                (cp, 3)
            }
            _ => return (0, false),
        };
        let (single, word) = (
            self.single[cp >> 6] >> (cp & 63),
            self.word[cp >> 6] >> (cp & 63),
        );
        if single & 1 != 0 {
            (len, false)
        } else if word & 1 != 0 {
            (len, true)
        } else {
            (0, false)
        }
    }
}

/// Spans found by [`Scanner::find_pieces`]: piece `k` is `starts[k]..ends[k]`, relative to
/// the scanned input, for `k < len`. Fixed capacity with slack for branch-free writes.
pub struct Spans {
    /// Piece starts.
    pub starts: Box<[u32]>,
    /// Piece ends (exclusive).
    pub ends: Box<[u32]>,
    /// Number of spans.
    pub len: usize,
    /// How many of them are `\n` line ends rather than pieces.
    pub line_ends: usize,
    /// Some word piece contains a non-ASCII character (else every word is ASCII).
    pub multibyte_words: bool,
}

impl Default for Spans {
    fn default() -> Self {
        Spans {
            starts: vec![0; MAX_SPANS + 64].into_boxed_slice(),
            ends: vec![0; MAX_SPANS + 64].into_boxed_slice(),
            len: 0,
            line_ends: 0,
            multibyte_words: false,
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
            line_ends: 0,
            multibyte_words: false,
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
        self.line_ends = 0;
        self.multibyte_words = false;
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
    /// x86-64 AVX-512BW with VBMI2 (index compression), 64 bytes at a time.
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

type PiecesFn = fn(&[u8], Option<&CharTable>, &mut Spans) -> usize;

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
            Level::Scalar => Some(scalar::find_pieces),
            #[cfg(target_arch = "x86_64")]
            Level::Sse42 => Some(x86_64::find_pieces_sse42),
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => Some(x86_64::find_pieces_avx2),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => Some(x86_64::find_pieces_avx512),
            #[cfg(target_arch = "aarch64")]
            Level::Neon => Some(aarch64::find_pieces_neon),
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

    /// Find BERT pieces (words of ASCII letters and digits and the word characters of
    /// `table`, single ASCII punctuation characters, and the singles of `table`) at the start
    /// of `input`, appending their spans to `out` (at most
    /// [`MAX_SPANS`] per call); each `\n` is reported as the one-byte span `[i, i+1)` so the
    /// caller can report line ends in order. Returns the position where the caller must take
    /// over: the first byte that is not printable ASCII, whitespace or part of such a
    /// character, or the start of a word that touches it or the end of `input`, or a position
    /// between pieces where the span buffer filled up. Every piece before that position has
    /// been reported; at it, no piece is in progress.
    #[inline]
    pub fn find_pieces(&self, input: &[u8], table: Option<&CharTable>, out: &mut Spans) -> usize {
        match self.pieces {
            Some(f) => f(input, table, out),
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
    use super::generic::{classify_scalar, find_pieces_scalar_masks};
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

    fn vector_classifiers(block: &[u8; 64]) -> Vec<(&'static str, BlockMasks, Utf8Masks)> {
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
                } else if r.is_multiple_of(3) {
                    [0xE4, 0xE5, 0xE9, 0xEA, 0xB7, 0xB8, 0xBF, 0xC0, 0x80][(r >> 8) as usize % 9]
                } else {
                    b" \n\t\r.,!_#aZ09xyz\x01\x7f"[(r >> 8) as usize % 18]
                }
            }));
        }
        for block in &blocks {
            let (want, want_utf8) = classify_scalar(block);
            for (name, got, got_utf8) in vector_classifiers(block) {
                assert_eq!(got, want, "{name} on {block:?}");
                assert_eq!(got_utf8, want_utf8, "{name} (utf8) on {block:?}");
            }
        }
    }

    fn all_pieces(
        f: impl Fn(&[u8], Option<&CharTable>, &mut Spans) -> usize,
        input: &[u8],
        singles: Option<&CharTable>,
    ) -> Vec<(usize, usize)> {
        // Drive a finder over the whole input the way the engine does, skipping the bytes it
        // leaves to the caller up to the next whitespace.
        let mut out = Vec::new();
        let mut spans = Spans::default();
        let mut pos = 0;
        while pos < input.len() {
            spans.clear();
            let stop = f(&input[pos..], singles, &mut spans);
            let newlines = spans
                .iter()
                .filter(|&(s, _)| input[pos + s as usize] == b'\n');
            assert_eq!(spans.line_ends, newlines.count(), "line ends counted");
            // A piece with a non-ASCII byte that is not one single character is a word with
            // a non-ASCII character: the finder must say so.
            let multibyte_word = spans.iter().any(|(s, e)| {
                let p = &input[pos + s as usize..pos + e as usize];
                let single = singles.is_some_and(|t| t.class_at(p, 0) == (p.len(), false));
                !p.is_ascii() && !single
            });
            assert!(
                spans.multibyte_words || !multibyte_word,
                "multibyte words flagged"
            );
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
            "\u{4e16}".repeat(100).into_bytes(),
            "ab\u{4e16}cd\u{4dff}\u{4e00}\u{9fff}\u{a000}\u{3001}x"
                .repeat(30)
                .into_bytes(),
        ];
        // Pieces from a pool that includes CJK ideographs, their neighbours and broken
        // sequences, so characters cross block boundaries at every offset.
        let pool: Vec<Vec<u8>> = [
            " ",
            "\n",
            ".",
            ",",
            "a",
            "Z",
            "0",
            "bc",
            "def",
            "!",
            "\t",
            "\u{4e00}",
            "\u{4e16}",
            "\u{9fff}",
            "\u{4dff}",
            "\u{3000}",
            "\u{e9}",
            "\u{1F600}",
            "\u{3001}",
            "\u{b7}",
            "\u{201c}",
            "\u{ff11}",
            "\u{ff11}\u{ff11}",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .chain([
            vec![0xE5],
            vec![0xE5, 0x80],
            vec![0x80],
            vec![0xE4, 0xB8],
            vec![0xE0, 0x82, 0xB7], // an overlong U+00B7
            vec![0xC2],
        ])
        .collect();
        for len in [1, 5, 21, 22, 23, 40, 100, 400] {
            for _ in 0..200 {
                let mut s = Vec::new();
                for _ in 0..len {
                    s.extend_from_slice(&pool[next() as usize % pool.len()]);
                }
                inputs.push(s);
            }
        }
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
        // No table; CJK ideographs, some punctuation and word characters (the vector CJK path
        // and the scalar one); no vector CJK path.
        let cjk_and_punct = CharTable::new(|c| {
            if ('\u{4E00}'..='\u{9FFF}').contains(&c)
                || matches!(c, '\u{3001}' | '\u{b7}' | '\u{201c}')
            {
                CharClass::Single
            } else if matches!(c, '\u{ff11}' | '\u{e9}') {
                CharClass::Word
            } else {
                CharClass::Other
            }
        });
        let punct_only = CharTable::new(|c| match c {
            '\u{3001}' | '\u{4e16}' | '\u{e9}' => CharClass::Single,
            '\u{ff11}' | '\u{4e00}' | '\u{b7}' => CharClass::Word,
            _ => CharClass::Other,
        });
        assert!(cjk_and_punct.has_cjk() && !punct_only.has_cjk());
        for input in &inputs {
            for singles in [None, Some(&cjk_and_punct), Some(&punct_only)] {
                let want = all_pieces(scalar::find_pieces, input, singles);
                let which = singles.map(|t| t.has_cjk());
                assert_eq!(
                    all_pieces(find_pieces_scalar_masks, input, singles),
                    want,
                    "mask walk (singles {which:?}) on {input:?}"
                );
                for level in Level::available() {
                    if let Some(s) = Scanner::with_level(level).filter(|s| s.has_piece_finder()) {
                        let got = all_pieces(|i, t, o| s.find_pieces(i, t, o), input, singles);
                        let text = String::from_utf8_lossy(input);
                        assert_eq!(got, want, "{level} (singles {which:?}) on {text:?}");
                    }
                }
            }
        }
    }
}
