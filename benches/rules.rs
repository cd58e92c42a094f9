//! Every rule set (bert, bert-cased, gpt2, cl100k, o200k) as `tokstream split` runs it
//! (`Splitter::for_split`: raw bytes kept, no normalized text for BERT), single thread, pieces
//! counted, no output.
//!
//! * `rules/<rules>/<level>/<corpus>-<size>`: en, zh, ja, ko, code, mixed at tiny (< 100 B),
//!   small (~1 KiB) and large (8 MiB of the corpus, or the committed sample); for the BERT rule
//!   sets every scanner level this CPU runs (`reference` is the per-character engine), for the
//!   GPT ones `engine` (they take no scanner).
//! * `rules/<rules>/<level>/<corpus>-large+1`: the large inputs starting 1 byte past a 64-byte
//!   boundary (every level for bert, the detected one for bert-cased).
//! * `rules/bert/<level>/<case>` and `rules/cl100k/engine/<case>`: the worst cases
//!   (`giant-word`, `punct`, `emoji`, `spaces`; 3 MiB each).
//!
//! One engine per bench is reused (`Splitter::reset_at(0)` per iteration, as the pipeline's
//! workers do). Every iteration asserts the piece count of the reference: the `reference`
//! level for BERT, `rules::gpt::pieces` (the non-streaming matcher) for GPT; so
//! `cargo test --benches`, which runs each bench once, checks every level on every input.
//!
//! ```sh
//! TOKSTREAM_CORPUS=/work/corpus-data cargo bench --bench rules
//! cargo bench --bench rules -- 'rules/cl100k/'      # one rule set
//! ```

#![allow(missing_docs)] // criterion's macros generate undocumented functions

mod common;

use common::{CountPieces, Input};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokstream::rules::{RuleSet, Splitter, gpt};
use tokstream::scan::{Level, Scanner};

/// Pieces of `text` through `sp`, reset to a fresh engine at offset 0 first.
fn count(sp: &mut Splitter, text: &[u8], sink: &mut CountPieces) -> u64 {
    sp.reset_at(0);
    sink.0 = 0;
    sp.feed(text, sink).unwrap();
    sp.finish(sink).unwrap();
    sink.0
}

/// The reference piece count.
fn reference(rules: RuleSet, text: &[u8]) -> u64 {
    match rules.gpt_pattern() {
        Some(p) => gpt::pieces(p, text).len() as u64,
        None => {
            let reference = Scanner::with_level(Level::Reference).unwrap();
            let mut sp = Splitter::for_split(rules, false).with_scanner(reference);
            count(&mut sp, text, &mut CountPieces::default())
        }
    }
}

/// The engines to bench for `rules`: one per scanner level for BERT (`all_levels`, else the
/// detected one), the one engine for GPT.
fn engines(rules: RuleSet, all_levels: bool) -> Vec<(&'static str, Splitter)> {
    if rules.gpt_pattern().is_some() {
        return vec![("engine", Splitter::for_split(rules, false))];
    }
    let scanners: Vec<Scanner> = if all_levels {
        Level::available()
            .into_iter()
            .filter_map(Scanner::with_level)
            .collect()
    } else {
        vec![Scanner::detect()]
    };
    scanners
        .into_iter()
        .map(|s| {
            let sp = Splitter::for_split(rules, false).with_scanner(s);
            assert_eq!(sp.level(), s.level());
            (s.level().name(), sp)
        })
        .collect()
}

fn bench_inputs(
    c: &mut Criterion,
    rules: RuleSet,
    inputs: &[Input],
    wants: &[u64],
    all_levels: bool,
) {
    let mut g = c.benchmark_group(format!("rules/{rules}"));
    for (input, &want) in inputs.iter().zip(wants) {
        let text = input.bytes();
        common::timing(&mut g, text.len());
        g.throughput(Throughput::Bytes(text.len() as u64));
        for (level, mut sp) in engines(rules, all_levels) {
            let mut sink = CountPieces::default();
            g.bench_with_input(BenchmarkId::new(level, input.id()), text, |b, t| {
                b.iter(|| assert_eq!(count(&mut sp, t, &mut sink), want, "{level}"))
            });
        }
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let inputs = common::inputs(&common::NAMES);
    let shifted = common::misaligned(&inputs);
    let worst = common::worst_cases();
    for &rules in RuleSet::ALL {
        let wants: Vec<u64> = inputs.iter().map(|i| reference(rules, i.bytes())).collect();
        bench_inputs(c, rules, &inputs, &wants, true);
        // The misaligned copies hold the same bytes as the large inputs.
        let shifted_wants: Vec<u64> = inputs
            .iter()
            .zip(&wants)
            .filter(|(i, _)| i.size == "large")
            .map(|(_, &w)| w)
            .collect();
        bench_inputs(
            c,
            rules,
            &shifted,
            &shifted_wants,
            rules != RuleSet::BertCased,
        );
        if matches!(rules, RuleSet::Bert | RuleSet::Cl100k) {
            let wants: Vec<u64> = worst.iter().map(|i| reference(rules, i.bytes())).collect();
            bench_inputs(c, rules, &worst, &wants, true);
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
