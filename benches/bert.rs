//! BERT rules and WordPiece throughput, single thread, no output.
#![allow(missing_docs)]
//!
//! * `split/<level>/<corpus>`: the bert rules engine with every scanner level (pieces counted).
//! * `encode/<level>/<corpus>`: rules + WordPiece (bert-base-uncased), tokens counted.
//!
//! Every iteration asserts the piece or token count of the reference level, so a fast path
//! that loses exactness fails the bench (`cargo test --benches` runs each once).
//!
//! ```sh
//! TOKSTREAM_CORPUS=/work/corpus-data cargo bench --bench bert
//! ```

mod common;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokstream::pipeline::{Token, TokenSink};
use tokstream::rules::{BertConfig, BertSplitter, Piece, PieceSink};
use tokstream::scan::{Level, Scanner};
use tokstream::subword::{EncodeScratch, Model, WordPiece};

#[derive(Default)]
struct CountPieces(u64);

impl PieceSink for CountPieces {
    #[inline]
    fn piece(&mut self, _p: &Piece<'_>) -> tokstream::Result<()> {
        self.0 += 1;
        Ok(())
    }
}

#[derive(Default)]
struct CountTokens(u64);

impl TokenSink for CountTokens {
    #[inline]
    fn token(&mut self, _t: Token) -> tokstream::Result<()> {
        self.0 += 1;
        Ok(())
    }
}

struct Encode<'m> {
    model: &'m Model,
    scratch: EncodeScratch,
    out: CountTokens,
    stats: tokstream::Stats,
}

impl PieceSink for Encode<'_> {
    #[inline]
    fn piece(&mut self, p: &Piece<'_>) -> tokstream::Result<()> {
        self.model
            .encode_piece(p, &mut self.scratch, &mut self.out, &mut self.stats)
    }

    #[inline]
    fn ascii_batch(&mut self, batch: &tokstream::rules::AsciiBatch<'_>) -> tokstream::Result<()> {
        self.model
            .encode_ascii_batch(batch, &mut self.scratch, &mut self.out, &mut self.stats)
    }
}

fn split_count(text: &[u8], scanner: Scanner) -> u64 {
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

fn encode_count(text: &[u8], model: &Model, scanner: Scanner) -> u64 {
    let Model::WordPiece(wp) = model else {
        unreachable!()
    };
    let cfg = BertConfig {
        norm_cap: wp.config().max_input_chars_per_word,
        ..wp.normalizer()
    };
    let mut rules = BertSplitter::with_scanner(cfg, scanner);
    let mut sink = Encode {
        model,
        scratch: EncodeScratch::default(),
        out: CountTokens::default(),
        stats: Default::default(),
    };
    rules.feed(text, &mut sink).unwrap();
    rules.finish(&mut sink).unwrap();
    sink.out.0
}

fn bench(c: &mut Criterion) {
    let corpora = common::corpora(&["en", "zh", "ja", "code", "mixed"]);
    let model = Model::WordPiece(WordPiece::bert_base_uncased());
    let reference = Scanner::with_level(Level::Reference).unwrap();
    let levels: Vec<Scanner> = Level::available()
        .into_iter()
        .filter_map(Scanner::with_level)
        .collect();

    let mut g = c.benchmark_group("split");
    for corpus in &corpora {
        let want = split_count(&corpus.text, reference);
        g.throughput(Throughput::Bytes(corpus.text.len() as u64));
        for &s in &levels {
            g.bench_with_input(
                BenchmarkId::new(s.level().name(), corpus.name),
                &corpus.text,
                |b, t| b.iter(|| assert_eq!(split_count(t, s), want)),
            );
        }
    }
    g.finish();

    let mut g = c.benchmark_group("encode");
    for corpus in &corpora {
        let want = encode_count(&corpus.text, &model, reference);
        g.throughput(Throughput::Bytes(corpus.text.len() as u64));
        for &s in [reference, Scanner::detect()].iter() {
            g.bench_with_input(
                BenchmarkId::new(s.level().name(), corpus.name),
                &corpus.text,
                |b, t| b.iter(|| assert_eq!(encode_count(t, &model, s), want)),
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
