//! Driver for profiling WordPiece encode (bert-base-uncased, embedded): encodes a file held
//! in memory with a counting token sink, `RUNS` times (default 1), one engine and one encoder
//! kept warm across runs as a pipeline worker keeps them, and prints the best time.
//!
//! ```sh
//! cargo build --release --example profile_encode
//! TOKSTREAM_SIMD=avx2 valgrind --tool=callgrind target/release/examples/profile_encode en.txt
//! target/release/examples/profile_encode en.txt 20     # best of 20 runs, in MB/s
//! perf record target/release/examples/profile_encode en.txt 50
//! ```
//!
//! (valgrind does not run AVX-512 code: profile the AVX2 level with it.)

use tokstream::pipeline::{EncodeSink, Token, TokenSink};
use tokstream::subword::{Model, WordPiece};

#[derive(Default)]
struct CountTokens(u64);

impl TokenSink for CountTokens {
    fn token(&mut self, _t: Token) -> tokstream::Result<()> {
        self.0 += 1;
        Ok(())
    }
    fn tokens(&mut self, ts: &[Token]) -> tokstream::Result<()> {
        self.0 += ts.len() as u64;
        Ok(())
    }
}

fn main() -> tokstream::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: profile_encode FILE [RUNS]");
    let runs: usize = args
        .next()
        .map_or(1, |r| r.parse().expect("RUNS is a number"));
    let text = std::fs::read(&path)?;
    let model = Model::WordPiece(WordPiece::bert_base_uncased());
    let mut rules = model.splitter(false);
    let mut sink = EncodeSink::new(&model, CountTokens::default());
    let mut best = f64::INFINITY;
    let mut tokens = 0;
    for _ in 0..runs {
        let t = std::time::Instant::now();
        rules.reset_at(0);
        sink.stats = Default::default();
        rules.feed(&text, &mut sink)?;
        rules.finish(&mut sink)?;
        best = best.min(t.elapsed().as_secs_f64());
        tokens = sink.stats.tokens;
    }
    println!(
        "{tokens} tokens, {} bytes, {}: best of {runs} {:.2} ms = {:.0} MB/s",
        text.len(),
        tokstream::scan::Scanner::detect().level().name(),
        best * 1e3,
        text.len() as f64 / best / 1e6
    );
    Ok(())
}
