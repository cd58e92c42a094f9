//! Encode the `"text"` field of newline-delimited JSON documents into little-endian u32 ids,
//! with an end-of-document id between documents: the `.bin` format nanoGPT-style training
//! loaders read.
//!
//! ```sh
//! cargo run --release --example jsonl_ids -- docs.jsonl docs.bin            # bert-base-uncased
//! cargo run --release --example jsonl_ids -- --eod 102 -j 2 - docs.bin < docs.jsonl
//! ```
//!
//! The pipeline and its encoder are built once and reused for every document. A document
//! that fits in one chunk is encoded on this thread (no thread start-up, and the word cache
//! stays warm from one document to the next); a larger one is cut into chunks that the
//! workers encode in parallel, and the sink still sees its tokens in order.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};

use tokstream::pipeline::{PipelineBuilder, Sink, Token};
use tokstream::{Error, Stats};

/// Writes ids as little-endian u32, buffered.
struct IdWriter<W: Write> {
    out: W,
    ids: Vec<u32>,
}

impl<W: Write> IdWriter<W> {
    fn push(&mut self, id: u32) -> io::Result<()> {
        self.ids.push(id.to_le());
        if self.ids.len() >= 1 << 16 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(bytemuck::cast_slice(&self.ids))?;
        self.ids.clear();
        self.out.flush()
    }
}

/// The push-model sink: tokens arrive in stream order; `Ok(true)` means go on.
impl<W: Write> Sink for IdWriter<W> {
    type Error = Error;
    fn tokens(&mut self, tokens: &[Token]) -> Result<bool, Error> {
        for t in tokens {
            self.push(t.id)?;
        }
        Ok(true)
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("jsonl_ids: error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut model_name, mut eod, mut jobs) = ("bert-base-uncased".to_string(), None, 0);
    let mut paths = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model" => model_name = args.next().ok_or("--model needs a value")?,
            "--eod" => eod = Some(args.next().ok_or("--eod needs an id")?.parse::<u32>()?),
            "-j" => jobs = args.next().ok_or("-j needs a number")?.parse()?,
            _ => paths.push(a),
        }
    }
    let [input, output] = paths.as_slice() else {
        return Err(
            "usage: jsonl_ids [--model NAME] [--eod ID] [-j N] INPUT.jsonl|- OUTPUT.bin".into(),
        );
    };
    let model = tokstream::cli::load_model(&model_name)?;
    // Default end-of-document id: [SEP] for BERT vocabularies, else the last id.
    let eod = eod.unwrap_or_else(|| {
        (0..model.vocab_size() as u32)
            .find(|&id| model.token_bytes(id) == Some(b"[SEP]"))
            .unwrap_or(model.vocab_size() as u32 - 1)
    });
    let pipeline = PipelineBuilder::new().workers(jobs).build()?;
    let mut encoder = pipeline.encoder(&model);

    let reader: Box<dyn BufRead> = if input == "-" {
        Box::new(BufReader::new(io::stdin().lock()))
    } else {
        Box::new(BufReader::new(
            File::open(input).map_err(|e| format!("{input}: {e}"))?,
        ))
    };
    let out = File::create(output).map_err(|e| format!("{output}: {e}"))?;
    let mut sink = IdWriter {
        out: BufWriter::new(out),
        ids: Vec::new(),
    };
    let mut total = Stats::default();
    let mut docs = 0u64;
    for (n, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let doc: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| format!("{input}: line {}: {e}", n + 1))?;
        let text = doc["text"]
            .as_str()
            .ok_or_else(|| format!("{input}: line {}: no string \"text\" field", n + 1))?;
        if docs > 0 {
            sink.push(eod)?;
        }
        total += encoder.encode_bytes(text.as_bytes(), &mut sink)?;
        docs += 1;
    }
    sink.flush()?;
    eprintln!(
        "{docs} documents, {} bytes, {} tokens (+{} end-of-document ids {eod}) → {output}",
        total.bytes,
        total.tokens,
        docs.saturating_sub(1)
    );
    Ok(())
}
