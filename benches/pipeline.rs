//! The parallel pipeline end to end (reader thread, workers, ordered delivery), `-j 1` and
//! `-j 2`, the detected scanner level, default chunk size (256 KiB).
//!
//! * `pipeline/bert-none/j<N>/<corpus>-<size>`: encode with bert-base-uncased into
//!   `--format none`; en, zh, ja, ko, code, mixed at tiny (< 100 B), small (~1 KiB) and large
//!   (8 MiB of the corpus, or the committed sample).
//! * `pipeline/bert-u32/j<N>/<corpus>-large`: the same into `--format u32` (a writer that counts
//!   the bytes; 4 per token is asserted too).
//! * `pipeline/cl100k-none/j<N>/<corpus>-large`: encode with cl100k_base.
//! * `pipeline/bert-none/j<N>/<corpus>-large+1`: the large inputs starting 1 byte past a
//!   64-byte boundary.
//! * `pipeline/{bert,cl100k}-none/j<N>/<case>`: the worst cases (`giant-word`, `punct`,
//!   `emoji`, `spaces`; 3 MiB each).
//!
//! Every iteration asserts the token count of the sequential driver (`encode_stream`, with the
//! `reference` scanner level for BERT), so a pipeline that loses or duplicates work fails the
//! bench (`cargo test --benches` runs each once).
//!
//! ```sh
//! TOKSTREAM_CORPUS=/work/corpus-data cargo bench --bench pipeline
//! ```

#![allow(missing_docs)] // criterion's macros generate undocumented functions

mod common;

use std::cell::Cell;
use std::io::Write;

use common::{CountTokens, Input};
use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use tokstream::output::Format;
use tokstream::pipeline::{self, Pipeline, PipelineBuilder, StreamOptions};
use tokstream::scan::{Level, Scanner};
use tokstream::subword::{Bpe, Model, WordPiece};

/// Counts the bytes written to it.
struct CountBytes(u64);

impl Write for CountBytes {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The token count of the sequential driver (reference scanner level).
fn driver_count(model: &Model, text: &[u8]) -> u64 {
    let opts = StreamOptions {
        scanner: Scanner::with_level(Level::Reference),
        ..Default::default()
    };
    let n = Cell::new(0);
    let stats = pipeline::encode_stream(text, model, &opts, &mut CountTokens(&n)).unwrap();
    assert_eq!(stats.tokens, n.get());
    n.get()
}

/// `pipeline/<what>/j<N>/<input>` for N = 1 and 2.
fn bench_jobs(
    g: &mut BenchmarkGroup<'_, WallTime>,
    pipelines: &[Pipeline],
    what: &str,
    model: &Model,
    format: Format,
    input: &Input,
) {
    let text = input.bytes();
    let want = driver_count(model, text);
    common::timing(g, text.len());
    g.throughput(Throughput::Bytes(text.len() as u64));
    for p in pipelines {
        let id = BenchmarkId::new(format!("{what}/j{}", p.workers()), input.id());
        g.bench_with_input(id, text, |b, text| {
            b.iter(|| {
                let mut out = CountBytes(0);
                let s = p
                    .write_encoded(model, text, format, &mut out, &mut ())
                    .unwrap();
                assert_eq!(s.tokens, want);
                if format == Format::U32 {
                    assert_eq!(out.0, 4 * want);
                }
            })
        });
    }
}

fn bench(c: &mut Criterion) {
    let bert = Model::WordPiece(WordPiece::bert_base_uncased());
    let cl100k = Model::Bpe(Bpe::builtin("cl100k_base").expect("embedded model"));
    let pipelines: Vec<Pipeline> = [1, 2]
        .iter()
        .map(|&j| PipelineBuilder::new().workers(j).build().unwrap())
        .collect();
    let inputs = common::inputs(&common::NAMES);
    let large: Vec<&Input> = inputs.iter().filter(|i| i.size == "large").collect();

    let mut g = c.benchmark_group("pipeline");
    for input in &inputs {
        bench_jobs(&mut g, &pipelines, "bert-none", &bert, Format::None, input);
    }
    for input in &large {
        bench_jobs(&mut g, &pipelines, "bert-u32", &bert, Format::U32, input);
    }
    for input in &large {
        bench_jobs(
            &mut g,
            &pipelines,
            "cl100k-none",
            &cl100k,
            Format::None,
            input,
        );
    }
    for input in &common::misaligned(&inputs) {
        bench_jobs(&mut g, &pipelines, "bert-none", &bert, Format::None, input);
    }
    for input in &common::worst_cases() {
        bench_jobs(&mut g, &pipelines, "bert-none", &bert, Format::None, input);
        bench_jobs(
            &mut g,
            &pipelines,
            "cl100k-none",
            &cl100k,
            Format::None,
            input,
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
