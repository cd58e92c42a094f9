//! WordPiece (bert-base-uncased), single thread, tokens counted, no output.
//!
//! * `wordpiece/encode/<level>/<corpus>-<size>`: end to end, the model's rules engine
//!   (`Model::splitter`, forced to every scanner level this CPU runs) into
//!   `pipeline::EncodeSink`; en, zh, ja, ko, code, mixed at tiny (< 100 B), small (~1 KiB) and
//!   large (8 MiB of the corpus, or the committed sample).
//! * `wordpiece/encode/<level>/<corpus>-large+1`: the large inputs starting 1 byte past a
//!   64-byte boundary (the detected level).
//! * `wordpiece/encode/<level>/<case>`: the worst cases (`giant-word`, `punct`, `emoji`,
//!   `spaces`; 3 MiB each), every level.
//! * `wordpiece/matcher/{plain,cached}/<corpus>-<size>`: the matcher alone on the normalized
//!   words of the same inputs, split beforehand: `WordPiece::encode_word`, and
//!   `encode_word_cached` with one `WordCache` kept warm across iterations. Throughput is
//!   given in bytes of the original text, as for `encode`.
//!
//! Every iteration asserts the token count of the reference: for `encode` the `reference`
//! scanner level (the per-character engine, no batched probes); for `matcher` a plain
//! transcription of HF's greedy algorithm over a `HashMap` of the vocabulary (also checked
//! against the `encode` count at set-up). `cargo test --benches` runs each bench once.
//!
//! ```sh
//! TOKSTREAM_CORPUS=/work/corpus-data cargo bench --bench wordpiece
//! ```

#![allow(missing_docs)] // criterion's macros generate undocumented functions

mod common;

use std::cell::Cell;
use std::collections::HashMap;

use common::{CountTokens, Input};
use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use tokstream::pipeline::EncodeSink;
use tokstream::rules::{Piece, PieceSink, Splitter};
use tokstream::scan::{Level, Scanner};
use tokstream::subword::{Model, WordCache, WordPiece};

/// Tokens of `text`: `sp` reset to offset 0, pieces into `sink`, tokens counted in `n`.
fn encode_count(
    sp: &mut Splitter,
    sink: &mut EncodeSink<'_, CountTokens<'_>>,
    n: &Cell<u64>,
    text: &[u8],
) -> u64 {
    n.set(0);
    sp.reset_at(0);
    sp.feed(text, sink).unwrap();
    sp.finish(sink).unwrap();
    n.get()
}

/// The reference token count: a fresh engine at the reference level.
fn reference_count(model: &Model, text: &[u8]) -> u64 {
    let reference = Scanner::with_level(Level::Reference).unwrap();
    let mut sp = model.splitter(false).with_scanner(reference);
    let n = Cell::new(0);
    let mut sink = EncodeSink::new(model, CountTokens(&n));
    encode_count(&mut sp, &mut sink, &n, text)
}

/// The normalized words of a text, as the model's rules engine reports them (at most
/// `max_input_chars_per_word` characters kept; `chars` is the full count).
#[derive(Default)]
struct Words {
    bytes: Vec<u8>,
    /// `(start, end, chars)`: the word is `bytes[start..end]`.
    spans: Vec<(u32, u32, u32)>,
}

impl PieceSink for Words {
    fn piece(&mut self, p: &Piece<'_>) -> tokstream::Result<()> {
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(p.normalized);
        let end = self.bytes.len() as u32;
        self.spans.push((start, end, p.chars as u32));
        Ok(())
    }
}

impl Words {
    fn of(model: &Model, text: &[u8]) -> Words {
        let reference = Scanner::with_level(Level::Reference).unwrap();
        let mut sp = model.splitter(false).with_scanner(reference);
        let mut words = Words::default();
        sp.feed(text, &mut words).unwrap();
        sp.finish(&mut words).unwrap();
        words
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], usize)> + '_ {
        self.spans
            .iter()
            .map(|&(s, e, c)| (&self.bytes[s as usize..e as usize], c as usize))
    }
}

/// HF's WordPiece greedy longest match, transcribed plainly: the number of tokens of `word`
/// (`chars` characters), `[UNK]` counting one.
fn hf_tokens(vocab: &HashMap<Vec<u8>, u32>, word: &[u8], chars: usize) -> u64 {
    if chars > 100 {
        return 1;
    }
    let mut n = 0;
    let mut start = 0;
    let mut cand = Vec::new();
    while start < word.len() {
        let mut end = word.len();
        loop {
            if end == start {
                return 1; // no token at `start`: the whole word is [UNK]
            }
            cand.clear();
            if start > 0 {
                cand.extend_from_slice(b"##");
            }
            cand.extend_from_slice(&word[start..end]);
            if vocab.contains_key(&cand) {
                break;
            }
            end -= 1;
            while end > start && (word[end] & 0xC0) == 0x80 {
                end -= 1;
            }
        }
        n += 1;
        start = end;
    }
    n
}

/// One `wordpiece/encode` bench: `input` at scanner level `s`, asserting `want` tokens.
fn encode_bench(
    g: &mut BenchmarkGroup<'_, WallTime>,
    model: &Model,
    input: &Input,
    s: Scanner,
    want: u64,
) {
    let text = input.bytes();
    common::timing(g, text.len());
    g.throughput(Throughput::Bytes(text.len() as u64));
    let mut sp = model.splitter(false).with_scanner(s);
    let n = Cell::new(0);
    let mut sink = EncodeSink::new(model, CountTokens(&n));
    let id = BenchmarkId::new(s.level().name(), input.id());
    g.bench_with_input(id, text, |b, t| {
        b.iter(|| assert_eq!(encode_count(&mut sp, &mut sink, &n, t), want))
    });
}

fn bench(c: &mut Criterion) {
    let wp = WordPiece::bert_base_uncased();
    assert_eq!(wp.config().max_input_chars_per_word, 100);
    let vocab: HashMap<Vec<u8>, u32> = (0..wp.vocab().len() as u32)
        .filter_map(|id| Some((wp.vocab().token(id)?.to_vec(), id)))
        .collect();
    let model = Model::WordPiece(wp.clone());
    let detected = Scanner::detect();
    let levels: Vec<Scanner> = Level::available()
        .into_iter()
        .filter_map(Scanner::with_level)
        .collect();

    let inputs = common::inputs(&common::NAMES);
    let shifted = common::misaligned(&inputs);
    let worst = common::worst_cases();
    let wants: Vec<u64> = inputs
        .iter()
        .map(|i| reference_count(&model, i.bytes()))
        .collect();

    let mut g = c.benchmark_group("wordpiece/encode");
    for (input, &want) in inputs.iter().zip(&wants) {
        for &s in &levels {
            encode_bench(&mut g, &model, input, s, want);
        }
    }
    for input in &shifted {
        let want = reference_count(&model, input.bytes());
        encode_bench(&mut g, &model, input, detected, want);
    }
    for input in &worst {
        let want = reference_count(&model, input.bytes());
        for &s in &levels {
            encode_bench(&mut g, &model, input, s, want);
        }
    }
    g.finish();

    let mut g = c.benchmark_group("wordpiece/matcher");
    for (input, &want_e2e) in inputs.iter().zip(&wants) {
        let words = Words::of(&model, input.bytes());
        let want: u64 = words.iter().map(|(w, c)| hf_tokens(&vocab, w, c)).sum();
        assert_eq!(
            want,
            want_e2e,
            "{}: HF's greedy matcher on the reference engine's words vs encode",
            input.id()
        );
        common::timing(&mut g, input.bytes().len());
        g.throughput(Throughput::Bytes(input.bytes().len() as u64));
        let mut out = Vec::new();
        g.bench_with_input(BenchmarkId::new("plain", input.id()), &words, |b, words| {
            b.iter(|| {
                let mut n = 0u64;
                for (w, c) in words.iter() {
                    out.clear();
                    wp.encode_word(w, c, &mut out);
                    n += out.len() as u64;
                }
                assert_eq!(n, want);
            })
        });
        let mut cache = WordCache::default();
        g.bench_with_input(
            BenchmarkId::new("cached", input.id()),
            &words,
            |b, words| {
                b.iter(|| {
                    let mut n = 0u64;
                    for (w, c) in words.iter() {
                        out.clear();
                        wp.encode_word_cached(w, c, &mut cache, &mut out);
                        n += out.len() as u64;
                    }
                    assert_eq!(n, want);
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
