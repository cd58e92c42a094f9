//! The BERT rules: Hugging Face's `BertNormalizer` followed by `BertPreTokenizer`, computed in one
//! streaming pass over the original bytes (SPEC.md section 1).
//!
//! HF normalizes the whole text first and then splits the normalized text. Every BERT
//! normalization step works one character at a time, so this engine does the same per
//! character: for each original character it decides deleted / whitespace / CJK, then produces
//! its normalized characters (strip accents, lowercase) and classifies *those* as punctuation or
//! word characters. This matters: `≠` normalizes to `=` (punctuation) and `が` to `か`.
//!
//! Offsets follow HF's alignments: a piece spans from the original start of the character that
//! produced its first normalized character to the original end of the character that produced
//! its last one. Deleted characters (controls, U+FFFD, stripped marks) at the edges of a word
//! are therefore outside its span, and inside it they are part of the raw bytes.
//!
//! The per-character path (`on_char`) is the reference. Two fast paths give the same output
//! and are tested against it on every scanner level: runs of printable ASCII and CJK
//! ideographs go through the vectorized piece finder (`crate::scan`) and reach the sink as one
//! [`AsciiBatch`]; BMP
//! characters are classified by one lookup in a per-setting table (`bmp_tables`) built from
//! the same normalization steps. [`crate::scan::Level::Reference`] turns both off. (A third
//! table, the normalization of characters that map to one other character, is used on every
//! level including the reference: it is built by the same `normalize_char` it replaces.)
//!
//! The engine is a resumable state machine: chunks may be cut anywhere, even inside a UTF-8
//! character or a word, and the output is the same. Memory is bounded: a word keeps at most
//! [`BertConfig::norm_cap`] normalized characters (WordPiece needs no more: a longer word is
//! `[UNK]`), and raw bytes of a word spanning a cut are handed on as fragments.

use crate::error::{Error, ErrorKind};
use crate::rules::{ASCII_BUF, AsciiBatch, Piece, PieceKind, PieceSink, ascii_lowercase_into};
use crate::scan::class::{BYTE_CLASS, PUNCT, WORD, WS};
use crate::scan::utf8::{Decoded, decode};
use crate::scan::{CharClass, CharTable, Scanner, Spans};
use crate::unicode::{is_bert_chinese, is_bert_control, is_bert_punct, strip_accents};

/// Deleted characters after an unfinished word kept across chunk cuts before they are handed on
/// as part of the word's raw bytes (see [`BertSplitter`]); only reached by pathological input.
const HELD_CAP: usize = 64 * 1024;

/// Settings of the BERT normalizer and of what the engine reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BertConfig {
    /// Delete controls (Cc, Cf, Co except `\t \n \r`), U+0000 and U+FFFD.
    pub clean_text: bool,
    /// Isolate CJK ideographs (HF's ranges) as pieces of their own.
    pub handle_chinese_chars: bool,
    /// NFD, then delete nonspacing marks (Mn).
    pub strip_accents: bool,
    /// `char::to_lowercase` per character.
    pub lowercase: bool,
    /// Report the original bytes of each piece (`split` output needs them, `encode` does not).
    pub keep_raw: bool,
    /// Most normalized characters kept per piece; longer pieces report `chars > norm_cap`.
    pub norm_cap: usize,
    /// Reject invalid UTF-8 with an error instead of replacing it with U+FFFD.
    pub strict_utf8: bool,
}

impl BertConfig {
    /// bert-base-uncased: lowercase and strip accents.
    pub fn uncased() -> Self {
        BertConfig {
            clean_text: true,
            handle_chinese_chars: true,
            strip_accents: true,
            lowercase: true,
            keep_raw: false,
            norm_cap: 100,
            strict_utf8: false,
        }
    }

    /// Cased BERT models: no lowercasing, no accent stripping.
    pub fn cased() -> Self {
        BertConfig {
            strip_accents: false,
            lowercase: false,
            ..BertConfig::uncased()
        }
    }
}

/// The word being built; pieces of one character reuse it too.
#[derive(Debug, Default)]
struct Word {
    active: bool,
    kind: Option<PieceKind>,
    start: u64,
    last_end: u64,
    /// Raw bytes before this offset were already handed to the sink as fragments.
    raw_sent: u64,
    norm: Vec<u8>,
    /// Empty while `identity` holds.
    align: Vec<(u64, u64)>,
    /// Normalized byte i is original byte `start + i` so far (ASCII words): no `align` needed.
    identity: bool,
    chars: usize,
}

/// The chunk being fed, and what is kept of earlier chunks.
struct Ctx<'c> {
    chunk: &'c [u8],
    chunk_abs: u64,
}

/// The streaming BERT rules engine. Feed it chunks in order, then call [`BertSplitter::finish`].
///
/// ```
/// use tokstream::rules::{BertConfig, BertSplitter, Piece, PieceSink};
///
/// struct Collect(Vec<(String, u64, u64)>);
/// impl PieceSink for Collect {
///     fn piece(&mut self, p: &Piece<'_>) -> tokstream::Result<()> {
///         let text = String::from_utf8(p.normalized.to_vec()).unwrap();
///         self.0.push((text, p.start, p.end));
///         Ok(())
///     }
/// }
/// let mut out = Collect(Vec::new());
/// let mut rules = BertSplitter::new(BertConfig::uncased());
/// let text = "Héllo, 世界!".as_bytes();
/// rules.feed(&text[..4], &mut out)?; // a cut inside 'é' is fine
/// rules.feed(&text[4..], &mut out)?;
/// rules.finish(&mut out)?;
/// let pieces: Vec<_> = out.0.iter().map(|(s, _, _)| s.as_str()).collect();
/// assert_eq!(pieces, ["hello", ",", "世", "界", "!"]);
/// assert_eq!((out.0[0].1, out.0[0].2), (0, 6)); // byte offsets into the original
/// # Ok::<(), tokstream::Error>(())
/// ```
pub struct BertSplitter {
    cfg: BertConfig,
    /// Absolute offset of the next byte to be fed.
    pos: u64,
    utf8_tail: [u8; 4],
    utf8_tail_len: usize,
    word: Word,
    /// Raw bytes `[held_start, chunk_abs)` of earlier chunks that a piece may still need.
    held: Vec<u8>,
    held_start: u64,
    replaced: u64,
    first_replaced: Option<u64>,
    normalized_chars: Vec<char>,
    scanner: Scanner,
    spans: Spans,
    ascii_buf: [u8; ASCII_BUF],
    /// What to do with each BMP character under this configuration.
    bmp: &'static [u8; 0x1_0000],
    /// Per BMP character: its normalization when that is one other BMP character (0 if not).
    bmp_norm: &'static [u16; 0x1_0000],
    /// The non-ASCII characters the scanner's piece finder handles (see `char_table`).
    chars: &'static CharTable,
}

impl BertSplitter {
    /// A new engine at stream offset 0.
    pub fn new(cfg: BertConfig) -> Self {
        BertSplitter {
            cfg,
            pos: 0,
            utf8_tail: [0; 4],
            utf8_tail_len: 0,
            word: Word::default(),
            held: Vec::new(),
            held_start: 0,
            replaced: 0,
            first_replaced: None,
            normalized_chars: Vec::with_capacity(8),
            scanner: Scanner::detect(),
            spans: Spans::default(),
            ascii_buf: [0; ASCII_BUF],
            bmp: &bmp_tables(&cfg).classes,
            bmp_norm: &bmp_tables(&cfg).norm,
            chars: char_table(&cfg),
        }
    }

    /// A new engine using `scanner`'s piece finder (every level gives the same output;
    /// [`crate::scan::Level::Reference`] uses none).
    pub fn with_scanner(cfg: BertConfig, scanner: Scanner) -> Self {
        BertSplitter {
            scanner,
            ..BertSplitter::new(cfg)
        }
    }

    /// The scanner in use.
    pub fn scanner(&self) -> Scanner {
        self.scanner
    }

    /// The settings in use.
    pub fn config(&self) -> &BertConfig {
        &self.cfg
    }

    /// How many U+FFFD replacements were made for invalid UTF-8 so far (lossy mode).
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
        let ctx = Ctx {
            chunk,
            chunk_abs: self.pos,
        };
        let mut i = 0;
        if self.utf8_tail_len > 0 {
            // Finish the character cut by the previous chunk boundary.
            let t = self.utf8_tail_len;
            let take = chunk.len().min(4);
            let mut buf = [0u8; 8];
            buf[..t].copy_from_slice(&self.utf8_tail[..t]);
            buf[t..t + take].copy_from_slice(&chunk[..take]);
            let cs = ctx.chunk_abs - t as u64;
            match decode(&buf[..t + take]) {
                Decoded::Incomplete => {
                    self.utf8_tail[t..t + take].copy_from_slice(&chunk[..take]);
                    self.utf8_tail_len = t + take;
                    self.pos += chunk.len() as u64;
                    return self.end_of_chunk(&ctx, sink);
                }
                Decoded::Char(c, n) => {
                    self.utf8_tail_len = 0;
                    self.on_char(c, cs, cs + n as u64, &ctx, sink)?;
                    i = n - t;
                }
                Decoded::Invalid(n) => {
                    self.utf8_tail_len = 0;
                    self.on_invalid(cs, n, &ctx, sink)?;
                    i = n - t;
                }
            }
        }
        while i < chunk.len() {
            let mut b = chunk[i];
            // (A non-ASCII character starts a run only if the finder's table knows it: a call
            // that stops at once costs a block classification.)
            if !self.word.active
                && self.scanner.has_piece_finder()
                && (b < 0x80 || self.chars.class_at(chunk, i).0 > 0)
            {
                // Vector fast path: ASCII pieces, CJK ideographs and the other characters of
                // the table up to the next byte that needs this engine.
                let table = Some(self.chars);
                let stop = self
                    .scanner
                    .find_pieces(&chunk[i..], table, &mut self.spans);
                self.emit_spans(chunk, i, ctx.chunk_abs, sink)?;
                i += stop;
                if i == chunk.len() {
                    break;
                }
                b = chunk[i];
            }
            let at = ctx.chunk_abs + i as u64;
            if b < 0x80 {
                match BYTE_CLASS[b as usize] {
                    WORD if !self.word.active => {
                        // Fast path: an ASCII word that starts and ends in this chunk.
                        let mut e = i + 1;
                        while e < chunk.len() && BYTE_CLASS[chunk[e] as usize] == WORD {
                            e += 1;
                        }
                        if e < chunk.len() && matches!(BYTE_CLASS[chunk[e] as usize], WS | PUNCT) {
                            self.ascii_word(chunk, i, e, ctx.chunk_abs, sink)?;
                            i = e;
                            continue;
                        }
                        let c = if self.cfg.lowercase {
                            b.to_ascii_lowercase()
                        } else {
                            b
                        };
                        self.push_char(c as char, at, at + 1, true);
                    }
                    WORD => {
                        let c = if self.cfg.lowercase {
                            b.to_ascii_lowercase()
                        } else {
                            b
                        };
                        self.push_same_len(c as char, &[c], at, at + 1);
                    }
                    WS if b == b'\n' => {
                        self.close_word(&ctx, sink)?;
                        sink.line_end(at)?;
                    }
                    WS => self.close_word(&ctx, sink)?,
                    PUNCT => {
                        self.single(b as char, at, at + 1, PieceKind::Punct, &ctx, sink)?;
                    }
                    _ => self.on_char(b as char, at, at + 1, &ctx, sink)?,
                }
                i += 1;
                continue;
            }
            match decode(&chunk[i..]) {
                Decoded::Char(c, n) => {
                    let end = at + n as u64;
                    // One table lookup decides most BMP characters (see `BmpClass`).
                    // (The reference level keeps to the per-character path: it is the oracle.)
                    let fast = (c as u32) < 0x1_0000 && self.scanner.has_piece_finder();
                    let class = if fast { self.bmp[c as usize] } else { SLOW };
                    match class {
                        DELETED => {}
                        SPACE => self.close_word(&ctx, sink)?,
                        WORD_SAME | WORD_ONE => {
                            self.push_word_char(class, c, &chunk[i..i + n], at, end);
                            // The word goes on with more three-byte word characters (a run
                            // of kana, say): take them here, with the three-byte case of
                            // `decode` and no dispatch. Anything else (and a character cut
                            // by the chunk's end) goes back to the loop.
                            let mut j = i + n;
                            while let [b0, b1, b2, ..] = chunk[j..]
                                && b0 & 0xF0 == 0xE0
                                && b1 & 0xC0 == 0x80
                                && b2 & 0xC0 == 0x80
                            {
                                let cp = u32::from(b0 & 0x0F) << 12
                                    | u32::from(b1 & 0x3F) << 6
                                    | u32::from(b2 & 0x3F);
                                // (Not overlong, not a surrogate: `decode` would say so.)
                                let Some(c) = char::from_u32(cp).filter(|_| cp >= 0x800) else {
                                    break;
                                };
                                let class = self.bmp[cp as usize];
                                if class != WORD_SAME && class != WORD_ONE {
                                    break;
                                }
                                let at = ctx.chunk_abs + j as u64;
                                self.push_word_char(class, c, &chunk[j..j + 3], at, at + 3);
                                j += 3;
                            }
                            i = j;
                            continue;
                        }
                        CJK_SAME | PUNCT_SAME => {
                            // CJK or punctuation that normalizes to itself: its own piece, zero-copy.
                            self.close_word(&ctx, sink)?;
                            let bytes = &chunk[i..i + n];
                            let kind = if class == CJK_SAME {
                                PieceKind::Cjk
                            } else {
                                PieceKind::Punct
                            };
                            sink.piece(&Piece {
                                start: at,
                                end,
                                raw: if self.cfg.keep_raw { bytes } else { &[] },
                                normalized: if self.cfg.norm_cap > 0 { bytes } else { &[] },
                                align: &[],
                                chars: 1,
                                kind,
                            })?;
                        }
                        _ => self.on_char(c, at, end, &ctx, sink)?,
                    }
                    i += n;
                }
                Decoded::Invalid(n) => {
                    self.on_invalid(at, n, &ctx, sink)?;
                    i += n;
                }
                Decoded::Incomplete => {
                    let t = chunk.len() - i;
                    self.utf8_tail[..t].copy_from_slice(&chunk[i..]);
                    self.utf8_tail_len = t;
                    break;
                }
            }
        }
        self.pos += chunk.len() as u64;
        self.end_of_chunk(&ctx, sink)
    }

    /// A new engine whose first byte is at stream offset `pos` (for chunks processed
    /// independently: start one at each safe cut).
    pub fn new_at(cfg: BertConfig, pos: u64) -> Self {
        BertSplitter {
            pos,
            held_start: pos,
            ..BertSplitter::new(cfg)
        }
    }

    /// Make this engine what [`BertSplitter::fresh_at`] would return, keeping its buffers.
    pub fn reset_at(&mut self, pos: u64) {
        self.pos = pos;
        self.utf8_tail_len = 0;
        self.word.active = false;
        self.held.clear();
        self.held_start = pos;
        self.replaced = 0;
        self.first_replaced = None;
        self.spans.clear();
    }

    /// A fresh engine with the same settings and scanner, whose first byte is at `pos`.
    pub fn fresh_at(&self, pos: u64) -> Self {
        BertSplitter {
            pos,
            held_start: pos,
            ..BertSplitter::with_scanner(self.cfg, self.scanner)
        }
    }

    /// End of the stream: flush the last piece. (The end of a last line without `\n` is the
    /// driver's to report: only it knows where the stream ends.)
    pub fn finish<S: PieceSink + ?Sized>(&mut self, sink: &mut S) -> crate::Result<()> {
        let ctx = Ctx {
            chunk: &[],
            chunk_abs: self.pos,
        };
        if self.utf8_tail_len > 0 {
            // A character cut by the end of the input: one U+FFFD, as from_utf8_lossy does.
            let t = self.utf8_tail_len;
            self.utf8_tail_len = 0;
            self.on_invalid(self.pos - t as u64, t, &ctx, sink)?;
        }
        self.close_word(&ctx, sink)
    }

    fn on_invalid<S: PieceSink + ?Sized>(
        &mut self,
        at: u64,
        len: usize,
        ctx: &Ctx<'_>,
        sink: &mut S,
    ) -> crate::Result<()> {
        if self.cfg.strict_utf8 {
            return Err(Error::new(ErrorKind::InvalidUtf8).with_offset(at));
        }
        self.replaced += 1;
        self.first_replaced.get_or_insert(at);
        self.on_char('\u{FFFD}', at, at + len as u64, ctx, sink)
    }

    /// One original character at `[cs, ce)`, any class.
    fn on_char<S: PieceSink + ?Sized>(
        &mut self,
        c: char,
        cs: u64,
        ce: u64,
        ctx: &Ctx<'_>,
        sink: &mut S,
    ) -> crate::Result<()> {
        if c == '\n' {
            self.close_word(ctx, sink)?;
            return sink.line_end(cs);
        }
        if self.cfg.clean_text && (c == '\0' || c == '\u{FFFD}' || is_bert_control(c)) {
            return Ok(()); // deleted
        }
        if is_whitespace(c) {
            return self.close_word(ctx, sink);
        }
        let cjk = self.cfg.handle_chinese_chars && is_bert_chinese(c);
        if cjk {
            self.close_word(ctx, sink)?;
        }
        self.normalize(c);
        let one_to_one = self.normalized_chars.len() == 1;
        for k in 0..self.normalized_chars.len() {
            let n = self.normalized_chars[k];
            if is_bert_punct(n) {
                self.single(n, cs, ce, PieceKind::Punct, ctx, sink)?;
            } else if n.is_whitespace() {
                self.close_word(ctx, sink)?;
            } else {
                self.push_char(n, cs, ce, one_to_one);
            }
        }
        if cjk {
            if self.word.active {
                self.word.kind = Some(PieceKind::Cjk);
            }
            self.close_word(ctx, sink)?;
        }
        Ok(())
    }

    /// Hand the spans the piece finder found in `chunk[base..]` to the sink as one batch.
    #[inline]
    fn emit_spans<S: PieceSink + ?Sized>(
        &mut self,
        chunk: &[u8],
        base: usize,
        chunk_abs: u64,
        sink: &mut S,
    ) -> crate::Result<()> {
        let n = self.spans.len;
        if n == 0 {
            return Ok(());
        }
        let res = sink.ascii_batch(&AsciiBatch {
            text: &chunk[base..],
            abs: chunk_abs + base as u64,
            starts: &self.spans.starts[..n],
            ends: &self.spans.ends[..n],
            line_ends: self.spans.line_ends,
            multibyte_words: self.spans.multibyte_words,
            cjk: self.cfg.handle_chinese_chars,
            lowercase: self.cfg.lowercase,
            keep_raw: self.cfg.keep_raw,
            norm_cap: self.cfg.norm_cap,
        });
        self.spans.clear();
        res
    }

    /// A whole ASCII word `chunk[s..e]`, followed by whitespace or punctuation, with no word
    /// in progress: emitted directly, with identity alignment.
    #[inline(always)]
    fn ascii_word<S: PieceSink + ?Sized>(
        &mut self,
        chunk: &[u8],
        s: usize,
        e: usize,
        chunk_abs: u64,
        sink: &mut S,
    ) -> crate::Result<()> {
        let word = &chunk[s..e];
        let keep = word.len().min(self.cfg.norm_cap);
        let normalized: &[u8] = if keep == 0 {
            &[]
        } else if !self.cfg.lowercase {
            &word[..keep] // already normalized: zero-copy
        } else if keep <= ASCII_BUF {
            ascii_lowercase_into(&mut self.ascii_buf[..], &word[..keep])
        } else {
            let w = &mut self.word.norm;
            w.clear();
            w.extend(word[..keep].iter().map(|b| b.to_ascii_lowercase()));
            w
        };
        let raw = if self.cfg.keep_raw { word } else { &[] };
        sink.piece(&Piece {
            start: chunk_abs + s as u64,
            end: chunk_abs + e as u64,
            raw,
            normalized,
            align: &[],
            chars: word.len(),
            kind: if BYTE_CLASS[word[0] as usize] == PUNCT {
                PieceKind::Punct
            } else {
                PieceKind::Word
            },
        })
    }

    /// Fill `normalized_chars` with strip_accents + lowercase of `c`, as the config says.
    #[inline]
    fn normalize(&mut self, c: char) {
        // Most characters on this path map to one other character (an accented or upper-case
        // letter, a kana with a voicing mark): a table lookup instead of the Unicode routines.
        if let Some(&n) = self.bmp_norm.get(c as usize)
            && n != 0
            && let Some(n) = char::from_u32(u32::from(n))
        {
            self.normalized_chars.clear();
            self.normalized_chars.push(n);
            return;
        }
        if self.cfg.strip_accents
            && let Some(jamo) = hangul_jamo(c)
        {
            self.normalized_chars.clear();
            self.normalized_chars.extend(jamo.into_iter().flatten());
            return;
        }
        normalize_char(&self.cfg, c, &mut self.normalized_chars);
    }

    /// A character of class `WORD_SAME` or `WORD_ONE` (its bytes `raw`, at `[cs, ce)`): what
    /// `on_char` does with it, the word goes on with its normalization.
    #[inline(always)]
    fn push_word_char(&mut self, class: u8, c: char, raw: &[u8], cs: u64, ce: u64) {
        if class == WORD_SAME {
            self.push_same_len(c, raw, cs, ce);
        } else {
            let n = self.bmp_norm[c as usize];
            let n = char::from_u32(u32::from(n)).expect("a BMP scalar value");
            let mut buf = [0; 4];
            let bytes = n.encode_utf8(&mut buf).as_bytes();
            self.push_same_len(n, bytes, cs, ce);
        }
    }

    /// [`Self::push_char`] of `n` (UTF-8 `bytes`) from one original character `[cs, ce)` that
    /// became this one character, with a fast path for the middle of a word whose alignment
    /// is still the identity and which stays so (same length, nothing deleted before it).
    #[inline(always)]
    fn push_same_len(&mut self, n: char, bytes: &[u8], cs: u64, ce: u64) {
        let w = &mut self.word;
        if w.active
            && w.identity
            && w.chars < self.cfg.norm_cap
            && ce - cs == bytes.len() as u64
            && cs == w.start + w.norm.len() as u64
        {
            w.last_end = ce;
            w.chars += 1;
            w.norm.reserve(4);
            for &b in bytes {
                w.norm.push(b);
            }
            return;
        }
        self.push_char(n, cs, ce, true);
    }

    /// Append a normalized word character produced by the original character `[cs, ce)`.
    #[inline]
    fn push_char(&mut self, n: char, cs: u64, ce: u64, one_to_one: bool) {
        let w = &mut self.word;
        if !w.active {
            w.active = true;
            w.kind = None;
            w.start = cs;
            w.raw_sent = cs;
            w.norm.clear();
            w.align.clear();
            w.identity = true;
            w.chars = 0;
        }
        w.last_end = ce;
        w.chars += 1;
        if w.chars <= self.cfg.norm_cap {
            let len = n.len_utf8();
            // Identity alignment holds while every original character became exactly one
            // normalized character of the same length, with nothing deleted in between: then
            // normalized and original character boundaries coincide byte for byte.
            let same = one_to_one && ce - cs == len as u64 && cs == w.start + w.norm.len() as u64;
            if w.identity && !same {
                // Spell out the alignment of what came before: each byte maps to its character.
                w.identity = false;
                let mut o = 0;
                while o < w.norm.len() {
                    let l = crate::scan::utf8::sequence_len(w.norm[o]);
                    let (a, b) = (w.start + o as u64, w.start + (o + l) as u64);
                    w.align.extend(std::iter::repeat_n((a, b), l));
                    o += l;
                }
            }
            let mut buf = [0u8; 4];
            w.norm.extend_from_slice(n.encode_utf8(&mut buf).as_bytes());
            if !w.identity {
                w.align.extend(std::iter::repeat_n((cs, ce), len));
            }
        }
    }

    /// A piece of one character (punctuation).
    fn single<S: PieceSink + ?Sized>(
        &mut self,
        n: char,
        cs: u64,
        ce: u64,
        kind: PieceKind,
        ctx: &Ctx<'_>,
        sink: &mut S,
    ) -> crate::Result<()> {
        self.close_word(ctx, sink)?;
        self.push_char(n, cs, ce, true);
        self.word.kind = Some(kind);
        self.close_word(ctx, sink)
    }

    /// The raw bytes `[from, to)`, split into the part held from earlier chunks and the part in
    /// the current chunk.
    fn raw_range<'a>(&'a self, ctx: &Ctx<'a>, from: u64, to: u64) -> (&'a [u8], &'a [u8]) {
        if !self.cfg.keep_raw || from >= to {
            return (&[], &[]);
        }
        let held = if from < ctx.chunk_abs {
            let a = (from - self.held_start) as usize;
            let b = (to.min(ctx.chunk_abs) - self.held_start) as usize;
            &self.held[a..b]
        } else {
            &[]
        };
        let in_chunk = if to > ctx.chunk_abs {
            let a = (from.max(ctx.chunk_abs) - ctx.chunk_abs) as usize;
            let b = (to - ctx.chunk_abs) as usize;
            &ctx.chunk[a..b]
        } else {
            &[]
        };
        (held, in_chunk)
    }

    #[inline(always)]
    fn close_word<S: PieceSink + ?Sized>(
        &mut self,
        ctx: &Ctx<'_>,
        sink: &mut S,
    ) -> crate::Result<()> {
        if !self.word.active {
            return Ok(());
        }
        self.emit_word(ctx, sink)
    }

    /// Report the word in progress as a piece.
    #[inline(never)]
    fn emit_word<S: PieceSink + ?Sized>(
        &mut self,
        ctx: &Ctx<'_>,
        sink: &mut S,
    ) -> crate::Result<()> {
        self.word.active = false;
        let w = &self.word;
        let (held, raw) = self.raw_range(ctx, w.raw_sent, w.last_end);
        if !held.is_empty() {
            sink.raw_fragment(w.raw_sent, held)?;
        }
        sink.piece(&Piece {
            start: w.start,
            end: w.last_end,
            raw,
            normalized: &w.norm,
            align: if w.identity { &[] } else { &w.align },
            chars: w.chars,
            kind: w.kind.unwrap_or(PieceKind::Word),
        })
    }

    /// Hand on the raw bytes of an unfinished word and keep what later pieces may need.
    fn end_of_chunk<S: PieceSink + ?Sized>(
        &mut self,
        ctx: &Ctx<'_>,
        sink: &mut S,
    ) -> crate::Result<()> {
        if !self.cfg.keep_raw {
            return Ok(());
        }
        let tail_start = self.pos - self.utf8_tail_len as u64;
        if self.word.active && self.word.last_end > self.word.raw_sent {
            let (held, raw) = self.raw_range(ctx, self.word.raw_sent, self.word.last_end);
            if !held.is_empty() {
                sink.raw_fragment(self.word.raw_sent, held)?;
            }
            if !raw.is_empty() {
                let at = self.word.last_end - raw.len() as u64;
                sink.raw_fragment(at, raw)?;
            }
            self.word.raw_sent = self.word.last_end;
        }
        let mut keep_from = if self.word.active {
            self.word.raw_sent
        } else {
            tail_start
        };
        if self.word.active && tail_start - keep_from > HELD_CAP as u64 {
            // A huge run of deleted characters after an unfinished word: hand it on now as part
            // of the word's raw bytes rather than hold it (documented in docs/architecture.md).
            let (held, raw) = self.raw_range(ctx, keep_from, tail_start);
            sink.raw_fragment(keep_from, held)?;
            sink.raw_fragment(keep_from + held.len() as u64, raw)?;
            self.word.raw_sent = tail_start;
            keep_from = tail_start;
        }
        // New held = bytes [keep_from, pos): roll the old held in place, then add the chunk.
        if keep_from < ctx.chunk_abs {
            self.held.drain(..(keep_from - self.held_start) as usize);
            self.held.extend_from_slice(ctx.chunk);
        } else {
            self.held.clear();
            self.held
                .extend_from_slice(&ctx.chunk[(keep_from - ctx.chunk_abs) as usize..]);
        }
        self.held_start = keep_from;
        Ok(())
    }
}

/// The normalized characters of `c` (strip accents, then lowercase, as `cfg` says) into `out`:
/// the one definition both the per-character path and the BMP table use.
/// The canonical decomposition (NFD) of a precomposed Hangul syllable, computed as the Unicode
/// standard defines it (section 3.12): a leading consonant, a vowel and an optional trailing
/// consonant. Conjoining jamo are letters (Lo) without case, so accent stripping and
/// lowercasing keep them: under `strip_accents` this is the whole normalization of a syllable
/// (checked for every syllable against `normalize_char` in the tests).
#[inline]
fn hangul_jamo(c: char) -> Option<[Option<char>; 3]> {
    const S_BASE: u32 = 0xAC00;
    const S_COUNT: u32 = 11_172;
    const L_BASE: u32 = 0x1100;
    const V_BASE: u32 = 0x1161;
    const T_BASE: u32 = 0x11A7;
    let s = (c as u32).checked_sub(S_BASE).filter(|&s| s < S_COUNT)?;
    let (l, v, t) = (s / 588, s % 588 / 28, s % 28);
    Some([
        char::from_u32(L_BASE + l),
        char::from_u32(V_BASE + v),
        (t > 0).then(|| char::from_u32(T_BASE + t)).flatten(),
    ])
}

fn normalize_char(cfg: &BertConfig, c: char, out: &mut Vec<char>) {
    out.clear();
    let mut push = |d: char| {
        if cfg.lowercase {
            out.extend(d.to_lowercase());
        } else {
            out.push(d);
        }
    };
    if cfg.strip_accents {
        strip_accents(c, push);
    } else {
        push(c);
    }
}

// Classes of BMP characters, decided once per normalizer setting (see `bmp_tables`).
/// Needs the full per-character path (`on_char`).
const SLOW: u8 = 0;
/// Deleted by clean_text.
const DELETED: u8 = 1;
/// Whitespace: ends a word.
const SPACE: u8 = 2;
/// A word character that normalizes to itself.
const WORD_SAME: u8 = 3;
/// A CJK ideograph that normalizes to itself: a piece of its own.
const CJK_SAME: u8 = 4;
/// A punctuation character that normalizes to itself: a piece of its own.
const PUNCT_SAME: u8 = 5;
/// A word character (not a CJK ideograph) that normalizes to one other word character (in
/// the BMP): an upper-case or accented letter, a kana with a voicing mark. `on_char` would
/// only append the normalization (in `BmpTables::norm`) to the word.
const WORD_ONE: u8 = 6;

/// Per-character tables of the BMP for one normalizer setting (see [`bmp_tables`]).
struct BmpTables {
    /// The class of every character.
    classes: Box<[u8; 0x1_0000]>,
    /// Its normalization when that is exactly one other BMP character, else 0.
    norm: Box<[u16; 0x1_0000]>,
}

/// The class of every BMP character under the normalizer settings of `cfg`, computed with the
/// per-character reference logic (`on_char` does the same steps) the first time a setting is
/// used (a few milliseconds) and shared by every engine after that; and, for the characters
/// that change, their normalization when it is one character.
fn bmp_tables(cfg: &BertConfig) -> &'static BmpTables {
    use std::sync::OnceLock;
    static TABLES: [OnceLock<BmpTables>; 16] = [const { OnceLock::new() }; 16];
    let key = cfg.clean_text as usize
        | (cfg.handle_chinese_chars as usize) << 1
        | (cfg.strip_accents as usize) << 2
        | (cfg.lowercase as usize) << 3;
    TABLES[key].get_or_init(|| {
        let mut t = Box::new([SLOW; 0x1_0000]);
        let mut norm1 = Box::new([0u16; 0x1_0000]);
        let mut norm = Vec::new();
        for cp in 0x80..0x1_0000u32 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            t[cp as usize] = if cfg.clean_text && (c == '\u{FFFD}' || is_bert_control(c)) {
                DELETED
            } else if is_whitespace(c) {
                SPACE
            } else {
                normalize_char(cfg, c, &mut norm);
                if norm[..] != [c] {
                    let mut return_class = SLOW;
                    if let [n] = norm[..]
                        && let Ok(n) = u16::try_from(u32::from(n))
                        && n != 0
                    {
                        norm1[cp as usize] = n;
                        let cjk = cfg.handle_chinese_chars && is_bert_chinese(c);
                        let n = char::from_u32(u32::from(n)).expect("a BMP scalar value");
                        if !cjk && !is_bert_punct(n) && !n.is_whitespace() {
                            // (What `on_char` does with it: push the one character.)
                            return_class = WORD_ONE;
                        }
                    }
                    return_class
                } else if cfg.handle_chinese_chars && is_bert_chinese(c) {
                    CJK_SAME
                } else if is_bert_punct(c) {
                    PUNCT_SAME
                } else {
                    WORD_SAME
                }
            };
        }
        BmpTables {
            classes: t,
            norm: norm1,
        }
    })
}

/// The non-ASCII characters the scanner's piece finder handles under `cfg`: those that
/// normalize to themselves, as pieces of their own (CJK ideographs and punctuation:
/// `CJK_SAME`, `PUNCT_SAME`) or as word characters (`WORD_SAME`).
fn char_table(cfg: &BertConfig) -> &'static CharTable {
    use std::sync::OnceLock;
    static TABLES: [OnceLock<CharTable>; 16] = [const { OnceLock::new() }; 16];
    let key = cfg.clean_text as usize
        | (cfg.handle_chinese_chars as usize) << 1
        | (cfg.strip_accents as usize) << 2
        | (cfg.lowercase as usize) << 3;
    TABLES[key].get_or_init(|| {
        let classes = &bmp_tables(cfg).classes;
        CharTable::new(|c| match classes[c as usize] {
            CJK_SAME | PUNCT_SAME => CharClass::Single,
            WORD_SAME => CharClass::Word,
            _ => CharClass::Other,
        })
    })
}

/// HF's `is_whitespace` for BERT: `\t \n \r` and `char::is_whitespace`.
#[inline]
fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Hangul shortcut gives exactly `normalize_char`'s result for every syllable under
    /// both settings that strip accents, and nothing for the characters around the block.
    #[test]
    fn hangul_decomposition_equals_the_general_normalization() {
        let mut want = Vec::new();
        for lowercase in [false, true] {
            let cfg = BertConfig {
                strip_accents: true,
                lowercase,
                ..BertConfig::uncased()
            };
            for cp in 0xAC00..=0xD7A3u32 {
                let c = char::from_u32(cp).unwrap();
                normalize_char(&cfg, c, &mut want);
                let got: Vec<char> = hangul_jamo(c).unwrap().into_iter().flatten().collect();
                assert_eq!(got, want, "U+{cp:04X}");
            }
        }
        assert!(hangul_jamo('\u{ABFF}').is_none());
        assert!(hangul_jamo('\u{D7A4}').is_none());
        assert!(hangul_jamo('a').is_none());
    }
}
