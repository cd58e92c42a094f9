//! The parallel pipeline end to end (reader thread, workers, ordered delivery), encode with
//! bert-base-uncased into `--format none` and `u32`, for 1 and 2 workers.
//!
//! Every iteration asserts the token count of the sequential driver, so a pipeline that loses
//! or duplicates work fails the bench (`cargo test --benches` runs each once).
//!
//! Input: the first `TOKSTREAM_BENCH_BYTES` (default 32 MiB) of `$TOKSTREAM_CORPUS/<name>.txt`
//! when `TOKSTREAM_CORPUS` points at the shared corpus, else the samples in tests/data.
//!
//! ```sh
//! TOKSTREAM_CORPUS=/work/corpus-data cargo bench --bench pipeline
//! ```

#![allow(missing_docs)] // criterion's macros generate undocumented functions

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokstream::output::{Format, TokenWriter};
use tokstream::pipeline::{self, PipelineBuilder, StreamOptions};
use tokstream::subword::{Model, WordPiece};

fn pipeline(c: &mut Criterion) {
    let model = Model::WordPiece(WordPiece::bert_base_uncased());
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10);
    for name in ["en", "zh"] {
        let corpus = corpus(name);
        let text = &corpus[..];
        let mut w = TokenWriter::new(std::io::sink(), Format::None, model.vocab_size()).unwrap();
        let want = pipeline::encode_stream(text, &model, &StreamOptions::default(), &mut w)
            .unwrap()
            .tokens;
        g.throughput(Throughput::Bytes(text.len() as u64));
        for format in [Format::None, Format::U32] {
            for workers in [1, 2] {
                let p = PipelineBuilder::new().workers(workers).build().unwrap();
                let id = BenchmarkId::new(format!("encode-{format}/j{workers}"), name);
                g.bench_with_input(id, text, |b, text| {
                    b.iter(|| {
                        let s = p
                            .write_encoded(&model, text, format, std::io::sink(), &mut ())
                            .unwrap();
                        assert_eq!(s.tokens, want);
                    })
                });
            }
        }
    }
    g.finish();
}

/// The bench input named `name` (see the module docs).
fn corpus(name: &str) -> Vec<u8> {
    let limit: usize = std::env::var("TOKSTREAM_BENCH_BYTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32 << 20);
    let big = std::env::var_os("TOKSTREAM_CORPUS")
        .map(|d| std::path::PathBuf::from(d).join(format!("{name}.txt")));
    if let Some(mut t) = big.and_then(|p| std::fs::read(p).ok()) {
        t.truncate(limit);
        return t;
    }
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/{name}.txt"));
    std::fs::read(p).expect("tests/data sample")
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
