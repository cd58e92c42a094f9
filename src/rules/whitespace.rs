//! The `whitespace` rules: Hugging Face's `Whitespace` pre-tokenizer, the regex `\w+|[^\w\s]+`.
//!
//! # What HF does
//!
//! `tokenizers/src/pre_tokenizers/whitespace.rs` splits on the inverted regex
//! `\w+|[^\w\s]+` with `SplitDelimiterBehavior::Removed`: the pieces are exactly the regex's
//! matches. The regex is compiled by the Rust `regex` crate (not the Oniguruma `SysRegex` of the
//! `Split` and `ByteLevel` pre-tokenizers), so `\w` and `\s` are regex-syntax's Unicode classes:
//!
//! - `\w` = Alphabetic ∪ gc=Mark ∪ gc=Decimal_Number ∪ gc=Connector_Punctuation ∪ Join_Control
//!   (so `_`, `‿`, ZWJ, combining marks and digits are word characters);
//! - `\s` = White_Space (`\t`..`\r`, space, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028,
//!   U+2029, U+202F, U+205F, U+3000; not U+001C..U+001F, not U+200B).
//!
//! with the Unicode 16.0 data of regex-syntax 0.8.11, the version inside pip `tokenizers`
//! 0.23.3. Both alternatives are greedy and every character is in exactly one of `\w`, `\s` and
//! "neither", so a piece is a maximal run of word characters ([`PieceKind::Word`]) or a maximal
//! run of characters that are neither word nor space ([`PieceKind::Punct`]: `...`, `);`,
//! `-->`); spaces are dropped. The class of every code point comes from
//! [`crate::unicode::whitespace_tables`], generated from what pip `tokenizers` does on each one
//! (`scripts/gen-whitespace-tables.py`) and tested against it and against the regex crate.
//!
//! # Streaming
//!
//! The only state carried across chunks is the run in progress (its class and start) and up to
//! 3 bytes of a UTF-8 character cut by the chunk boundary. A run spanning a cut hands its bytes
//! so far on as [`PieceSink::raw_fragment`]s, so a word of any length is reported as one piece
//! in bounded memory. Any byte of ASCII whitespace ends every piece, so a fresh engine started
//! after one gives the same pieces ([`safe_cut`]). Pieces carry their original bytes (`raw`);
//! these rules do not normalize, so `normalized` is empty.
//!
//! # Invalid UTF-8
//!
//! HF only ever sees text: tokstream replaces each maximal invalid sequence by U+FFFD exactly as
//! `String::from_utf8_lossy` does, and U+FFFD (So) is neither `\w` nor `\s`: it joins the
//! punctuation run around it, as it would in HF on the lossy-decoded text. Offsets and raw bytes
//! stay those of the original input; replacements are counted. With
//! [`WhitespaceConfig::strict_utf8`] the first invalid sequence is an error with its offset.
//!
//! # Fast path
//!
//! When the next byte is ASCII the engine runs the scanner's vectorized piece finder
//! ([`Scanner::find_pieces`], the one the BERT rules use) and merges its spans: BERT's ASCII
//! pieces are letter/digit runs and single punctuation characters, and a `\w+|[^\w\s]+` piece
//! is a maximal chain of such spans that touch each other and have the same class here (`_`
//! counts as a word character, every other punctuation character as "neither"). A chain that
//! starts where the run in progress ends continues it; a chain that touches the position where
//! the finder stopped (a non-ASCII byte, a control character, the end of the chunk) may go on,
//! so it becomes the run in progress and the per-character path continues it. The
//! per-character path (`Level::Reference` uses nothing else) is the reference; every scanner
//! level is tested against it. Non-ASCII characters take one lookup in the two-level table.

use crate::error::{Error, ErrorKind};
use crate::rules::{Piece, PieceKind, PieceSink};
use crate::scan::utf8::{Decoded, decode};
use crate::scan::{Scanner, Spans};
use crate::unicode::whitespace_tables::{P, S, W, ws_class};

/// No run in progress (a value that is not a class).
const NONE: u8 = u8::MAX;

const fn build_ascii() -> [u8; 128] {
    let mut t = [P; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphanumeric() || c == b'_' {
            W
        } else if c == b' ' || (c >= 0x09 && c <= 0x0D) {
            S
        } else {
            P
        };
        b += 1;
    }
    t
}

/// The class of each ASCII byte (tested against the generated table).
static ASCII: [u8; 128] = build_ascii();

/// The class of a character as these rules see it (`\w` → [`W`], `\s` → [`S`], else [`P`]).
#[inline]
pub fn char_class(c: char) -> u8 {
    let cp = c as u32;
    if cp < 0x80 {
        ASCII[cp as usize]
    } else {
        ws_class(cp)
    }
}

/// The end of the last safe cut in `buf`: just after its last space, `\t` or `\n`. ASCII
/// whitespace is `\s`, which no piece contains, and a character boundary; so nothing before it
/// depends on what follows and a fresh engine started after it gives the same pieces.
pub fn safe_cut(buf: &[u8]) -> Option<usize> {
    memchr::memrchr3(b' ', b'\n', b'\t', buf).map(|i| i + 1)
}

/// Settings of the whitespace rules engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WhitespaceConfig {
    /// Reject invalid UTF-8 with an error instead of treating each bad sequence as U+FFFD.
    pub strict_utf8: bool,
}

/// The run (piece) in progress.
#[derive(Clone, Copy, Debug)]
struct Run {
    /// [`W`], [`P`], or [`NONE`].
    cls: u8,
    start: u64,
    end: u64,
    /// Bytes before this offset were handed on as raw fragments.
    raw_sent: u64,
}

/// The streaming whitespace rules engine. Feed it chunks in order, then call
/// [`WhitespaceSplitter::finish`].
///
/// ```
/// use tokstream::rules::{Piece, PieceSink, WhitespaceConfig, WhitespaceSplitter};
///
/// /// Pieces as (text, start, end). A piece that reaches the end of a chunk may arrive as raw
/// /// fragments first, then the piece with the rest of its bytes.
/// #[derive(Default)]
/// struct Collect {
///     pending: Vec<u8>,
///     pieces: Vec<(String, u64, u64)>,
/// }
/// impl PieceSink for Collect {
///     fn raw_fragment(&mut self, _at: u64, bytes: &[u8]) -> tokstream::Result<()> {
///         self.pending.extend_from_slice(bytes);
///         Ok(())
///     }
///     fn piece(&mut self, p: &Piece<'_>) -> tokstream::Result<()> {
///         self.pending.extend_from_slice(p.raw);
///         let text = String::from_utf8_lossy(&self.pending).into_owned();
///         self.pending.clear();
///         self.pieces.push((text, p.start, p.end));
///         Ok(())
///     }
/// }
/// let mut out = Collect::default();
/// let mut rules = WhitespaceSplitter::new(WhitespaceConfig::default());
/// let text = "Héllo, wörld_2!...".as_bytes();
/// rules.feed(&text[..10], &mut out)?; // a cut inside 'ö' is fine
/// rules.feed(&text[10..], &mut out)?;
/// rules.finish(&mut out)?;
/// let pieces: Vec<_> = out.pieces.iter().map(|(s, _, _)| s.as_str()).collect();
/// assert_eq!(pieces, ["Héllo", ",", "wörld_2", "!..."]);
/// assert_eq!((out.pieces[2].1, out.pieces[2].2), (8, 16)); // byte offsets
/// # Ok::<(), tokstream::Error>(())
/// ```
pub struct WhitespaceSplitter {
    cfg: WhitespaceConfig,
    /// Absolute offset of the next byte to be fed.
    pos: u64,
    utf8_tail: [u8; 4],
    utf8_tail_len: usize,
    run: Run,
    replaced: u64,
    first_replaced: Option<u64>,
    scanner: Scanner,
    spans: Spans,
}

impl WhitespaceSplitter {
    /// A new engine at stream offset 0, with the detected scanner.
    pub fn new(cfg: WhitespaceConfig) -> Self {
        Self::with_scanner(cfg, Scanner::detect())
    }

    /// A new engine using `scanner`'s piece finder (every level gives the same output;
    /// [`crate::scan::Level::Reference`] uses none).
    pub fn with_scanner(cfg: WhitespaceConfig, scanner: Scanner) -> Self {
        WhitespaceSplitter {
            cfg,
            pos: 0,
            utf8_tail: [0; 4],
            utf8_tail_len: 0,
            run: Run {
                cls: NONE,
                start: 0,
                end: 0,
                raw_sent: 0,
            },
            replaced: 0,
            first_replaced: None,
            scanner,
            spans: if scanner.has_piece_finder() {
                Spans::default()
            } else {
                Spans::empty()
            },
        }
    }

    /// A fresh engine with the same settings and scanner, whose first byte is at `pos`.
    pub fn fresh_at(&self, pos: u64) -> Self {
        let mut s = Self::with_scanner(self.cfg, self.scanner);
        s.pos = pos;
        s
    }

    /// Make this engine what [`WhitespaceSplitter::fresh_at`] would return, keeping its buffers.
    pub fn reset_at(&mut self, pos: u64) {
        self.pos = pos;
        self.utf8_tail_len = 0;
        self.run.cls = NONE;
        self.replaced = 0;
        self.first_replaced = None;
        self.spans.clear();
    }

    /// The settings in use.
    pub fn config(&self) -> &WhitespaceConfig {
        &self.cfg
    }

    /// The scanner in use.
    pub fn scanner(&self) -> Scanner {
        self.scanner
    }

    /// How many invalid UTF-8 sequences were replaced so far.
    pub fn replaced(&self) -> u64 {
        self.replaced
    }

    /// Stream offset of the first invalid UTF-8 sequence replaced, if any.
    pub fn first_replaced(&self) -> Option<u64> {
        self.first_replaced
    }

    /// Stream offset of the next byte to be fed.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Process the next chunk of the stream.
    pub fn feed<S: PieceSink + ?Sized>(&mut self, chunk: &[u8], sink: &mut S) -> crate::Result<()> {
        let abs = self.pos;
        let n = chunk.len();
        let mut i = 0;
        if self.utf8_tail_len > 0 {
            // Finish the character cut by the previous chunk boundary.
            let t = self.utf8_tail_len;
            let take = n.min(4);
            let mut buf = [0u8; 8];
            buf[..t].copy_from_slice(&self.utf8_tail[..t]);
            buf[t..t + take].copy_from_slice(&chunk[..take]);
            let cs = abs - t as u64;
            let (cls, len) = match decode(&buf[..t + take]) {
                Decoded::Incomplete => {
                    self.utf8_tail[t..t + take].copy_from_slice(&chunk[..take]);
                    self.utf8_tail_len = t + take;
                    self.pos += n as u64;
                    return Ok(());
                }
                Decoded::Char(c, len) => (char_class(c), len),
                Decoded::Invalid(len) => {
                    self.invalid(cs)?;
                    (P, len)
                }
            };
            self.utf8_tail_len = 0;
            self.step(cls, cs, cs + len as u64, chunk, abs, sink)?;
            if self.run.cls != NONE && self.run.raw_sent < abs {
                // The held bytes of this character start or continue the run: hand them on
                // now, the rest of the run is in this chunk.
                let from = (self.run.raw_sent - cs) as usize;
                sink.raw_fragment(self.run.raw_sent, &self.utf8_tail[from..t])?;
                self.run.raw_sent = abs;
            }
            i = len - t;
        }
        while i < n {
            let mut b = chunk[i];
            // The finder starts at ASCII and at the lead bytes of CJK ideographs.
            if b < 0x80 && self.scanner.has_piece_finder() {
                i = self.fast(chunk, i, abs, sink)?;
                if i == n {
                    break;
                }
                b = chunk[i];
            }
            let at = abs + i as u64;
            if b < 0x80 {
                let cls = ASCII[b as usize];
                if cls == S {
                    self.close(chunk, abs, sink)?;
                    if b == b'\n' {
                        sink.line_end(at)?;
                    }
                    i += 1;
                    continue;
                }
                // A run of ASCII bytes of one class.
                let mut e = i + 1;
                while e < n && chunk[e] < 0x80 && ASCII[chunk[e] as usize] == cls {
                    e += 1;
                }
                self.step(cls, at, abs + e as u64, chunk, abs, sink)?;
                i = e;
                continue;
            }
            match decode(&chunk[i..]) {
                Decoded::Char(c, len) => {
                    self.step(ws_class(c as u32), at, at + len as u64, chunk, abs, sink)?;
                    i += len;
                }
                Decoded::Invalid(len) => {
                    self.invalid(at)?;
                    self.step(P, at, at + len as u64, chunk, abs, sink)?;
                    i += len;
                }
                Decoded::Incomplete => {
                    let t = n - i;
                    self.utf8_tail[..t].copy_from_slice(&chunk[i..]);
                    self.utf8_tail_len = t;
                    break;
                }
            }
        }
        self.pos += n as u64;
        // Hand on the bytes of the run in progress: its end is not known yet.
        let r = &mut self.run;
        if r.cls != NONE && r.end > r.raw_sent {
            let bytes = &chunk[(r.raw_sent - abs) as usize..(r.end - abs) as usize];
            sink.raw_fragment(r.raw_sent, bytes)?;
            r.raw_sent = r.end;
        }
        Ok(())
    }

    /// End of the stream: report the last piece. (The end of a last line without `\n` is the
    /// driver's to report.)
    pub fn finish<S: PieceSink + ?Sized>(&mut self, sink: &mut S) -> crate::Result<()> {
        if self.utf8_tail_len > 0 {
            // A character cut by the end of the input: one U+FFFD, as from_utf8_lossy does.
            let t = self.utf8_tail_len;
            self.utf8_tail_len = 0;
            let cs = self.pos - t as u64;
            self.invalid(cs)?;
            let tail = self.utf8_tail;
            // The run before it (if any) ends at `cs` and was handed on entirely, so the
            // piece's remaining raw bytes are the tail's.
            self.step(P, cs, self.pos, &[], self.pos, sink)?;
            self.run.cls = NONE;
            let r = self.run;
            return sink.piece(&Piece {
                start: r.start,
                end: r.end,
                raw: &tail[(r.raw_sent - cs) as usize..t],
                normalized: &[],
                align: &[],
                chars: 0,
                kind: PieceKind::Punct,
            });
        }
        self.close(&[], self.pos, sink)
    }

    /// Count (or, when strict, reject) the invalid sequence at `at`.
    fn invalid(&mut self, at: u64) -> crate::Result<()> {
        if self.cfg.strict_utf8 {
            return Err(Error::new(ErrorKind::InvalidUtf8).with_offset(at));
        }
        self.replaced += 1;
        self.first_replaced.get_or_insert(at);
        Ok(())
    }

    /// Characters of class `cls` at `[cs, ce)`: extend the run, or end it and start another.
    #[inline(always)]
    fn step<S: PieceSink + ?Sized>(
        &mut self,
        cls: u8,
        cs: u64,
        ce: u64,
        chunk: &[u8],
        abs: u64,
        sink: &mut S,
    ) -> crate::Result<()> {
        if cls == self.run.cls {
            self.run.end = ce;
            return Ok(());
        }
        self.close(chunk, abs, sink)?;
        if cls != S {
            self.run = Run {
                cls,
                start: cs,
                end: ce,
                raw_sent: cs,
            };
        }
        Ok(())
    }

    /// Report the run in progress, if any. Its unsent bytes are in `chunk` (at stream offset
    /// `abs`).
    #[inline(always)]
    fn close<S: PieceSink + ?Sized>(
        &mut self,
        chunk: &[u8],
        abs: u64,
        sink: &mut S,
    ) -> crate::Result<()> {
        let r = self.run;
        if r.cls == NONE {
            return Ok(());
        }
        self.run.cls = NONE;
        let raw = if r.end > r.raw_sent {
            &chunk[(r.raw_sent - abs) as usize..(r.end - abs) as usize]
        } else {
            &[]
        };
        sink.piece(&Piece {
            start: r.start,
            end: r.end,
            raw,
            normalized: &[],
            align: &[],
            chars: 0,
            kind: kind(r.cls),
        })
    }

    /// The vector fast path at `chunk[from..]`: report the pieces and line ends the piece
    /// finder's spans make up, and return where the per-character path takes over. The run in
    /// progress (if any) ends at `from` and is continued by a chain that starts there; a chain
    /// touching the returned position may go on and becomes the run in progress.
    #[inline]
    fn fast<S: PieceSink + ?Sized>(
        &mut self,
        chunk: &[u8],
        from: usize,
        abs: u64,
        sink: &mut S,
    ) -> crate::Result<usize> {
        let mut spans = std::mem::replace(&mut self.spans, Spans::empty());
        spans.clear();
        let stop = self.scanner.find_pieces(&chunk[from..], None, &mut spans);
        let res = self.merge(chunk, from, abs, &spans, stop, sink);
        self.spans = spans;
        res.map(|()| from + stop)
    }

    /// The pieces and line ends made of the finder's `spans` of `chunk[from..]`, which stopped
    /// at `from + stop` (see [`WhitespaceSplitter::fast`]).
    #[inline(always)]
    fn merge<S: PieceSink + ?Sized>(
        &mut self,
        chunk: &[u8],
        from: usize,
        abs: u64,
        spans: &Spans,
        stop: usize,
        sink: &mut S,
    ) -> crate::Result<()> {
        let text = &chunk[from..];
        let base = abs + from as u64;
        // The chain being merged: its class and [s0, e0) relative to `text`; `carried`: it is
        // the run in progress, which started before `from`.
        let mut carried = self.run.cls != NONE;
        let (mut cls, mut s0, mut e0) = (self.run.cls, 0u32, 0u32);
        for (s, e) in spans.iter() {
            // A letter/digit run, one punctuation character (`_` is a word character), or a
            // newline.
            let b = text[s as usize];
            let c = ASCII[b as usize & 0x7F];
            if c == cls && s == e0 {
                e0 = e;
                continue;
            }
            self.end_chain(chunk, abs, text, base, (cls, s0, e0), carried, sink)?;
            carried = false;
            if b == b'\n' {
                cls = NONE;
                sink.line_end(base + s as u64)?;
                continue;
            }
            (cls, s0, e0) = (c, s, e);
        }
        if cls != NONE {
            if e0 as usize == stop {
                // It may go on past the stop: it is (or stays) the run in progress.
                if carried {
                    self.run.end = base + e0 as u64;
                } else {
                    self.run = Run {
                        cls,
                        start: base + s0 as u64,
                        end: base + e0 as u64,
                        raw_sent: base + s0 as u64,
                    };
                }
            } else {
                self.end_chain(chunk, abs, text, base, (cls, s0, e0), carried, sink)?;
            }
        }
        Ok(())
    }

    /// Report a finished chain of the fast path: the run in progress extended to `e0`
    /// (`carried`), or the piece `text[s0..e0]`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn end_chain<S: PieceSink + ?Sized>(
        &mut self,
        chunk: &[u8],
        abs: u64,
        text: &[u8],
        base: u64,
        (cls, s0, e0): (u8, u32, u32),
        carried: bool,
        sink: &mut S,
    ) -> crate::Result<()> {
        if carried {
            self.run.end = base + e0 as u64;
            self.close(chunk, abs, sink)
        } else if cls != NONE {
            emit(text, base, cls, s0, e0, sink)
        } else {
            Ok(())
        }
    }
}

#[inline(always)]
fn kind(cls: u8) -> PieceKind {
    if cls == W {
        PieceKind::Word
    } else {
        PieceKind::Punct
    }
}

/// Report `text[s..e]` (at stream offset `base + s`) as a piece of class `cls`.
#[inline(always)]
fn emit<S: PieceSink + ?Sized>(
    text: &[u8],
    base: u64,
    cls: u8,
    s: u32,
    e: u32,
    sink: &mut S,
) -> crate::Result<()> {
    sink.piece(&Piece {
        start: base + s as u64,
        end: base + e as u64,
        raw: &text[s as usize..e as usize],
        normalized: &[],
        align: &[],
        chars: 0,
        kind: kind(cls),
    })
}

/// Every piece of a complete text by the per-character definition alone (no scanner, no
/// streaming): byte ranges of the maximal runs of `\w` and of `[^\w\s]` characters, invalid
/// UTF-8 read as U+FFFD. The oracle of the tests and the fuzz targets.
pub fn pieces(text: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut run: Option<(u8, usize)> = None;
    let mut i = 0;
    while i < text.len() {
        let (cls, len) = match decode(&text[i..]) {
            Decoded::Char(c, len) => (char_class(c), len),
            Decoded::Invalid(len) => (P, len),
            Decoded::Incomplete => (P, text.len() - i),
        };
        match run {
            Some((k, _)) if k == cls => {}
            _ => {
                if let Some((_, s)) = run.take() {
                    out.push((s, i));
                }
                if cls != S {
                    run = Some((cls, i));
                }
            }
        }
        i += len;
    }
    if let Some((_, s)) = run {
        out.push((s, text.len()));
    }
    out
}

/// The class table of ASCII bytes (for tests).
pub fn ascii_class(b: u8) -> u8 {
    ASCII[(b & 0x7F) as usize]
}
