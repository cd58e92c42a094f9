//! Driver for profiling the bert rules on the scanner: splits a file held in memory with a
//! counting sink, `RUNS` times (default 1), and prints the count and the best time.
//!
//! ```sh
//! cargo build --release --example profile_scan
//! TOKSTREAM_SIMD=avx2 valgrind --tool=callgrind target/release/examples/profile_scan en.txt
//! target/release/examples/profile_scan en.txt 20     # best of 20 runs, in MB/s
//! ```
//!
//! (valgrind does not run AVX-512 code: profile the AVX2 level with it.)

use tokstream::rules::{AsciiBatch, BertConfig, BertSplitter, Piece, PieceSink};
use tokstream::scan::Scanner;

#[derive(Default)]
struct CountPieces(u64);

impl PieceSink for CountPieces {
    fn piece(&mut self, _p: &Piece<'_>) -> tokstream::Result<()> {
        self.0 += 1;
        Ok(())
    }

    fn ascii_batch(&mut self, batch: &AsciiBatch<'_>) -> tokstream::Result<()> {
        self.0 += (batch.len() - batch.line_ends) as u64;
        Ok(())
    }
}

fn count(text: &[u8]) -> tokstream::Result<u64> {
    let cfg = BertConfig {
        norm_cap: 0,
        ..BertConfig::uncased()
    };
    let mut rules = BertSplitter::with_scanner(cfg, Scanner::detect());
    let mut sink = CountPieces::default();
    rules.feed(text, &mut sink)?;
    rules.finish(&mut sink)?;
    Ok(sink.0)
}

fn main() -> tokstream::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: profile_scan FILE [RUNS]");
    let runs: usize = args
        .next()
        .map_or(1, |r| r.parse().expect("RUNS is a number"));
    let text = std::fs::read(&path)?;
    let mut best = f64::INFINITY;
    let mut pieces = 0;
    for _ in 0..runs {
        let t = std::time::Instant::now();
        pieces = count(&text)?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{pieces} pieces, {} bytes, {}: best of {runs} {:.2} ms = {:.0} MB/s",
        text.len(),
        Scanner::detect().level().name(),
        best * 1e3,
        text.len() as f64 / best / 1e6
    );
    Ok(())
}
