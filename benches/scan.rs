//! The scanner under the bert rules: pieces found per second, single thread, no output.
#![allow(missing_docs)]
//!
//! `scan/<level>/<corpus>` runs the bert (uncased) rules engine with each scanner level and a
//! sink that only counts pieces: batches of pieces from the vector piece finder are counted
//! whole, so this measures the scanner and the engine, not a writer. The expected count is the
//! reference level's (the per-character oracle), asserted in every iteration, so
//! `cargo test --benches` checks exactness too.
//!
//! ```sh
//! TOKSTREAM_CORPUS=/work/corpus-data cargo bench --bench scan
//! ```

mod common;

use common::CountPieces;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokstream::rules::{BertConfig, BertSplitter};
use tokstream::scan::{Level, Scanner};

fn count_pieces(text: &[u8], scanner: Scanner) -> u64 {
    let cfg = BertConfig {
        norm_cap: 0,
        ..BertConfig::uncased()
    };
    let mut rules = BertSplitter::with_scanner(cfg, scanner);
    let mut sink = CountPieces::default();
    rules.feed(text, &mut sink).unwrap();
    rules.finish(&mut sink).unwrap();
    sink.0
}

fn bench(c: &mut Criterion) {
    let corpora = common::corpora(&["en", "zh", "ja", "ko", "code", "mixed"]);
    let reference = Scanner::with_level(Level::Reference).unwrap();
    let levels: Vec<Scanner> = Level::available()
        .into_iter()
        .filter_map(Scanner::with_level)
        .collect();
    let mut g = c.benchmark_group("scan");
    for corpus in &corpora {
        let want = count_pieces(&corpus.text, reference);
        g.throughput(Throughput::Bytes(corpus.text.len() as u64));
        for &s in &levels {
            g.bench_with_input(
                BenchmarkId::new(s.level().name(), corpus.name),
                &corpus.text,
                |b, t| b.iter(|| assert_eq!(count_pieces(t, s), want)),
            );
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
