//! Byte-level BPE (r50k_base, cl100k_base, o200k_base; tiktoken-exact), single thread, tokens
//! counted, no output.
//!
//! * `bpe/encode/<model>/<corpus>-<size>`: end to end, the model's GPT rules engine
//!   (`Model::splitter`, long pieces cut at 1 MiB) into `pipeline::EncodeSink`; en, zh, ja, ko,
//!   code, mixed at tiny (< 100 B), small (~1 KiB) and large (8 MiB of the corpus, or the
//!   committed sample). The GPT rules take no scanner, so there are no levels to force.
//! * `bpe/encode/cl100k_base/<corpus>-large+1`: the large inputs starting 1 byte past a 64-byte
//!   boundary.
//! * `bpe/encode/cl100k_base/<case>`: the worst cases (`giant-word`, `punct`, `emoji`,
//!   `spaces`; 3 MiB each: pieces of several MB, cut into 1 MiB parts, merged by the heap).
//! * `bpe/pieces/<model>/<corpus>-<size>`: BPE alone (`Bpe::encode_each`) on the pieces of the
//!   same inputs, split beforehand by `rules::gpt::pieces`. Throughput is given in bytes of the
//!   original text.
//!
//! Every iteration asserts the token count of the reference: the sequential driver
//! (`pipeline::encode_stream`, 256 KiB chunks) for `encode`, and for `pieces` a plain
//! transcription of tiktoken's merge loop (lowest rank first, leftmost on ties, O(n²)) over
//! `rules::gpt::pieces`, which is also checked against the `encode` count at set-up.
//! `cargo test --benches` runs each bench once.
//!
//! ```sh
//! TOKSTREAM_CORPUS=/work/corpus-data cargo bench --bench bpe
//! ```

#![allow(missing_docs)] // criterion's macros generate undocumented functions

mod common;

use std::cell::Cell;

use common::{CountTokens, Input};
use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use tokstream::pipeline::{self, EncodeSink, StreamOptions};
use tokstream::rules::gpt::{self, DEFAULT_MAX_PIECE};
use tokstream::subword::{Bpe, Model};

const MODELS: [&str; 3] = ["r50k_base", "cl100k_base", "o200k_base"];

/// Pieces longer than this are counted with the model itself in the naive reference (its
/// O(n²) loop would take too long); reported on stderr.
const NAIVE_MAX: usize = 4096;

/// The token count of the sequential driver.
fn driver_count(model: &Model, text: &[u8]) -> u64 {
    let n = Cell::new(0);
    let stats =
        pipeline::encode_stream(text, model, &StreamOptions::default(), &mut CountTokens(&n))
            .unwrap();
    assert_eq!(stats.tokens, n.get());
    n.get()
}

/// tiktoken's `_byte_pair_merge`, plainly: the number of tokens of one piece.
fn naive_tokens(bpe: &Bpe, piece: &[u8]) -> u64 {
    if bpe.token_id(piece).is_some() {
        return 1;
    }
    // Part k is piece[bounds[k]..bounds[k + 1]]; merge the adjacent pair of lowest rank.
    let mut bounds: Vec<usize> = (0..=piece.len()).collect();
    loop {
        let mut best: Option<(u32, usize)> = None;
        for k in 0..bounds.len().saturating_sub(2) {
            if let Some(rank) = bpe.token_id(&piece[bounds[k]..bounds[k + 2]])
                && best.is_none_or(|(r, _)| rank < r)
            {
                best = Some((rank, k));
            }
        }
        match best {
            Some((_, k)) => {
                bounds.remove(k + 1);
            }
            None => return bounds.len() as u64 - 1,
        }
    }
}

/// The pieces of a text (byte ranges) and their naive token count.
fn pieces_and_count(bpe: &Bpe, text: &[u8]) -> (Vec<(usize, usize)>, u64) {
    let pieces = gpt::pieces(bpe.pattern(), text);
    let mut long = 0;
    let mut n = 0;
    for &(s, e) in &pieces {
        let piece = &text[s..e];
        if piece.len() <= NAIVE_MAX {
            n += naive_tokens(bpe, piece);
        } else {
            long += 1;
            let _ = bpe.encode_each(piece, |_, _| {
                n += 1;
                Ok::<(), ()>(())
            });
        }
    }
    if long > 0 {
        eprintln!(
            "bpe: {long} pieces over {NAIVE_MAX} bytes counted with the model itself ({})",
            bpe.name()
        );
    }
    (pieces, n)
}

/// Tokens of `text` through `model`'s rules engine (fresh at offset 0) into `sink`.
fn encode_count(
    model: &Model,
    sink: &mut EncodeSink<'_, CountTokens<'_>>,
    n: &Cell<u64>,
    text: &[u8],
) -> u64 {
    n.set(0);
    let mut sp = model.splitter(false);
    sp.feed(text, sink).unwrap();
    sp.finish(sink).unwrap();
    n.get()
}

/// One `bpe/encode` bench.
fn encode_bench(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    model: &Model,
    input: &Input,
    want: u64,
) {
    let text = input.bytes();
    common::timing(g, text.len());
    g.throughput(Throughput::Bytes(text.len() as u64));
    let n = Cell::new(0);
    let mut sink = EncodeSink::new(model, CountTokens(&n));
    g.bench_with_input(BenchmarkId::new(name, input.id()), text, |b, t| {
        b.iter(|| assert_eq!(encode_count(model, &mut sink, &n, t), want))
    });
}

fn bench(c: &mut Criterion) {
    let inputs = common::inputs(&common::NAMES);
    let shifted = common::misaligned(&inputs);
    let worst = common::worst_cases();
    let models: Vec<(&str, Model)> = MODELS
        .iter()
        .map(|&name| {
            (
                name,
                Model::Bpe(Bpe::builtin(name).expect("embedded model")),
            )
        })
        .collect();

    // Reference counts: the driver, checked against naive BPE over the reference pieces.
    let mut wants = Vec::new(); // per model, per input
    let mut split = Vec::new();
    for (name, model) in &models {
        let Model::Bpe(bpe) = model else {
            unreachable!()
        };
        let mut w = Vec::new();
        let mut s = Vec::new();
        for input in &inputs {
            let want = driver_count(model, input.bytes());
            let (pieces, naive) = pieces_and_count(bpe, input.bytes());
            let longest = pieces.iter().map(|&(s, e)| e - s).max().unwrap_or(0);
            if longest <= DEFAULT_MAX_PIECE {
                assert_eq!(
                    naive,
                    want,
                    "{name} {}: naive BPE over gpt::pieces vs the driver",
                    input.id()
                );
            }
            w.push(want);
            s.push((pieces, naive));
        }
        wants.push(w);
        split.push(s);
    }

    let mut g = c.benchmark_group("bpe/encode");
    for ((name, model), wants) in models.iter().zip(&wants) {
        for (input, &want) in inputs.iter().zip(wants) {
            encode_bench(&mut g, name, model, input, want);
        }
    }
    let (name, cl100k) = &models[1];
    for input in shifted.iter().chain(&worst) {
        let want = driver_count(cl100k, input.bytes());
        encode_bench(&mut g, name, cl100k, input, want);
    }
    g.finish();

    let mut g = c.benchmark_group("bpe/pieces");
    for ((name, model), split) in models.iter().zip(&split) {
        let Model::Bpe(bpe) = model else {
            unreachable!()
        };
        for (input, (pieces, want)) in inputs.iter().zip(split) {
            let text = input.bytes();
            common::timing(&mut g, text.len());
            g.throughput(Throughput::Bytes(text.len() as u64));
            g.bench_with_input(BenchmarkId::new(*name, input.id()), text, |b, t| {
                b.iter(|| {
                    let mut n = 0u64;
                    for &(s, e) in pieces {
                        let _ = bpe.encode_each(&t[s..e], |_, _| {
                            n += 1;
                            Ok::<(), ()>(())
                        });
                    }
                    assert_eq!(n, *want);
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
