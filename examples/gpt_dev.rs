//! A small single-threaded driver of the GPT rules and byte-level BPE, for profiling
//! (`valgrind --tool=callgrind`) and quick timings: the whole input is one chunk, nothing is
//! written, only counts are printed.
//!
//! ```sh
//! cargo build --release --example gpt_dev
//! gpt_dev split  cl100k      FILE [REPEAT]     # pieces of the gpt2 | cl100k | o200k rules
//! gpt_dev feed   cl100k      FILE [REPEAT]     # the same pieces, the splitter alone
//! gpt_dev encode cl100k_base FILE [REPEAT]     # tokens of a built-in model or a model file
//! valgrind --tool=callgrind --toggle-collect='*gpt_dev*work*' gpt_dev encode cl100k_base FILE
//! ```
//!
//! The input is FILE repeated REPEAT times (default 1). The measured part is `work`, so
//! `--toggle-collect` leaves out model loading and reading the file. `split` goes through
//! `run_rules` as the CLI does (its chunk reader copies the input into a fresh buffer of the
//! input's size, page faults included, and counts the lines); `feed` hands the input to the
//! splitter in place (`Splitter::feed` + `finish`): the pre-tokenizer alone.

use std::time::Instant;

use tokstream::Error;
use tokstream::pipeline::{EncodeSink, Token, TokenSink, run_rules};
use tokstream::rules::{Piece, PieceRun, PieceSink, RuleSet, Splitter};
use tokstream::subword::Model;

/// Counts pieces.
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

/// Counts tokens and sums their ids (so nothing is optimized away).
#[derive(Default)]
struct CountTokens {
    n: u64,
    sum: u64,
}

impl TokenSink for CountTokens {
    fn token(&mut self, t: Token) -> tokstream::Result<()> {
        self.n += 1;
        self.sum = self.sum.wrapping_add(u64::from(t.id));
        Ok(())
    }

    fn tokens(&mut self, ts: &[Token]) -> tokstream::Result<()> {
        self.n += ts.len() as u64;
        for t in ts {
            self.sum = self.sum.wrapping_add(u64::from(t.id));
        }
        Ok(())
    }

    /// As `--format u32`: line ends write nothing.
    fn needs_line_ends(&self) -> bool {
        false
    }
}

/// The measured part: (pieces or tokens, a checksum).
#[inline(never)]
fn work(mode: &str, what: &str, model: Option<&Model>, input: &[u8]) -> Result<(u64, u64), Error> {
    let chunk = input.len().max(1);
    if mode == "feed" {
        let rules: RuleSet = what.parse().map_err(Error::config)?;
        let mut sink = CountPieces(0);
        let mut splitter = Splitter::for_split(rules, false);
        splitter.feed(input, &mut sink)?;
        splitter.finish(&mut sink)?;
        return Ok((sink.0, 0));
    }
    if mode == "split" {
        let rules: RuleSet = what.parse().map_err(Error::config)?;
        let mut sink = CountPieces(0);
        run_rules(input, Splitter::for_split(rules, false), chunk, &mut sink)?;
        return Ok((sink.0, 0));
    }
    let model = model.expect("a model for encode");
    let mut sink = EncodeSink::new(model, CountTokens::default());
    run_rules(input, model.splitter(false), chunk, &mut sink)?;
    let c = sink.into_inner();
    Ok((c.n, c.sum))
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: gpt_dev split|feed|encode RULES|MODEL FILE [REPEAT]");
        std::process::exit(2);
    }
    let (mode, what, file) = (&args[0], &args[1], &args[2]);
    let repeat: usize = args.get(3).map_or(1, |r| r.parse().expect("REPEAT"));
    let model = match mode.as_str() {
        "encode" => Some(tokstream::cli::load_model(what)?),
        "split" | "feed" => None,
        _ => return Err(Error::config(format!("unknown mode {mode}"))),
    };
    let one = std::fs::read(file).map_err(|e| Error::from(e).with_path(file))?;
    let input = one.repeat(repeat);
    let t = Instant::now();
    let (n, sum) = work(mode, what, model.as_ref(), &input)?;
    let s = t.elapsed().as_secs_f64();
    println!(
        "{mode} {what}: {} bytes, {n} {}, checksum {sum}, {s:.3} s, {:.1} MB/s",
        input.len(),
        if mode == "encode" { "tokens" } else { "pieces" },
        input.len() as f64 / s / 1e6
    );
    Ok(())
}
