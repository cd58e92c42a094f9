//! GPT rules and byte-level BPE, single thread, one chunk, no output: the before/after figures
//! of docs/performance.md (GPT section). Counts are asserted in every iteration.
//!
//! * `gpt_dev/split/<rules>/<corpus>`: the gpt2, cl100k, o200k rules (pieces counted)
//!   through `run_rules`, as the CLI (its chunk reader copies the input into a fresh buffer,
//!   page faults included, and counts lines);
//! * `gpt_dev/feed/<rules>/<corpus>`: the same pieces, the splitter alone on the text in
//!   place (`Splitter::feed` + `finish`): the pre-tokenizer's own speed;
//! * `gpt_dev/encode/<model>/<corpus>`: rules + BPE (r50k_base, cl100k_base, o200k_base;
//!   tokens counted).
//!
//! Inputs: the first 8 MiB of `$TOKSTREAM_CORPUS/{en,zh}.txt` when that is set, else the
//! committed samples `tests/data/{en,zh}.txt` repeated to about 8 MiB.
//!
//! ```sh
//! TOKSTREAM_CORPUS=/work/corpus-data cargo bench --bench gpt_dev
//! ```

#![allow(missing_docs)] // criterion's macros generate undocumented functions

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokstream::pipeline::{EncodeSink, Token, TokenSink, run_rules};
use tokstream::rules::{Piece, PieceRun, PieceSink, RuleSet, Splitter};
use tokstream::subword::{Bpe, Model};

const SIZE: usize = 8 << 20;

fn input(name: &str) -> Vec<u8> {
    if let Ok(dir) = std::env::var("TOKSTREAM_CORPUS") {
        let mut t = std::fs::read(format!("{dir}/{name}.txt")).expect("corpus file");
        t.truncate(SIZE);
        return t;
    }
    let path = format!("{}/tests/data/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    let one = std::fs::read(path).expect("tests/data sample");
    one.repeat(SIZE.div_ceil(one.len()))
}

struct CountPieces(u64);

impl PieceSink for CountPieces {
    fn piece(&mut self, _p: &Piece<'_>) -> tokstream::Result<()> {
        self.0 += 1;
        Ok(())
    }

    fn piece_run(&mut self, run: &PieceRun<'_>) -> tokstream::Result<()> {
        self.0 += run.len() as u64;
        Ok(())
    }
}

struct CountTokens(u64);

impl TokenSink for CountTokens {
    fn token(&mut self, _t: Token) -> tokstream::Result<()> {
        self.0 += 1;
        Ok(())
    }
}

fn split(rules: RuleSet, text: &[u8]) -> u64 {
    let mut sink = CountPieces(0);
    run_rules(
        text,
        Splitter::for_split(rules, false),
        text.len(),
        &mut sink,
    )
    .unwrap();
    sink.0
}

fn feed(rules: RuleSet, text: &[u8]) -> u64 {
    let mut sink = CountPieces(0);
    let mut splitter = Splitter::for_split(rules, false);
    splitter.feed(text, &mut sink).unwrap();
    splitter.finish(&mut sink).unwrap();
    sink.0
}

fn encode(model: &Model, text: &[u8]) -> u64 {
    let mut sink = EncodeSink::new(model, CountTokens(0));
    run_rules(text, model.splitter(false), text.len(), &mut sink).unwrap();
    sink.into_inner().0
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("gpt_dev");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let texts = [("en", input("en")), ("zh", input("zh"))];
    let split_cases = [
        (RuleSet::Gpt2, "en"),
        (RuleSet::Cl100k, "en"),
        (RuleSet::O200k, "en"),
        (RuleSet::Gpt2, "zh"),
        (RuleSet::Cl100k, "zh"),
        (RuleSet::O200k, "zh"),
    ];
    for (rules, name) in split_cases {
        let text = &texts.iter().find(|t| t.0 == name).unwrap().1;
        let want = split(rules, text);
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(
            BenchmarkId::new(format!("split/{rules}"), name),
            text,
            |b, t| b.iter(|| assert_eq!(split(rules, t), want)),
        );
        assert_eq!(feed(rules, text), want);
        g.bench_with_input(
            BenchmarkId::new(format!("feed/{rules}"), name),
            text,
            |b, t| b.iter(|| assert_eq!(feed(rules, t), want)),
        );
    }
    let encode_cases = [
        ("r50k_base", "en"),
        ("cl100k_base", "en"),
        ("o200k_base", "en"),
        ("cl100k_base", "zh"),
    ];
    for (model, name) in encode_cases {
        let m = Model::Bpe(Bpe::builtin(model).unwrap());
        let text = &texts.iter().find(|t| t.0 == name).unwrap().1;
        let want = encode(&m, text);
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(
            BenchmarkId::new(format!("encode/{model}"), name),
            text,
            |b, t| b.iter(|| assert_eq!(encode(&m, t), want)),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
