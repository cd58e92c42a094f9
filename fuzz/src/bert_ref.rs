//! An obviously-correct BERT pre-tokenizer, written the way Hugging Face does it: normalize the
//! WHOLE text step by step (each step a pass producing a new vector of characters, each
//! character carrying the original byte range it came from), then split the normalized text.
//! Slow on purpose: no streaming, no fast path, no state machine.
//!
//! Steps (SPEC.md §1, HF `normalizers/bert.rs` and `pre_tokenizers/bert.rs`):
//! 0. bytes → chars: each maximal invalid UTF-8 sequence is one U+FFFD (as
//!    `String::from_utf8_lossy`).
//! 1. clean_text: delete U+0000, U+FFFD and controls (`is_bert_control`); whitespace
//!    (`\t \n \r` or `char::is_whitespace`) becomes `' '`.
//! 2. handle_chinese_chars: `' ' c ' '` for each CJK ideograph (spaces aligned to `c`).
//! 3. strip_accents: NFD minus Mn (`tokstream::unicode::strip_accents`, per char: see the
//!    canonical-reordering caveat in `tokstream::unicode`).
//! 4. lowercase: `char::to_lowercase`.
//! 5. split on `char::is_whitespace` (removed), then each `is_bert_punct` char alone.
//!
//! A piece spans from the original start of its first normalized char to the original end of
//! its last one.

use tokstream::rules::{BertConfig, PieceKind};
use tokstream::unicode::{is_bert_chinese, is_bert_control, is_bert_punct, strip_accents};

use crate::Rec;

/// A normalized char: the char, its original byte range, and whether it came from a CJK
/// ideograph isolated by step 2.
#[derive(Clone, Copy, Debug)]
struct NChar {
    c: char,
    start: u64,
    end: u64,
    cjk: bool,
}

/// Step 0: the chars of `input` with their original byte ranges (lossy UTF-8).
pub fn decode_lossy(input: &[u8]) -> Vec<(char, usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    for chunk in input.utf8_chunks() {
        for (i, c) in chunk.valid().char_indices() {
            out.push((c, at + i, at + i + c.len_utf8()));
        }
        at += chunk.valid().len();
        if !chunk.invalid().is_empty() {
            out.push(('\u{FFFD}', at, at + chunk.invalid().len()));
            at += chunk.invalid().len();
        }
    }
    out
}

/// HF `BertNormalizer`'s `is_whitespace`.
fn hf_is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

/// The normalized text of `input` under `cfg`, char by char with alignments.
fn normalize(input: &[u8], cfg: &BertConfig) -> Vec<NChar> {
    let mut v: Vec<NChar> = decode_lossy(input)
        .into_iter()
        .map(|(c, s, e)| NChar {
            c,
            start: s as u64,
            end: e as u64,
            cjk: false,
        })
        .collect();
    if cfg.clean_text {
        v = v
            .into_iter()
            .filter(|n| !(n.c == '\0' || n.c == '\u{FFFD}' || is_bert_control(n.c)))
            .map(|n| {
                if hf_is_whitespace(n.c) {
                    NChar { c: ' ', ..n }
                } else {
                    n
                }
            })
            .collect();
    }
    if cfg.handle_chinese_chars {
        let mut w = Vec::with_capacity(v.len());
        for n in v {
            if is_bert_chinese(n.c) {
                w.push(NChar { c: ' ', ..n });
                w.push(NChar { cjk: true, ..n });
                w.push(NChar { c: ' ', ..n });
            } else {
                w.push(n);
            }
        }
        v = w;
    }
    if cfg.strip_accents {
        let mut w = Vec::with_capacity(v.len());
        for n in v {
            strip_accents(n.c, |d| w.push(NChar { c: d, ..n }));
        }
        v = w;
    }
    if cfg.lowercase {
        let mut w = Vec::with_capacity(v.len());
        for n in v {
            for l in n.c.to_lowercase() {
                w.push(NChar { c: l, ..n });
            }
        }
        v = w;
    }
    v
}

fn make(word: &[NChar], kind: PieceKind) -> Rec {
    let mut norm = String::new();
    for n in word {
        norm.push(n.c);
    }
    Rec {
        start: word[0].start,
        end: word[word.len() - 1].end,
        norm: norm.into_bytes(),
        chars: word.len(),
        kind,
        bounds: word.iter().map(|n| (n.start, n.end)).collect(),
    }
}

/// The pieces of `input` under `cfg`, with normalized text and per-char alignment.
pub fn pieces(input: &[u8], cfg: &BertConfig) -> Vec<Rec> {
    let norm = normalize(input, cfg);
    let mut out = Vec::new();
    let mut word: Vec<NChar> = Vec::new();
    let flush = |word: &mut Vec<NChar>, out: &mut Vec<Rec>| {
        if !word.is_empty() {
            let kind = if word.iter().all(|n| n.cjk) {
                PieceKind::Cjk
            } else {
                PieceKind::Word
            };
            out.push(make(word, kind));
            word.clear();
        }
    };
    for n in norm {
        if n.c.is_whitespace() {
            flush(&mut word, &mut out);
        } else if is_bert_punct(n.c) {
            flush(&mut word, &mut out);
            out.push(make(&[n], PieceKind::Punct));
        } else {
            word.push(n);
        }
    }
    flush(&mut word, &mut out);
    out
}
