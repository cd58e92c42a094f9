//! Pre-tokenizer rule sets: how a byte stream is cut into pieces (words, punctuation, CJK
//! characters) before subword splitting.
//!
//! A rule set is a streaming engine: it is fed chunks of the input in order, cut anywhere (even
//! inside a UTF-8 character), and reports pieces to a [`PieceSink`] with byte offsets into the
//! original stream. Its output never depends on where the chunks were cut.

pub mod bert;
pub mod gpt;
pub mod whitespace;

use std::fmt;
use std::str::FromStr;

pub use bert::{BertConfig, BertSplitter};
pub use gpt::{GptConfig, GptPattern, GptSplitter};
pub use whitespace::{WhitespaceConfig, WhitespaceSplitter};

/// A streaming rules engine of any rule set: the pipeline holds one of these per stream (or per
/// independent chunk) and feeds it in order.
// One engine per stream (or per chunk in flight), never stored in bulk: boxing the large
// variant would only add an indirection to every feed.
#[allow(clippy::large_enum_variant)]
pub enum Splitter {
    /// `bert`, `bert-cased`, or the normalizer of a WordPiece model.
    Bert(BertSplitter),
    /// `gpt2`, `cl100k`, `o200k` (tiktoken patterns), or the pre-tokenizer of a BPE model.
    Gpt(GptSplitter),
    /// `whitespace`: HF's `Whitespace` pre-tokenizer (`\w+|[^\w\s]+`).
    Whitespace(WhitespaceSplitter),
}

impl Splitter {
    /// A fresh engine for `rules` that reports raw bytes (what `split` prints).
    pub fn for_split(rules: RuleSet, strict_utf8: bool) -> Self {
        match rules {
            RuleSet::Bert | RuleSet::BertCased => Splitter::Bert(BertSplitter::new(BertConfig {
                keep_raw: true,
                norm_cap: 0,
                strict_utf8,
                ..rules.bert_config()
            })),
            RuleSet::Gpt2 | RuleSet::Cl100k | RuleSet::O200k => {
                let pattern = rules.gpt_pattern().unwrap_or(GptPattern::Gpt2);
                Splitter::Gpt(GptSplitter::new(GptConfig {
                    strict_utf8,
                    ..GptConfig::new(pattern)
                }))
            }
            RuleSet::Whitespace => {
                Splitter::Whitespace(WhitespaceSplitter::new(WhitespaceConfig { strict_utf8 }))
            }
        }
    }

    /// The same engine, fresh, for a chunk starting at stream offset `pos` (the pipeline starts
    /// one per chunk that begins at a safe cut).
    pub fn fresh_at(&self, pos: u64) -> Self {
        match self {
            Splitter::Bert(b) => Splitter::Bert(b.fresh_at(pos)),
            Splitter::Gpt(g) => Splitter::Gpt(
                GptSplitter::new_at(*g.config(), pos)
                    .with_level(g.level())
                    .expect("the level in use is available"),
            ),
            Splitter::Whitespace(w) => Splitter::Whitespace(w.fresh_at(pos)),
        }
    }

    /// Make this engine what [`Splitter::fresh_at`] would return, keeping its buffers.
    pub fn reset_at(&mut self, pos: u64) {
        match self {
            Splitter::Bert(b) => b.reset_at(pos),
            Splitter::Whitespace(w) => w.reset_at(pos),
            other => *other = other.fresh_at(pos),
        }
    }

    /// The end of the last safe cut in `buf`: a position where this rule set's pieces cannot
    /// depend on what follows, so an engine started there fresh gives the same output.
    /// `None` if there is none (the caller then cuts anywhere and hands the engine on).
    pub fn safe_cut(&self, buf: &[u8]) -> Option<usize> {
        match self {
            // After ASCII whitespace no BERT piece continues, and the byte is a char boundary.
            Splitter::Bert(_) => memchr::memrchr3(b' ', b'\n', b'\t', buf).map(|i| i + 1),
            // See gpt::safe_cut: before a space or newline that follows an ASCII letter or
            // digit, or after a newline followed by one.
            Splitter::Gpt(_) => gpt::safe_cut(buf),
            // After ASCII whitespace, as for BERT (see whitespace::safe_cut).
            Splitter::Whitespace(_) => whitespace::safe_cut(buf),
        }
    }

    /// Use `scanner` for the vectorized fast path (every level gives the same output).
    pub fn with_scanner(self, scanner: crate::scan::Scanner) -> Self {
        match self {
            Splitter::Bert(b) => Splitter::Bert(BertSplitter::with_scanner(*b.config(), scanner)),
            Splitter::Whitespace(w) => {
                Splitter::Whitespace(WhitespaceSplitter::with_scanner(*w.config(), scanner))
            }
            Splitter::Gpt(g) => Splitter::Gpt(
                g.with_level(scanner.level())
                    .expect("a scanner's level is available"),
            ),
        }
    }

    /// The scanner level in use.
    pub fn level(&self) -> crate::scan::Level {
        match self {
            Splitter::Bert(b) => b.scanner().level(),
            Splitter::Whitespace(w) => w.scanner().level(),
            Splitter::Gpt(g) => g.level(),
        }
    }

    /// Process the next chunk of the stream.
    #[inline]
    pub fn feed<S: PieceSink + ?Sized>(&mut self, chunk: &[u8], sink: &mut S) -> crate::Result<()> {
        match self {
            Splitter::Bert(b) => b.feed(chunk, sink),
            Splitter::Gpt(g) => g.feed(chunk, sink),
            Splitter::Whitespace(w) => w.feed(chunk, sink),
        }
    }

    /// End of the stream: flush the last piece.
    pub fn finish<S: PieceSink + ?Sized>(&mut self, sink: &mut S) -> crate::Result<()> {
        match self {
            Splitter::Bert(b) => b.finish(sink),
            Splitter::Gpt(g) => g.finish(sink),
            Splitter::Whitespace(w) => w.finish(sink),
        }
    }

    /// Invalid UTF-8 sequences replaced so far, and the stream offset of the first.
    pub fn replaced(&self) -> (u64, Option<u64>) {
        match self {
            Splitter::Bert(b) => (b.replaced(), b.first_replaced()),
            Splitter::Gpt(g) => (g.replaced(), g.first_replaced()),
            Splitter::Whitespace(w) => (w.replaced(), w.first_replaced()),
        }
    }

    /// Stream offset of the next byte to be fed.
    pub fn position(&self) -> u64 {
        match self {
            Splitter::Bert(b) => b.position(),
            Splitter::Gpt(g) => g.position(),
            Splitter::Whitespace(w) => w.position(),
        }
    }
}

/// The rule sets tokstream implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleSet {
    /// HF `BertNormalizer` (lowercase, strip accents) + `BertPreTokenizer`.
    Bert,
    /// The same without lowercasing and accent stripping (cased BERT models).
    BertCased,
    /// tiktoken's gpt2 / r50k_base / p50k_base pattern.
    Gpt2,
    /// tiktoken's cl100k_base pattern.
    Cl100k,
    /// tiktoken's o200k_base pattern.
    O200k,
    /// HF's `Whitespace` pre-tokenizer: `\w+|[^\w\s]+` (word runs and punctuation runs).
    Whitespace,
}

impl RuleSet {
    /// Every rule set, in the order `--help` lists them.
    pub const ALL: &'static [RuleSet] = &[
        RuleSet::Bert,
        RuleSet::BertCased,
        RuleSet::Gpt2,
        RuleSet::Cl100k,
        RuleSet::O200k,
        RuleSet::Whitespace,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            RuleSet::Bert => "bert",
            RuleSet::BertCased => "bert-cased",
            RuleSet::Gpt2 => "gpt2",
            RuleSet::Cl100k => "cl100k",
            RuleSet::O200k => "o200k",
            RuleSet::Whitespace => "whitespace",
        }
    }

    /// The BERT normalizer settings of this rule set (the uncased ones for a GPT rule set).
    pub fn bert_config(self) -> BertConfig {
        match self {
            RuleSet::BertCased => BertConfig::cased(),
            _ => BertConfig::uncased(),
        }
    }

    /// The tiktoken pattern of a GPT rule set.
    pub fn gpt_pattern(self) -> Option<GptPattern> {
        match self {
            RuleSet::Gpt2 => Some(GptPattern::Gpt2),
            RuleSet::Cl100k => Some(GptPattern::Cl100k),
            RuleSet::O200k => Some(GptPattern::O200k),
            _ => None,
        }
    }
}

impl fmt::Display for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RuleSet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RuleSet::ALL
            .iter()
            .copied()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = RuleSet::ALL.iter().map(|r| r.name()).collect();
                format!("unknown rule set '{s}' (known: {})", names.join(", "))
            })
    }
}

/// What kind of piece the rules produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceKind {
    /// A run of word characters.
    Word,
    /// A single punctuation character (BERT), or a run of characters that are neither word
    /// characters nor whitespace (`whitespace`: `...`, `);`).
    Punct,
    /// A CJK ideograph isolated by `handle_chinese_chars`.
    Cjk,
}

/// One pre-token piece, reported to a [`PieceSink`].
#[derive(Clone, Copy, Debug)]
pub struct Piece<'a> {
    /// Absolute byte offset of the piece's first byte in the original stream.
    pub start: u64,
    /// Absolute byte offset one past the piece's last byte.
    pub end: u64,
    /// The original bytes of the piece that were not already delivered through
    /// [`PieceSink::raw_fragment`] (all of `start..end` unless the piece spanned a forced chunk
    /// cut). Empty when the rules were configured without `keep_raw`.
    pub raw: &'a [u8],
    /// The normalized text (UTF-8), capped at [`BertConfig::norm_cap`] characters.
    pub normalized: &'a [u8],
    /// For every byte of `normalized`, the original `[start, end)` of the character it came
    /// from. Empty when the alignment is the identity: normalized byte i is original byte
    /// `start + i` (ASCII words).
    pub align: &'a [(u64, u64)],
    /// Number of characters in the full normalized piece (may exceed what `normalized` holds).
    pub chars: usize,
    /// What the piece is.
    pub kind: PieceKind,
}

impl<'a> Piece<'a> {
    /// A word piece reported by its raw bytes alone (no normalized text, no character count):
    /// how the GPT rules report every piece.
    #[inline(always)]
    pub fn raw_word(start: u64, end: u64, raw: &'a [u8]) -> Self {
        Piece {
            start,
            end,
            raw,
            normalized: Default::default(),
            align: &[],
            chars: 0,
            kind: PieceKind::Word,
        }
    }
}

/// Receives the output of a rule set.
pub trait PieceSink {
    /// A complete piece.
    fn piece(&mut self, piece: &Piece<'_>) -> crate::Result<()>;

    /// Leading original bytes of a piece whose end is not known yet (it spans a chunk cut).
    /// Only called when the rules keep raw bytes. The bytes of one piece arrive as zero or more
    /// fragments followed by [`PieceSink::piece`] with the rest.
    fn raw_fragment(&mut self, _start: u64, _bytes: &[u8]) -> crate::Result<()> {
        Ok(())
    }

    /// The end of an input line: a `\n` at absolute offset `at` (reported by the engine), or
    /// the end of a last line that has no `\n` (reported by the driver at the end of the stream).
    fn line_end(&mut self, _at: u64) -> crate::Result<()> {
        Ok(())
    }

    /// A batch of ASCII pieces found by the vector scanner. The default reports each through
    /// [`PieceSink::piece`]; a sink may take the batch whole to overlap per-piece work (the
    /// WordPiece encoder does: its vocabulary probes are memory-bound).
    fn ascii_batch(&mut self, batch: &AsciiBatch<'_>) -> crate::Result<()> {
        batch.each(self)
    }

    /// A run of consecutive pieces from the GPT rules' vector piece finder (see [`PieceRun`]).
    /// The default reports each through [`PieceSink::piece`], then its line ends; a sink may
    /// take the run whole (counting and discarding sinks do: no `Piece` per piece).
    fn piece_run(&mut self, run: &PieceRun<'_>) -> crate::Result<()> {
        run.each(self)
    }
}

/// Consecutive pieces found by the GPT rules' vector piece finder: piece `k` runs from the
/// end of piece `k - 1` (from 0 for the first) to `ends[k] & END` (any bytes: the finder's
/// windows of characters run through non-ASCII text; the pieces are valid UTF-8), at stream offset
/// `abs` + its start; bit [`PieceRun::NEWLINE`] of `ends[k]` is set when the piece contains
/// `\n` (each `\n` is a line end, reported after its piece). The pieces are
/// [`PieceKind::Word`] pieces with no normalized text, as the GPT rules report every piece.
pub struct PieceRun<'a> {
    /// The bytes the ends index.
    pub text: &'a [u8],
    /// Stream offset of `text[0]`.
    pub abs: u64,
    /// Piece ends, with the newline flag.
    pub ends: &'a [u32],
}

impl PieceRun<'_> {
    /// Mask of the end offset in an `ends` entry.
    pub const END: u32 = 0x7FFF_FFFF;
    /// Flag of an `ends` entry: the piece contains `\n`.
    pub const NEWLINE: u32 = 1 << 31;

    /// Number of pieces.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True if there is no piece.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Report each piece to `sink` through [`PieceSink::piece`], then its line ends: what
    /// [`PieceSink::piece_run`] does by default.
    pub fn each<S: PieceSink + ?Sized>(&self, sink: &mut S) -> crate::Result<()> {
        let mut start = 0;
        for &v in self.ends {
            let end = (v & Self::END) as usize;
            let bytes = &self.text[start..end];
            let at = self.abs + start as u64;
            sink.piece(&Piece::raw_word(at, at + bytes.len() as u64, bytes))?;
            if v & Self::NEWLINE != 0 {
                for j in memchr::memchr_iter(b'\n', bytes) {
                    sink.line_end(at + j as u64)?;
                }
            }
            start = end;
        }
        Ok(())
    }

    /// The bytes of the pieces.
    fn bytes(&self) -> &[u8] {
        let end = self.ends.last().map_or(0, |&v| (v & Self::END) as usize);
        &self.text[..end]
    }

    /// True if some piece holds a `\n` (a line end).
    pub fn has_line_end(&self) -> bool {
        self.ends.iter().any(|&v| v & Self::NEWLINE != 0)
            && memchr::memchr(b'\n', self.bytes()).is_some()
    }

    /// True if the last piece holds a `\n`: then the run's last event is a line end.
    pub fn ends_with_line_end(&self) -> bool {
        let [.., prev, last] = self.ends else {
            return self.has_line_end();
        };
        last & Self::NEWLINE != 0
            && memchr::memchr(b'\n', &self.bytes()[(prev & Self::END) as usize..]).is_some()
    }

    /// Number of line ends (`\n` bytes) in the pieces.
    pub fn line_ends(&self) -> usize {
        if self.ends.iter().any(|&v| v & Self::NEWLINE != 0) {
            memchr::memchr_iter(b'\n', self.bytes()).count()
        } else {
            0
        }
    }
}

/// Pieces found by the vector piece finder, in order: piece `k` is
/// `text[starts[k]..ends[k]]`, a run of ASCII letters and digits, one ASCII punctuation
/// character, or one non-ASCII character that is a piece of its own and normalizes to itself
/// (a CJK ideograph, or punctuation like `，`: [`AsciiBatch::chars`] says one), at stream
/// offset `abs + starts[k]` — or a line end, when it is a `\n` ([`AsciiBatch::is_line_end`]). Its normalized text is its ASCII lowercase
/// when `lowercase` is set, else the bytes themselves; its alignment is the identity.
pub struct AsciiBatch<'a> {
    /// The bytes the spans index.
    pub text: &'a [u8],
    /// Stream offset of `text[0]`.
    pub abs: u64,
    /// Piece starts.
    pub starts: &'a [u32],
    /// Piece ends (exclusive).
    pub ends: &'a [u32],
    /// How many entries are line ends rather than pieces.
    pub line_ends: usize,
    /// Some word contains a non-ASCII character (else every word is ASCII: one byte per
    /// character).
    pub multibyte_words: bool,
    /// CJK ideographs are pieces of their own (BERT's `handle_chinese_chars`): decides
    /// whether a one-character piece is [`PieceKind::Cjk`] or a word.
    pub cjk: bool,
    /// The normalized text is the ASCII lowercase of the bytes.
    pub lowercase: bool,
    /// Report raw bytes in each [`Piece`].
    pub keep_raw: bool,
    /// Most normalized characters reported per piece.
    pub norm_cap: usize,
}

/// Normalized ASCII pieces up to this length are lowercased into a stack buffer.
pub(crate) const ASCII_BUF: usize = 128;

impl AsciiBatch<'_> {
    /// Number of pieces.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Report each entry to `sink` through [`PieceSink::piece`] or [`PieceSink::line_end`]:
    /// what [`PieceSink::ascii_batch`] does by default.
    pub fn each<S: PieceSink + ?Sized>(&self, sink: &mut S) -> crate::Result<()> {
        let mut buf = Vec::with_capacity(ASCII_BUF);
        for k in 0..self.len() {
            if self.is_line_end(k) {
                sink.line_end(self.abs + self.starts[k] as u64)?;
            } else {
                sink.piece(&self.piece(k, &mut buf))?;
            }
        }
        Ok(())
    }

    /// True if entry `k` is the `\n` of a line end rather than a piece.
    #[inline(always)]
    pub fn is_line_end(&self, k: usize) -> bool {
        self.text[self.starts[k] as usize] == b'\n'
    }

    /// Number of characters of piece `k`.
    #[inline(always)]
    pub fn chars(&self, k: usize) -> usize {
        let piece = &self.text[self.starts[k] as usize..self.ends[k] as usize];
        let b0 = piece[0];
        if b0 < 0x80 && !self.multibyte_words {
            piece.len()
        } else if b0 >= 0x80 && piece.len() == crate::scan::utf8::sequence_len(b0) {
            1 // a single (or a one-character word)
        } else {
            piece.iter().filter(|&&b| b & 0xC0 != 0x80).count()
        }
    }

    /// Piece `k` as a [`Piece`], its normalized text built in `buf` when needed.
    #[inline(always)]
    pub fn piece<'b>(&'b self, k: usize, buf: &'b mut Vec<u8>) -> Piece<'b> {
        let (s, e) = (self.starts[k] as usize, self.ends[k] as usize);
        let word = &self.text[s..e];
        let chars = self.chars(k);
        // At most `norm_cap` characters of normalized text.
        let keep = if chars <= self.norm_cap {
            word.len()
        } else {
            word.iter()
                .enumerate()
                .filter(|&(_, &b)| b & 0xC0 != 0x80)
                .nth(self.norm_cap)
                .map_or(word.len(), |(i, _)| i)
        };
        let normalized: &[u8] = if keep == 0 {
            &[]
        } else if !self.lowercase || word[0] >= 0x80 && chars == 1 {
            &word[..keep]
        } else {
            if buf.len() < keep {
                buf.resize(keep, 0);
            }
            ascii_lowercase_into(buf, &word[..keep])
        };
        let kind = match word[0] {
            b if b < 0x80 && b.is_ascii_punctuation() => PieceKind::Punct,
            b if b < 0x80 || chars > 1 => PieceKind::Word,
            _ => match crate::scan::utf8::decode(word) {
                crate::scan::utf8::Decoded::Char(c, _) => {
                    if self.cjk && crate::unicode::is_bert_chinese(c) {
                        PieceKind::Cjk
                    } else if crate::unicode::is_bert_punct(c) {
                        PieceKind::Punct
                    } else {
                        PieceKind::Word
                    }
                }
                _ => PieceKind::Word,
            },
        };
        Piece {
            start: self.abs + s as u64,
            end: self.abs + e as u64,
            raw: if self.keep_raw { word } else { &[] },
            normalized,
            align: &[],
            chars,
            kind,
        }
    }

    /// Report every entry in order: pieces to `piece`, line ends to `line_end`.
    pub fn for_each(
        &self,
        mut piece: impl FnMut(&Piece<'_>) -> crate::Result<()>,
        mut line_end: impl FnMut(u64) -> crate::Result<()>,
    ) -> crate::Result<()> {
        let mut buf = Vec::with_capacity(ASCII_BUF);
        for k in 0..self.len() {
            if self.is_line_end(k) {
                line_end(self.abs + self.starts[k] as u64)?;
            } else {
                piece(&self.piece(k, &mut buf))?;
            }
        }
        Ok(())
    }
}

/// ASCII-lowercase `src` into the front of `buf` (which is at least as long), eight bytes at
/// a time: for each byte in `A..=Z` add 0x20 (SWAR; every byte must be ASCII).
#[inline(always)]
pub(crate) fn ascii_lowercase_into<'b>(buf: &'b mut [u8], src: &[u8]) -> &'b [u8] {
    let n = src.len();
    let mut i = 0;
    while i + 8 <= n {
        let x = u64::from_le_bytes(src[i..i + 8].try_into().unwrap());
        buf[i..i + 8].copy_from_slice(&ascii_lowercase_u64(x).to_le_bytes());
        i += 8;
    }
    for k in i..n {
        buf[k] = src[k].to_ascii_lowercase();
    }
    &buf[..n]
}

/// ASCII-lowercase the eight bytes of `x` (bytes `>= 0x80` are left alone).
#[inline(always)]
pub(crate) fn ascii_lowercase_u64(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // On the low seven bits of each byte no addition carries into the next byte; the high
    // bit of each sum says >= 'A' and > 'Z'; `!x` drops bytes that were not ASCII.
    let low7 = x & (ONES * 0x7F);
    let upper = (low7 + ONES * (0x80 - b'A' as u64)) & !(low7 + ONES * (0x80 - b'Z' as u64 - 1));
    x | ((upper & !x & (ONES * 0x80)) >> 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swar_lowercase_equals_the_std_one() {
        let mut buf = [0u8; 256];
        // Every byte value (non-ASCII bytes must come out unchanged), in every position.
        let all: Vec<u8> = (0u8..=255).chain(0u8..=255).step_by(3).collect();
        for start in 0..all.len() {
            for len in 0..=(all.len() - start).min(40) {
                let src = &all[start..start + len];
                let got = ascii_lowercase_into(&mut buf, src).to_vec();
                assert_eq!(got, src.to_ascii_lowercase(), "{src:?}");
            }
        }
    }
}
