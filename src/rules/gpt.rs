//! The GPT-family pre-tokenizers: tiktoken's gpt2 (= r50k/p50k), cl100k and o200k patterns
//! (SPEC.md section 3), hand-written without a regex engine.
//!
//! # Matching
//!
//! Each pattern is a list of alternatives taken leftmost-first with backtracking semantics. The
//! matchers below (`gpt2`, `cl100k`, `o200k`) decide, at the start of the remaining text,
//! which alternative wins and where it ends, by looking at character classes only: `\p{L}`,
//! `\p{N}`, `\s` (White_Space), o200k's upper/lower classes, from the tables generated from the
//! regex-syntax version inside tiktoken ([`crate::unicode::gpt_tables`]). ASCII takes a table
//! lookup per byte; other characters are decoded and looked up in the two-level table. The
//! derivation of each rule from the regex (including the `\s+(?!\S)` look-ahead, possessive
//! quantifiers and o200k's backtracking between its two letter classes) is written next to the
//! code; the `fancy-regex` property tests in `tests/it/gpt.rs` check it on random text.
//!
//! # Streaming
//!
//! A matcher reads the text through `Text`, which answers "need more input" when it is asked
//! for a character beyond the bytes available before the end of the stream. The engine then
//! keeps the unfinished piece (and only it) and tries again when more input has come in, so a
//! piece is only reported once its end no longer depends on what follows: the output is the
//! same for every way of cutting the stream into chunks. To stay linear when input arrives in
//! tiny chunks, an unfinished piece of `n` bytes is retried only once `2n` bytes are held.
//! [`safe_cut`] gives positions where a fresh engine produces the same pieces (used by the
//! parallel pipeline to start independent engines).
//!
//! # Long pieces (bounded memory)
//!
//! A piece longer than [`GptConfig::max_piece`] bytes is cut at deterministic positions: the
//! first character boundary at or after `start + k * max_piece` (k = 1, 2, ...) where a fresh
//! match gives exactly the rest of the piece (checked on a window of characters around the cut,
//! see `GptSplitter::valid_cut`; inside long homogeneous runs of letters, digits, symbols or
//! whitespace this holds). With [`GptConfig::split_long`] (what `encode` uses) each part is
//! reported as a piece of its own, so BPE never sees more than about `max_piece` bytes; `split`
//! reports the leading parts as [`PieceSink::raw_fragment`]s of one piece. The cut positions
//! depend only on the piece's bytes, never on chunking. Pieces with no valid cut (for example a
//! whitespace run that contains a newline and then gigabytes of spaces, whose end decides
//! whether the newline ends the piece) are held whole.
//!
//! # Lines
//!
//! A piece may contain `\n` (`"\n\n"`, `".\n"`, `" \n"`). [`PieceSink::line_end`] is reported
//! right after the piece that contains the `\n`, once per `\n`: every piece (and so every
//! token of it) belongs to the line on which it starts, and a piece holding k newlines is
//! followed by k line ends. This is exact and independent of chunking.
//!
//! # Invalid UTF-8
//!
//! Lossy by default: each maximal invalid sequence (as `String::from_utf8_lossy` replaces it)
//! is classified as the character U+FFFD (a symbol, `[^\s\p{L}\p{N}]`), but pieces carry the
//! ORIGINAL bytes, so BPE encodes them and `decode(encode(x)) == x` for any bytes. Replacements
//! are counted. With `strict_utf8` the first invalid sequence is an error naming its offset.

use std::cell::Cell;

use crate::error::{Error, ErrorKind};
use crate::rules::{Piece, PieceRun, PieceSink};
use crate::scan::gpt::{GptFinder, GptKind, GptSpans};
use crate::scan::utf8::{Decoded, decode};
use crate::unicode::gpt_tables::{GPT_BLOCKS, GPT_INDEX, L, LO, N, S, UP, gpt_class};

/// Class bit for `\r` and `\n` (not in the generated table).
pub const CRLF: u8 = 64;
/// Class bit of the end of the text.
pub const END: u8 = 128;

/// Bytes of lookahead a long-piece cut is validated on (see [`GptSplitter::valid_cut`]).
const CUT_WINDOW: usize = 16;

/// Default [`GptConfig::max_piece`]: 1 MiB.
pub const DEFAULT_MAX_PIECE: usize = 1 << 20;

/// Which tiktoken pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GptPattern {
    /// gpt2, r50k_base, p50k_base.
    Gpt2,
    /// cl100k_base.
    Cl100k,
    /// o200k_base.
    O200k,
}

impl GptPattern {
    /// The exact tiktoken pattern string (SPEC.md section 3), for oracles and docs.
    pub fn regex(self) -> &'static str {
        match self {
            GptPattern::Gpt2 => {
                r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"
            }
            GptPattern::Cl100k => {
                r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"
            }
            GptPattern::O200k => concat!(
                r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
                r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
                r"|\p{N}{1,3}",
                r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
                r"|\s*[\r\n]+",
                r"|\s+(?!\S)",
                r"|\s+"
            ),
        }
    }

    /// Length of the piece at the start of `t`, or [`More`] if it depends on unseen input.
    #[inline]
    pub(crate) fn next(self, t: &Text<'_>) -> Result<usize, More> {
        match self {
            GptPattern::Gpt2 => gpt2(t),
            GptPattern::Cl100k => cl100k(t),
            GptPattern::O200k => o200k(t),
        }
    }
}

/// Settings of a GPT rules engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GptConfig {
    /// The pattern.
    pub pattern: GptPattern,
    /// Reject invalid UTF-8 with an error instead of classifying it as U+FFFD.
    pub strict_utf8: bool,
    /// Pieces longer than this many bytes are cut where that is exact (see the module docs).
    pub max_piece: usize,
    /// Report the parts of a long piece as separate pieces (for BPE) instead of as raw
    /// fragments of one piece (for `split`).
    pub split_long: bool,
}

impl GptConfig {
    /// Settings for `split` output.
    pub fn new(pattern: GptPattern) -> Self {
        GptConfig {
            pattern,
            strict_utf8: false,
            max_piece: DEFAULT_MAX_PIECE,
            split_long: false,
        }
    }
}

/// "The answer depends on input not seen yet."
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct More;

/// One character as the matchers see it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ch {
    cls: u8,
    c: u32,
    len: usize,
}

const fn build_ascii() -> [u8; 128] {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if c.is_ascii_uppercase() {
            L | UP
        } else if c.is_ascii_lowercase() {
            L | LO
        } else if c.is_ascii_digit() {
            N
        } else if c == b'\r' || c == b'\n' {
            S | CRLF
        } else if c == b' ' || (c >= 0x09 && c <= 0x0D) {
            S
        } else {
            0
        };
        b += 1;
    }
    t
}

/// Class of each ASCII byte (tested against the generated table).
static ASCII: [u8; 128] = build_ascii();

/// Class byte of a decoded character.
#[inline]
fn class_of(c: u32) -> u8 {
    if c < 0x80 {
        ASCII[c as usize]
    } else {
        gpt_class(c)
    }
}

/// The text a matcher reads: bytes from the start of the piece, and whether the stream ends
/// after them.
pub(crate) struct Text<'a> {
    b: &'a [u8],
    eof: bool,
    /// Set when a character read was an invalid (or, at the end, incomplete) sequence: only
    /// then can the piece hold invalid UTF-8 (every byte of a piece is read by the matcher).
    bad: Cell<bool>,
}

impl<'a> Text<'a> {
    pub(crate) fn new(b: &'a [u8], eof: bool) -> Self {
        Text {
            b,
            eof,
            bad: Cell::new(false),
        }
    }

    /// The character at byte `i` (which must be a character boundary).
    #[inline(always)]
    fn ch(&self, i: usize) -> Result<Ch, More> {
        match self.b.get(i) {
            Some(&x) if x < 0x80 => Ok(Ch {
                cls: ASCII[x as usize],
                c: x as u32,
                len: 1,
            }),
            Some(_) => match decode(&self.b[i..]) {
                Decoded::Char(c, n) => Ok(Ch {
                    cls: gpt_class(c as u32),
                    c: c as u32,
                    len: n,
                }),
                Decoded::Invalid(n) => {
                    self.bad.set(true);
                    Ok(Ch {
                        cls: gpt_class(0xFFFD),
                        c: 0xFFFD,
                        len: n,
                    })
                }
                Decoded::Incomplete if self.eof => {
                    self.bad.set(true);
                    Ok(Ch {
                        cls: gpt_class(0xFFFD),
                        c: 0xFFFD,
                        len: self.b.len() - i,
                    })
                }
                Decoded::Incomplete => Err(More),
            },
            None if self.eof => Ok(Ch {
                cls: END,
                c: u32::MAX,
                len: 0,
            }),
            None => Err(More),
        }
    }

    /// End of the maximal run of characters from `i` whose class satisfies `keep`.
    #[inline(always)]
    fn run(&self, mut i: usize, keep: impl Fn(u8) -> bool) -> Result<usize, More> {
        loop {
            // ASCII fast path.
            while let Some(&x) = self.b.get(i) {
                if x >= 0x80 || !keep(ASCII[x as usize]) {
                    break;
                }
                i += 1;
            }
            // Well-formed 3-byte characters (CJK, kana, Hangul, most BMP scripts) inline.
            if let Some(&[b0, b1, b2]) = self.b.get(i..i + 3)
                && b0 & 0xF0 == 0xE0
                && b1 & 0xC0 == 0x80
                && b2 & 0xC0 == 0x80
            {
                let cp =
                    u32::from(b0 & 0x0F) << 12 | u32::from(b1 & 0x3F) << 6 | u32::from(b2 & 0x3F);
                // Not overlong, not a surrogate.
                if cp >= 0x800 && !(0xD800..0xE000).contains(&cp) {
                    if !keep(gpt_class(cp)) {
                        return Ok(i);
                    }
                    i += 3;
                    continue;
                }
            }
            let ch = self.ch(i)?;
            if ch.cls & END != 0 || !keep(ch.cls) {
                return Ok(i);
            }
            i += ch.len;
        }
    }
}

#[inline(always)]
fn is_l(k: u8) -> bool {
    k & L != 0
}
#[inline(always)]
fn is_n(k: u8) -> bool {
    k & N != 0
}
/// `[^\s\p{L}\p{N}]` (never the end of the text).
#[inline(always)]
fn is_other(k: u8) -> bool {
    k & (L | N | S | END) == 0
}

/// A whitespace run starting at 0: (end of the run, start of its last char, end of its last
/// `\r`/`\n` if any, the character after it).
#[inline]
fn ws_run(t: &Text<'_>) -> Result<(usize, usize, Option<usize>, Ch), More> {
    let mut i = 0;
    let mut last = 0;
    let mut crlf = None;
    loop {
        let ch = t.ch(i)?;
        if ch.cls & S == 0 || ch.cls & END != 0 {
            return Ok((i, last, crlf, ch));
        }
        last = i;
        i += ch.len;
        if ch.cls & CRLF != 0 {
            crlf = Some(i);
        }
    }
}

/// gpt2 / r50k / p50k:
/// `'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s`
pub(crate) fn gpt2(t: &Text<'_>) -> Result<usize, More> {
    let c0 = t.ch(0)?;
    if c0.c == u32::from(b'\'') {
        // Case-sensitive contractions.
        let c1 = t.ch(1)?;
        match char::from_u32(c1.c) {
            Some('s' | 'd' | 'm' | 't') => return Ok(2),
            Some('l') if t.ch(2)?.c == u32::from(b'l') => return Ok(3),
            Some('v' | 'r') if t.ch(2)?.c == u32::from(b'e') => return Ok(3),
            _ => {}
        }
    }
    // ` ?X++` for X = letters, numbers, other: the optional space is taken when the next char
    // is of the class (backtracking to no space would fail on the space itself).
    let (start, c) = if c0.c == u32::from(b' ') {
        (1, t.ch(1)?)
    } else {
        (0, c0)
    };
    if is_l(c.cls) {
        return t.run(start + c.len, is_l);
    }
    if is_n(c.cls) {
        return t.run(start + c.len, is_n);
    }
    if is_other(c.cls) {
        return t.run(start + c.len, is_other);
    }
    // Whitespace (c0 is a space followed by whitespace or the end, or other whitespace).
    let (end, last, _, next) = ws_run(t)?;
    if next.cls & END != 0 {
        return Ok(end); // \s++$
    }
    if last > 0 {
        return Ok(last); // \s+(?!\S): all but the last, which goes with what follows
    }
    Ok(end) // \s
}

/// The case-insensitive contraction after `'` at `i` (cl100k and o200k): its end, if any.
/// `(?i:s)` also matches U+017F LATIN SMALL LETTER LONG S (simple case folding).
#[inline]
fn contraction_ci(t: &Text<'_>, i: usize) -> Result<Option<usize>, More> {
    let c1 = t.ch(i + 1)?;
    let lower = |c: u32| char::from_u32(c).map(|c| c.to_ascii_lowercase());
    Ok(match lower(c1.c) {
        Some('s' | 'd' | 'm' | 't' | '\u{17F}') => Some(i + 1 + c1.len),
        Some('l') if lower(t.ch(i + 2)?.c) == Some('l') => Some(i + 3),
        Some('v' | 'r') if lower(t.ch(i + 2)?.c) == Some('e') => Some(i + 3),
        _ => None,
    })
}

/// cl100k_base:
/// `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`
pub(crate) fn cl100k(t: &Text<'_>) -> Result<usize, More> {
    let c0 = t.ch(0)?;
    if c0.c == u32::from(b'\'')
        && let Some(e) = contraction_ci(t, 0)?
    {
        return Ok(e);
    }
    // [^\r\n\p{L}\p{N}]?+\p{L}++
    if is_l(c0.cls) {
        return t.run(c0.len, is_l);
    }
    let prefix_ok = c0.cls & (CRLF | L | N) == 0;
    let c1 = if prefix_ok || c0.c == u32::from(b' ') {
        Some(t.ch(c0.len)?)
    } else {
        None
    };
    if prefix_ok && let Some(c1) = c1.filter(|c| is_l(c.cls)) {
        return t.run(c0.len + c1.len, is_l);
    }
    // \p{N}{1,3}+
    if is_n(c0.cls) {
        let mut i = c0.len;
        for _ in 0..2 {
            let c = t.ch(i)?;
            if !is_n(c.cls) {
                break;
            }
            i += c.len;
        }
        return Ok(i);
    }
    //  ?[^\s\p{L}\p{N}]++[\r\n]*+
    let other_from = if is_other(c0.cls) {
        Some(c0.len)
    } else if c0.c == u32::from(b' ') {
        c1.filter(|c| is_other(c.cls)).map(|c| 1 + c.len)
    } else {
        None
    };
    if let Some(i) = other_from {
        let i = t.run(i, is_other)?;
        return t.run(i, |k| k & CRLF != 0);
    }
    // Whitespace.
    let (end, last, crlf, next) = ws_run(t)?;
    if next.cls & END != 0 {
        return Ok(end); // \s++$
    }
    if let Some(e) = crlf {
        return Ok(e); // \s*[\r\n]: up to the last \r or \n of the run
    }
    if last > 0 {
        return Ok(last); // \s+(?!\S)
    }
    Ok(end) // \s
}

/// o200k's letter alternatives from `start`: `[U]*[W]+(?i:'s|...)?` (`first`) or
/// `[U]+[W]*(?i:'s|...)?`, with U = `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`, W =
/// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`. Returns the end of the match, if it matches.
#[inline]
fn o200k_letters(t: &Text<'_>, start: usize, first: bool) -> Result<Option<usize>, More> {
    // U* greedy, remembering the end of the last char that is also in W.
    let mut i = start;
    let mut last_w = None;
    loop {
        if let Some(&x) = t.b.get(i)
            && x < 0x80
        {
            let k = ASCII[x as usize];
            if k & UP == 0 {
                break;
            }
            i += 1; // ASCII upper case: in U, not in W
            continue;
        }
        let c = t.ch(i)?;
        if c.cls & UP == 0 || c.cls & END != 0 {
            break;
        }
        i += c.len;
        if c.cls & LO != 0 {
            last_w = Some(i);
        }
    }
    let r = t.ch(i)?;
    let end = if r.cls & LO != 0 && r.cls & END == 0 {
        // The char after the U-run is in W (so it is Ll): W takes its whole run.
        t.run(i, |k| k & LO != 0)?
    } else if first {
        // Backtrack U* to before its last W char: W+ is that one char.
        match last_w {
            Some(e) => e,
            None => return Ok(None),
        }
    } else if i > start {
        i
    } else {
        return Ok(None);
    };
    // (?i:'s|'t|'re|'ve|'m|'ll|'d)?
    if t.ch(end)?.c == u32::from(b'\'')
        && let Some(e) = contraction_ci(t, end)?
    {
        return Ok(Some(e));
    }
    Ok(Some(end))
}

/// o200k_base: the seven alternatives of SPEC.md section 3.
pub(crate) fn o200k(t: &Text<'_>) -> Result<usize, More> {
    let c0 = t.ch(0)?;
    // Alternatives 1 and 2, each first with the optional prefix char, then without.
    let prefix_ok = c0.cls & (CRLF | L | N | END) == 0;
    let in_letters = c0.cls & (UP | LO) != 0;
    for first in [true, false] {
        if prefix_ok && let Some(e) = o200k_letters(t, c0.len, first)? {
            return Ok(e);
        }
        if in_letters && let Some(e) = o200k_letters(t, 0, first)? {
            return Ok(e);
        }
    }
    // \p{N}{1,3}
    if is_n(c0.cls) {
        let mut i = c0.len;
        for _ in 0..2 {
            let c = t.ch(i)?;
            if !is_n(c.cls) {
                break;
            }
            i += c.len;
        }
        return Ok(i);
    }
    //  ?[^\s\p{L}\p{N}]+[\r\n/]*
    let other_from = if is_other(c0.cls) {
        Some(c0.len)
    } else if c0.c == u32::from(b' ') {
        let c1 = t.ch(1)?;
        is_other(c1.cls).then_some(1 + c1.len)
    } else {
        None
    };
    if let Some(i) = other_from {
        let i = t.run(i, is_other)?;
        let mut i = t.run(i, |k| k & CRLF != 0)?;
        // [\r\n/]*: slashes are "other" too, so only after a newline can one follow.
        loop {
            let c = t.ch(i)?;
            if c.c == u32::from(b'/') || (c.cls & CRLF != 0 && c.cls & END == 0) {
                i += c.len;
            } else {
                return Ok(i);
            }
        }
    }
    // Whitespace.
    let (end, last, crlf, next) = ws_run(t)?;
    if let Some(e) = crlf {
        return Ok(e); // \s*[\r\n]+: up to the last \r or \n of the run
    }
    if next.cls & END != 0 || last == 0 {
        return Ok(end); // \s+(?!\S) at the end, or \s+ for a single char
    }
    Ok(last) // \s+(?!\S)
}

/// Class of every byte for the ASCII fast path: [`ASCII`]'s class for ASCII bytes, [`STOP`] for
/// the others (a non-ASCII character needs the general matcher).
static FAST: [u8; 256] = {
    let a = build_ascii();
    let mut t = [STOP; 256];
    let mut b = 0;
    while b < 128 {
        t[b] = a[b];
        b += 1;
    }
    t
};

/// [`FAST`] class meaning "stop": a non-ASCII byte, or the end of the bytes available.
const STOP: u8 = END;

/// The ASCII fast path: the end of the piece starting at `buf[p]`, decided by a 256-entry byte
/// class table, when every byte the decision looks at is ASCII and inside `buf`; `None`
/// otherwise (the general matcher then takes this one piece). Each arm is the matcher's rule
/// for ASCII characters (one byte each, so "the start of the last character" is `end - 1`),
/// and it looks at exactly the bytes the matcher would look at or fewer, so both agree on
/// every input and every chunking (the oracle tests go through here, see [`pieces`]).
///
/// The second value says whether the piece may contain `\n` (whitespace and symbol pieces).
#[inline(always)]
fn fast_end(pattern: GptPattern, buf: &[u8], p: usize) -> Option<(usize, bool)> {
    let cls = |i: usize| buf.get(i).map_or(STOP, |&b| FAST[b as usize]);
    // End of the run from `i` of bytes whose class has a bit of `bits`; None at a stop.
    let run = |mut i: usize, bits: u8| -> Option<usize> {
        loop {
            let k = cls(i);
            if k & bits == 0 {
                return (k & STOP == 0).then_some(i);
            }
            i += 1;
        }
    };
    // End of the run of non-letter, non-digit, non-space ASCII bytes from `i`.
    let other_run = |mut i: usize| -> Option<usize> {
        loop {
            let k = cls(i);
            if k & (L | N | S | STOP) != 0 {
                return (k & STOP == 0).then_some(i);
            }
            i += 1;
        }
    };
    // A whitespace run from p, then (end, end of its last \r or \n if any).
    let ws = || -> Option<(usize, Option<usize>)> {
        let mut i = p;
        let mut crlf = None;
        loop {
            let k = cls(i);
            if k & S == 0 {
                return (k & STOP == 0).then_some((i, crlf));
            }
            i += 1;
            if k & CRLF != 0 {
                crlf = Some(i);
            }
        }
    };
    // `(?i:[sdmt]|ll|ve|re)` after the `'` at `q` (ASCII only; `ſ` is non-ASCII: a stop).
    let contraction = |q: usize, fold: u8| -> Option<Option<usize>> {
        let c1 = *buf.get(q + 1)?;
        if c1 >= 0x80 {
            return None;
        }
        Some(match c1 | fold {
            b's' | b'd' | b'm' | b't' => Some(q + 2),
            b'l' | b'v' | b'r' => {
                let c2 = *buf.get(q + 2)?;
                if c2 >= 0x80 {
                    return None;
                }
                let want = if c1 | fold == b'l' { b'l' } else { b'e' };
                (c2 | fold == want).then_some(q + 3)
            }
            _ => None,
        })
    };
    let b0 = buf[p];
    let c0 = FAST[b0 as usize];
    if c0 & STOP != 0 {
        return None;
    }
    match pattern {
        GptPattern::Gpt2 => {
            if b0 == b'\'' {
                // Case-sensitive: fold nothing.
                if let Some(e) = contraction(p, 0)? {
                    return Some((e, false));
                }
            }
            let (start, c) = if b0 == b' ' {
                (p + 1, cls(p + 1))
            } else {
                (p, c0)
            };
            if c & STOP != 0 {
                return None;
            }
            if c & L != 0 {
                return Some((run(start + 1, L)?, false));
            }
            if c & N != 0 {
                return Some((run(start + 1, N)?, false));
            }
            if c & S == 0 {
                return Some((other_run(start + 1)?, false));
            }
            let (end, _) = ws()?;
            // Followed by an ASCII non-space: \s+(?!\S) leaves the last char, or \s.
            Some((if end - 1 > p { end - 1 } else { end }, true))
        }
        GptPattern::Cl100k => {
            if b0 == b'\''
                && let Some(e) = contraction(p, 0x20)?
            {
                return Some((e, false));
            }
            if c0 & L != 0 {
                return Some((run(p + 1, L)?, false));
            }
            let prefix_ok = c0 & (CRLF | L | N) == 0;
            let c1 = if prefix_ok { cls(p + 1) } else { 0 };
            if c1 & STOP != 0 {
                return None;
            }
            if c1 & L != 0 {
                return Some((run(p + 2, L)?, false));
            }
            if c0 & N != 0 {
                return Some((digits3(&cls, p)?, false));
            }
            let other_from = if c0 & (L | N | S) == 0 {
                Some(p + 1)
            } else if b0 == b' ' && c1 & (L | N | S) == 0 {
                Some(p + 2)
            } else {
                None
            };
            if let Some(i) = other_from {
                let i = other_run(i)?;
                return Some((run(i, CRLF)?, true));
            }
            let (end, crlf) = ws()?;
            Some((
                crlf.unwrap_or(if end - 1 > p { end - 1 } else { end }),
                true,
            ))
        }
        GptPattern::O200k => {
            // The letter alternatives, with or without the prefix char: on ASCII both give
            // [A-Z]*[a-z]+ or [A-Z]+[a-z]* from `start`, then an optional contraction.
            let prefix_ok = c0 & (CRLF | L | N) == 0;
            let start = if prefix_ok {
                let c1 = cls(p + 1);
                if c1 & STOP != 0 {
                    return None;
                }
                (c1 & L != 0).then_some(p + 1)
            } else {
                (c0 & L != 0).then_some(p)
            };
            if let Some(s) = start {
                let u = run(s, UP)?;
                let end = if cls(u) & LO != 0 { run(u, LO)? } else { u };
                if buf.get(end) == Some(&b'\'')
                    && let Some(e) = contraction(end, 0x20)?
                {
                    return Some((e, false));
                }
                return Some((end, false));
            }
            if c0 & N != 0 {
                return Some((digits3(&cls, p)?, false));
            }
            let other_from = if c0 & (L | N | S) == 0 {
                Some(p + 1)
            } else if b0 == b' ' {
                let c1 = cls(p + 1);
                if c1 & STOP != 0 {
                    return None;
                }
                (c1 & (L | N | S) == 0).then_some(p + 2)
            } else {
                None
            };
            if let Some(i) = other_from {
                let i = other_run(i)?;
                let mut i = run(i, CRLF)?;
                // [\r\n/]*
                loop {
                    match buf.get(i) {
                        Some(b'/' | b'\r' | b'\n') => i += 1,
                        Some(&b) if b < 0x80 => return Some((i, true)),
                        _ => return None,
                    }
                }
            }
            let (end, crlf) = ws()?;
            Some((
                crlf.unwrap_or(if end - 1 > p { end - 1 } else { end }),
                true,
            ))
        }
    }
}

/// `\p{N}{1,3}` from the digit at `p` (ASCII only).
#[inline(always)]
fn digits3(cls: &impl Fn(usize) -> u8, p: usize) -> Option<usize> {
    let mut i = p + 1;
    for _ in 0..2 {
        let k = cls(i);
        if k & STOP != 0 {
            return None;
        }
        if k & N == 0 {
            break;
        }
        i += 1;
    }
    Some(i)
}

/// The end of the last safe cut in `buf`: a position that is a piece boundary of every GPT
/// pattern whatever comes before `buf` and after it, so a fresh engine started there gives the
/// same pieces (matches only look forward). Two local facts make a boundary:
/// - an ASCII letter or digit followed by ` ` or `\n`: no alternative of gpt2, cl100k or o200k
///   continues a letter, digit or contraction piece with whitespace, so a piece ends between;
/// - `\n` between a printable ASCII char and an ASCII letter or digit: whitespace pieces never
///   take a following letter or digit except through a preceding space (gpt2 ` ?\p{L}`) or a
///   prefix char that is not `\r`/`\n` (cl100k, o200k), and a newline is neither; and a
///   whitespace run of that one `\n` is the same piece whether the text ends after it or not
///   (gpt2 would split a longer run `"  \n"` before a letter but not at the end).
///
/// The pieces before the cut are also final: an engine finished at the cut reports the same.
/// Both facts are checked against whole-text matching in `tests/it/gpt.rs`.
pub fn safe_cut(buf: &[u8]) -> Option<usize> {
    let mut end = buf.len();
    while let Some(i) = memchr::memrchr2(b' ', b'\n', &buf[..end]) {
        if i > 0 && buf[i - 1].is_ascii_alphanumeric() {
            return Some(i);
        }
        if buf[i] == b'\n'
            && i > 0
            && buf[i - 1].is_ascii_graphic()
            && buf.get(i + 1).is_some_and(|b| b.is_ascii_alphanumeric())
        {
            return Some(i + 1);
        }
        end = i;
    }
    None
}

/// The streaming GPT rules engine. Feed it chunks in order, then call [`GptSplitter::finish`].
pub struct GptSplitter {
    cfg: GptConfig,
    /// Absolute offset of the next byte to be fed.
    pos: u64,
    /// Bytes of an unfinished piece (starting at `pending_abs`).
    pending: Vec<u8>,
    pending_abs: u64,
    /// Retry matching the pending bytes once this many are held.
    need: usize,
    /// Start of the piece whose leading bytes went out as raw fragments (split mode).
    frag_start: Option<u64>,
    /// Offsets of '\n' inside those fragments (reported after the piece).
    frag_newlines: Vec<u64>,
    replaced: u64,
    first_replaced: Option<u64>,
    /// The vector piece finder (none at [`crate::scan::Level::Reference`]).
    finder: GptFinder,
    /// Its output buffer (allocated on first use).
    spans: Option<Box<GptSpans>>,
}

impl GptSplitter {
    /// A new engine at stream offset 0.
    pub fn new(cfg: GptConfig) -> Self {
        Self::new_at(cfg, 0)
    }

    /// A new engine whose first byte is at stream offset `pos`.
    pub fn new_at(cfg: GptConfig, pos: u64) -> Self {
        GptSplitter {
            cfg,
            pos,
            pending: Vec::new(),
            pending_abs: pos,
            need: 0,
            frag_start: None,
            frag_newlines: Vec::new(),
            replaced: 0,
            first_replaced: None,
            finder: GptFinder::detect(),
            spans: None,
        }
    }

    /// The same engine using the vector piece finder of `level` (every level gives the same
    /// pieces; [`crate::scan::Level::Reference`] uses the exact matcher alone). `None` if this
    /// CPU cannot run the level.
    pub fn with_level(mut self, level: crate::scan::Level) -> Option<Self> {
        self.finder = GptFinder::with_level(level)?;
        Some(self)
    }

    /// The level of the vector piece finder in use.
    pub fn level(&self) -> crate::scan::Level {
        self.finder.level()
    }

    /// The settings in use.
    pub fn config(&self) -> &GptConfig {
        &self.cfg
    }

    /// Invalid UTF-8 sequences replaced so far.
    pub fn replaced(&self) -> u64 {
        self.replaced
    }

    /// Stream offset of the first replaced sequence.
    pub fn first_replaced(&self) -> Option<u64> {
        self.first_replaced
    }

    /// Stream offset of the next byte to be fed.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Process the next chunk of the stream.
    pub fn feed<S: PieceSink + ?Sized>(&mut self, chunk: &[u8], sink: &mut S) -> crate::Result<()> {
        let chunk_abs = self.pos;
        self.pos += chunk.len() as u64;
        if self.pending.is_empty() {
            let used = self.process(chunk, chunk_abs, false, sink)?;
            self.pending.extend_from_slice(&chunk[used..]);
            self.pending_abs = chunk_abs + used as u64;
            self.need = 2 * self.pending.len();
        } else {
            self.pending.extend_from_slice(chunk);
            if self.pending.len() < self.need {
                return Ok(());
            }
            let buf = std::mem::take(&mut self.pending);
            let used = self.process(&buf, self.pending_abs, false, sink)?;
            self.pending = buf;
            self.pending.drain(..used);
            self.pending_abs += used as u64;
            self.need = 2 * self.pending.len();
        }
        Ok(())
    }

    /// End of the stream: report the last pieces.
    pub fn finish<S: PieceSink + ?Sized>(&mut self, sink: &mut S) -> crate::Result<()> {
        let buf = std::mem::take(&mut self.pending);
        let used = self.process(&buf, self.pending_abs, true, sink)?;
        debug_assert_eq!(used, buf.len());
        self.pending_abs += used as u64;
        self.need = 0;
        Ok(())
    }

    /// Report every piece of `buf` (at stream offset `abs`) whose end is known; returns the
    /// number of bytes consumed. The rest starts an unfinished piece.
    fn process<S: PieceSink + ?Sized>(
        &mut self,
        buf: &[u8],
        abs: u64,
        eof: bool,
        sink: &mut S,
    ) -> crate::Result<usize> {
        // One copy of the loop per pattern, so the fast path has no per-piece dispatch.
        match self.cfg.pattern {
            GptPattern::Gpt2 => self.process_with::<0, S>(buf, abs, eof, sink),
            GptPattern::Cl100k => self.process_with::<1, S>(buf, abs, eof, sink),
            GptPattern::O200k => self.process_with::<2, S>(buf, abs, eof, sink),
        }
    }

    /// [`Self::process`] for the pattern numbered `P` (0 gpt2, 1 cl100k, 2 o200k).
    fn process_with<const P: u8, S: PieceSink + ?Sized>(
        &mut self,
        buf: &[u8],
        abs: u64,
        eof: bool,
        sink: &mut S,
    ) -> crate::Result<usize> {
        let pattern = match P {
            0 => GptPattern::Gpt2,
            1 => GptPattern::Cl100k,
            _ => GptPattern::O200k,
        };
        debug_assert_eq!(pattern, self.cfg.pattern);
        let kind = match P {
            0 => GptKind::Gpt2,
            1 => GptKind::Cl100k,
            _ => GptKind::O200k,
        };
        // The vector finder's pieces are at most 64 characters of at most 4 bytes (in at most
        // 4 blocks of 64 bytes): only when no cut can apply.
        let vector = self.finder.is_active() && self.cfg.max_piece >= 256;
        let mut retry = 0;
        let mut i = 0;
        while i < buf.len() {
            if vector
                && i >= retry
                && buf.len() - i >= 64
                && self.frag_start.is_none()
                && self.frag_newlines.is_empty()
            {
                let spans = self.spans.get_or_insert_with(Default::default);
                let stop = self.finder.find(&buf[i..], kind, spans);
                // The window's pieces as one run, ASCII or not.
                let run = PieceRun {
                    text: &buf[i..],
                    abs: abs + i as u64,
                    ends: &spans.ends[..spans.len],
                };
                if !run.is_empty() {
                    sink.piece_run(&run)?;
                }
                retry = i + stop.retry;
                i += stop.end;
                continue;
            }
            if let Some((e, nl)) = fast_end(pattern, buf, i)
                && e - i <= self.cfg.max_piece
            {
                self.piece_ascii(&buf[i..e], abs + i as u64, nl, sink)?;
                i = e;
                continue;
            }
            let rest = &buf[i..];
            let text = Text::new(rest, eof);
            match pattern.next(&text) {
                Ok(n) => {
                    debug_assert!(n > 0 && n <= rest.len());
                    let mut n = n;
                    if n > self.cfg.max_piece {
                        // A complete long piece: cut it exactly where an unfinished one is cut.
                        if let Some(c) = self.long_cut(rest, Some(n)) {
                            n = c;
                            self.part(&rest[..c], abs + i as u64, sink)?;
                            i += n;
                            continue;
                        }
                    }
                    self.piece(&rest[..n], abs + i as u64, text.bad.get(), sink)?;
                    i += n;
                }
                Err(More) => {
                    if rest.len() > 2 * self.cfg.max_piece
                        && let Some(c) = self.long_cut(rest, None)
                    {
                        self.part(&rest[..c], abs + i as u64, sink)?;
                        i += c;
                        continue;
                    }
                    break;
                }
            }
        }
        Ok(i)
    }

    /// The leading part of a long piece, cut at `bytes.len()`.
    fn part<S: PieceSink + ?Sized>(
        &mut self,
        bytes: &[u8],
        at: u64,
        sink: &mut S,
    ) -> crate::Result<()> {
        if self.cfg.split_long {
            return self.piece(bytes, at, true, sink);
        }
        self.check_utf8(bytes, at)?;
        self.frag_start.get_or_insert(at);
        for j in memchr::memchr_iter(b'\n', bytes) {
            self.frag_newlines.push(at + j as u64);
        }
        sink.raw_fragment(at, bytes)
    }

    /// Report a piece (or the last part of a long one) and the line ends inside it; `check`:
    /// it may hold invalid UTF-8.
    fn piece<S: PieceSink + ?Sized>(
        &mut self,
        bytes: &[u8],
        at: u64,
        check: bool,
        sink: &mut S,
    ) -> crate::Result<()> {
        if check {
            self.check_utf8(bytes, at)?;
        }
        let start = self.frag_start.take().unwrap_or(at);
        sink.piece(&Piece::raw_word(start, at + bytes.len() as u64, bytes))?;
        for j in std::mem::take(&mut self.frag_newlines) {
            sink.line_end(j)?;
        }
        for j in memchr::memchr_iter(b'\n', bytes) {
            sink.line_end(at + j as u64)?;
        }
        Ok(())
    }

    /// Report a piece of ASCII bytes found by the fast path; `nl`: it may contain `\n`.
    #[inline(always)]
    fn piece_ascii<S: PieceSink + ?Sized>(
        &mut self,
        bytes: &[u8],
        at: u64,
        nl: bool,
        sink: &mut S,
    ) -> crate::Result<()> {
        let start = self.frag_start.take().unwrap_or(at);
        sink.piece(&Piece::raw_word(start, at + bytes.len() as u64, bytes))?;
        if !self.frag_newlines.is_empty() {
            for j in std::mem::take(&mut self.frag_newlines) {
                sink.line_end(j)?;
            }
        }
        if nl {
            for (j, &b) in bytes.iter().enumerate() {
                if b == b'\n' {
                    sink.line_end(at + j as u64)?;
                }
            }
        }
        Ok(())
    }

    /// Count (or reject) invalid UTF-8 in the bytes of a piece.
    fn check_utf8(&mut self, bytes: &[u8], at: u64) -> crate::Result<()> {
        if std::str::from_utf8(bytes).is_ok() {
            return Ok(());
        }
        let mut i = 0;
        while i < bytes.len() {
            match decode(&bytes[i..]) {
                Decoded::Char(_, n) => i += n,
                Decoded::Invalid(n) => {
                    self.invalid(at + i as u64)?;
                    i += n;
                }
                Decoded::Incomplete => {
                    // Only at the end of the stream (pieces end on character boundaries).
                    self.invalid(at + i as u64)?;
                    break;
                }
            }
        }
        Ok(())
    }

    fn invalid(&mut self, at: u64) -> crate::Result<()> {
        if self.cfg.strict_utf8 {
            return Err(Error::new(ErrorKind::InvalidUtf8).with_offset(at));
        }
        self.replaced += 1;
        self.first_replaced.get_or_insert(at);
        Ok(())
    }

    /// The first valid cut of the long piece at the start of `p` (complete with length
    /// `len`, or unfinished when `len` is `None`): the first character boundary at or after
    /// each multiple of `max_piece` that passes [`Self::valid_cut`]. Deterministic in the
    /// piece's bytes: an unfinished piece is only cut where the complete one would be.
    fn long_cut(&self, p: &[u8], len: Option<usize>) -> Option<usize> {
        let step = self.cfg.max_piece.max(1);
        // Bytes available for the decision.
        let avail = len.unwrap_or(p.len());
        let mut b = 0; // a character boundary
        let mut target = step;
        loop {
            // Advance b to the first boundary >= target by lossy decoding.
            while b < target {
                if b >= avail {
                    return None;
                }
                b += match decode(&p[b..avail]) {
                    Decoded::Char(_, n) | Decoded::Invalid(n) => n,
                    Decoded::Incomplete => return None,
                };
            }
            // The window must be available (and, for a complete piece, inside it).
            if b + CUT_WINDOW + 8 > avail {
                return None;
            }
            if self.valid_cut(p, b) {
                return Some(b);
            }
            target += step;
        }
    }

    /// Is `c` (a character boundary inside a piece starting at 0 that extends at least 8
    /// bytes beyond `c + CUT_WINDOW`) a position where a fresh match gives exactly the rest of
    /// the piece? True when the characters from the one before `c` to `c + CUT_WINDOW` all have
    /// the same class K, none is `'`, and:
    /// - K is letters (gpt2, cl100k: the piece is a letter run; o200k: K has the lower-case
    ///   class, or nothing before `c` does, so the U/W backtracking ends the same way), digits
    ///   (gpt2: a digit run), or "other" (a `[^\s\p{L}\p{N}]` run: a fresh match at an other
    ///   char followed by another takes the same run);
    /// - K is whitespace, the piece starts with whitespace (so it is a whitespace run, not the
    ///   `[\r\n]*` tail of a symbol run) and is whitespace up to the window's end; for cl100k
    ///   and o200k either the window is newlines (the piece ends at the run's last newline,
    ///   after the window) or there is no newline before the window's end.
    fn valid_cut(&self, p: &[u8], c: usize) -> bool {
        let t = Text::new(p, false);
        // Start of the char before c.
        let mut before = None;
        for back in 1..=4.min(c) {
            if let Ok(ch) = t.ch(c - back)
                && c - back + ch.len == c
            {
                before = Some(c - back);
                break;
            }
        }
        let Some(mut i) = before else {
            return false;
        };
        let Ok(first) = t.ch(i) else { return false };
        let k = first.cls;
        while i < c + CUT_WINDOW {
            match t.ch(i) {
                Ok(ch) if ch.cls == k && ch.c != u32::from(b'\'') => i += ch.len,
                _ => return false,
            }
        }
        let window_end = i;
        let pattern = self.cfg.pattern;
        if k & L != 0 || (pattern == GptPattern::O200k && k & LO != 0) {
            if pattern == GptPattern::O200k && k & LO == 0 {
                return self.none_before(p, c, |k| k & LO != 0);
            }
            return true;
        }
        if k & N != 0 {
            return pattern == GptPattern::Gpt2;
        }
        if k & S == 0 {
            return true; // other
        }
        // Whitespace: the whole piece up to the window's end must be whitespace.
        if !self.all_from_start(p, window_end, |k| k & S != 0) {
            return false;
        }
        match pattern {
            GptPattern::Gpt2 => true,
            _ => k & CRLF != 0 || self.none_before(p, window_end, |k| k & CRLF != 0),
        }
    }

    /// No char in `p[..end]` satisfies `f`.
    fn none_before(&self, p: &[u8], end: usize, f: impl Fn(u8) -> bool) -> bool {
        self.all_from_start(p, end, |k| !f(k))
    }

    /// Every char in `p[..end]` satisfies `f`.
    fn all_from_start(&self, p: &[u8], end: usize, f: impl Fn(u8) -> bool) -> bool {
        let t = Text::new(p, false);
        let mut i = 0;
        while i < end {
            match t.ch(i) {
                Ok(ch) if f(ch.cls) => i += ch.len,
                _ => return false,
            }
        }
        true
    }
}

/// Helpers for tests and oracles: every piece of a complete text, as byte ranges.
/// Uses the ASCII fast path where the engine does, so the oracle tests cover both.
pub fn pieces(pattern: GptPattern, text: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let n = match fast_end(pattern, text, i) {
            Some((e, _)) => e - i,
            None => pattern
                .next(&Text::new(&text[i..], true))
                .expect("complete text never needs more"),
        };
        out.push((i, i + n));
        i += n;
    }
    out
}

/// The pieces of a complete text by the general matcher alone (no ASCII fast path), for
/// tests that compare the two.
pub fn pieces_general(pattern: GptPattern, text: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let n = pattern
            .next(&Text::new(&text[i..], true))
            .expect("complete text never needs more");
        out.push((i, i + n));
        i += n;
    }
    out
}

/// The class byte of ASCII byte `b` as the engine sees it (for tests).
pub fn ascii_class(b: u8) -> u8 {
    ASCII[b as usize & 0x7F]
}

/// The class byte of a code point as the engine sees it (for tests): the generated table plus
/// the `\r`/`\n` bit.
pub fn char_class(c: char) -> u8 {
    class_of(c as u32)
}

/// The generated table's first block covers ASCII (checked in tests).
pub fn table_block0() -> &'static [u8; 256] {
    &GPT_BLOCKS[GPT_INDEX[0] as usize]
}

/// Class bits exported for tests.
pub mod bits {
    pub use super::{CRLF, END};
    pub use crate::unicode::gpt_tables::{L, LO, M, N, S, UP};
}
