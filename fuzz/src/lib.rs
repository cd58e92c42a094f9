//! Shared checkers and oracles of the tokstream fuzz targets.
//!
//! Every target is differential: it runs the library and an independent answer on the same
//! input and panics (a libFuzzer crash) with the first difference. The oracles live here, in
//! plain, slow, obviously-correct code written from the references' own descriptions
//! (SPEC.md): [`bert_ref`] (HF `BertNormalizer` + `BertPreTokenizer` on the whole text),
//! [`gpt_ref`] (fancy-regex with tiktoken's exact patterns), [`wordpiece_ref`] (HF's
//! greedy longest-match with a `HashMap<String, u32>`), [`bpe_ref`] (tiktoken's merge loop
//! with byte-string concatenation), [`whitespace_ref`] (HF's `Whitespace` regex). The
//! collectors here record what the library reports.

pub mod bert_ref;
pub mod bpe_ref;
pub mod gpt_ref;
pub mod whitespace_ref;
pub mod wordpiece_ref;

use std::fmt::Debug;
use std::sync::OnceLock;

use tokstream::pipeline::{Token, TokenSink};
use tokstream::rules::{Piece, PieceKind, PieceSink, Splitter};
use tokstream::subword::{Bpe, Model, WordPiece};

/// A piece as the library reported it, with everything the output can depend on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rec {
    /// Absolute start.
    pub start: u64,
    /// Absolute end.
    pub end: u64,
    /// Normalized text (empty when the engine keeps none).
    pub norm: Vec<u8>,
    /// Normalized characters.
    pub chars: usize,
    /// Word / punctuation / CJK.
    pub kind: PieceKind,
    /// For each normalized character: (original start of a token starting at it, original
    /// end of a token ending with it), as `EncodeSink` computes them.
    pub bounds: Vec<(u64, u64)>,
}

/// What a rules engine reported: pieces and line ends, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A piece.
    Piece(Rec),
    /// A `\n` (or the driver's final line end) at this offset.
    Line(u64),
}

/// A [`PieceSink`] recording [`Event`]s; when `input` is given it also checks that the raw
/// bytes handed over (fragments + the piece's rest) are exactly `input[start..end]`.
pub struct Collect<'a> {
    /// The whole input (for the raw-bytes check), if the engine keeps raw bytes.
    pub input: Option<&'a [u8]>,
    /// What was reported.
    pub events: Vec<Event>,
    fragment: Vec<u8>,
    fragment_start: Option<u64>,
}

impl<'a> Collect<'a> {
    /// A collector; `input` enables the raw-bytes check.
    pub fn new(input: Option<&'a [u8]>) -> Self {
        Collect {
            input,
            events: Vec::new(),
            fragment: Vec::new(),
            fragment_start: None,
        }
    }

    /// Only the pieces.
    pub fn pieces(&self) -> Vec<Rec> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Piece(p) => Some(p.clone()),
                Event::Line(_) => None,
            })
            .collect()
    }
}

/// Byte offsets of every char start in `s` (UTF-8 assumed; a stray continuation byte counts as
/// its own position so that nothing panics on bad input) plus `s.len()`.
fn char_starts(s: &[u8]) -> Vec<usize> {
    let mut v: Vec<usize> = (0..s.len()).filter(|&i| s[i] & 0xC0 != 0x80).collect();
    v.push(s.len());
    v
}

/// The (token start, token end) offsets for each normalized char, as the encoder derives them.
pub fn bounds_of(p: &Piece<'_>) -> Vec<(u64, u64)> {
    let cs = char_starts(p.normalized);
    cs.windows(2)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            if p.align.is_empty() {
                (p.start + a as u64, p.start + b as u64)
            } else {
                (p.align[a].0, p.align[b - 1].1)
            }
        })
        .collect()
}

impl PieceSink for Collect<'_> {
    fn raw_fragment(&mut self, start: u64, bytes: &[u8]) -> tokstream::Result<()> {
        if self.fragment_start.is_none() {
            self.fragment_start = Some(start);
        }
        self.fragment.extend_from_slice(bytes);
        Ok(())
    }

    fn piece(&mut self, p: &Piece<'_>) -> tokstream::Result<()> {
        assert!(p.start <= p.end, "piece {}..{} is reversed", p.start, p.end);
        if let Some(input) = self.input {
            self.fragment.extend_from_slice(p.raw);
            let want = input.get(p.start as usize..p.end as usize);
            assert!(
                Some(&self.fragment[..]) == want,
                "raw bytes of piece {}..{} are {:?}, the input there is {:?}",
                p.start,
                p.end,
                String::from_utf8_lossy(&self.fragment),
                want.map(String::from_utf8_lossy)
            );
            if let Some(fs) = self.fragment_start {
                assert_eq!(
                    fs, p.start,
                    "first fragment of piece {}..{} starts elsewhere",
                    p.start, p.end
                );
            }
        }
        self.fragment.clear();
        self.fragment_start = None;
        self.events.push(Event::Piece(Rec {
            start: p.start,
            end: p.end,
            norm: p.normalized.to_vec(),
            chars: p.chars,
            kind: p.kind,
            bounds: bounds_of(p),
        }));
        Ok(())
    }

    fn line_end(&mut self, at: u64) -> tokstream::Result<()> {
        self.events.push(Event::Line(at));
        Ok(())
    }
}

/// Tokens and line ends, in order.
#[derive(Default, Debug)]
pub struct Toks(pub Vec<TokEv>);

/// One event of the encoder's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokEv {
    /// A token.
    Tok(Token),
    /// A line end.
    Line,
}

impl TokenSink for Toks {
    fn token(&mut self, t: Token) -> tokstream::Result<()> {
        self.0.push(TokEv::Tok(t));
        Ok(())
    }
    fn line_end(&mut self) -> tokstream::Result<()> {
        self.0.push(TokEv::Line);
        Ok(())
    }
}

/// Feed `parts` in order to `rules`, then finish.
pub fn feed_parts<S: PieceSink>(mut rules: Splitter, parts: &[&[u8]], sink: &mut S) {
    for p in parts {
        rules.feed(p, sink).expect("lossy mode never fails");
    }
    rules.finish(sink).expect("lossy mode never fails");
}

/// Cut `text` at up to two positions chosen by `a` and `b` (any values): 1 to 3 parts.
pub fn cut3(text: &[u8], a: u16, b: u16) -> Vec<&[u8]> {
    let n = text.len();
    let mut x = a as usize % (n + 1);
    let mut y = b as usize % (n + 1);
    if x > y {
        std::mem::swap(&mut x, &mut y);
    }
    vec![&text[..x], &text[x..y], &text[y..]]
}

/// Show `input` around byte `at`, escaped.
pub fn context(input: &[u8], at: u64) -> String {
    let at = (at as usize).min(input.len());
    let a = at.saturating_sub(40);
    let b = (at + 40).min(input.len());
    format!(
        "{:?} >>>HERE>>> {:?}",
        String::from_utf8_lossy(&input[a..at]),
        String::from_utf8_lossy(&input[at..b])
    )
}

/// Panics with the first difference between `want` and `got` (and the input around it).
pub fn assert_same<T: PartialEq + Debug>(
    label: &str,
    input: &[u8],
    want: &[T],
    got: &[T],
    offset_of: impl Fn(&T) -> u64,
) {
    let first = want.iter().zip(got).position(|(w, g)| w != g);
    let Some(i) = first.or((want.len() != got.len()).then_some(want.len().min(got.len()))) else {
        return;
    };
    let lo = i.saturating_sub(2);
    let at = want.get(i).or(got.get(i)).map(&offset_of).unwrap_or(0);
    panic!(
        "MISMATCH {label}: first difference at record {i} (want {} records, got {})\n  want[{lo}..]: {:?}\n  got [{lo}..]: {:?}\n  input ({} bytes): {:?}\n  around: {}",
        want.len(),
        got.len(),
        &want[lo..(i + 3).min(want.len())],
        &got[lo..(i + 3).min(got.len())],
        input.len(),
        String::from_utf8_lossy(input),
        context(input, at)
    );
}

/// Offset of an event (for [`assert_same`]).
pub fn event_at(e: &Event) -> u64 {
    match e {
        Event::Piece(p) => p.start,
        Event::Line(at) => *at,
    }
}

/// Offset of a token event (for [`assert_same`]).
pub fn tokev_at(e: &TokEv) -> u64 {
    match e {
        TokEv::Tok(t) => t.start,
        TokEv::Line => 0,
    }
}

/// The embedded bert-base-uncased model, loaded once.
pub fn bert_model() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| Model::WordPiece(WordPiece::bert_base_uncased()))
}

/// The embedded WordPiece model itself.
pub fn bert_wordpiece() -> &'static WordPiece {
    match bert_model() {
        Model::WordPiece(w) => w,
        Model::Bpe(_) => unreachable!(),
    }
}

/// Names of the built-in BPE models the targets use, in a fixed order.
pub const BPE_MODELS: [&str; 3] = ["r50k_base", "cl100k_base", "o200k_base"];

/// A built-in BPE model (loaded once).
pub fn bpe_model(name: &str) -> &'static Model {
    static M: OnceLock<Vec<Model>> = OnceLock::new();
    let all = M.get_or_init(|| {
        BPE_MODELS
            .iter()
            .map(|n| Model::Bpe(Bpe::builtin(n).expect("built-in model")))
            .collect()
    });
    &all[BPE_MODELS
        .iter()
        .position(|n| *n == name)
        .expect("known model")]
}

/// The [`Bpe`] inside a built-in model.
pub fn bpe(name: &str) -> &'static Bpe {
    match bpe_model(name) {
        Model::Bpe(b) => b,
        Model::WordPiece(_) => unreachable!(),
    }
}

/// Reads fuzzer-chosen parameters from the front of the input.
pub struct Header<'a> {
    data: &'a [u8],
}

impl<'a> Header<'a> {
    /// Parameters come from the front of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Header { data }
    }
    /// One byte (0 when the input is exhausted).
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    /// Two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    /// The rest of the input.
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}
