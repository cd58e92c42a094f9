//! Output never depends on the chunk size or the worker count. For a fuzzer-chosen chunk size
//! and 1 to 3 workers, on any bytes, for the `bert` rules + bert-base-uncased and the `cl100k`
//! rules + cl100k_base:
//!
//! * `split` (sequential `split_stream` into a `PieceWriter`): jsonl and text output and stats
//!   equal the one-shot run (the whole input as one chunk);
//! * `split` on the parallel pipeline (`Pipeline::write_split`): the same bytes;
//! * `encode` (sequential `encode_stream`): tokens, line ends and stats equal `encode_bytes`;
//! * `encode` on the parallel pipeline (`Pipeline::encode`, `Pipeline::write_encoded` jsonl
//!   and u32, the latter through the encoders' path for sinks without line ends): the same
//!   tokens and bytes.
//!
//! Input: 3 header bytes (chunk size: u16, workers: u8), then the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokstream::Stats;
use tokstream::output::{Format, PieceWriter, TokenWriter};
use tokstream::pipeline::{self, PipelineBuilder, StreamOptions, Token};
use tokstream::rules::RuleSet;
use tokstream::subword::Model;
use tokstream_fuzz::*;

fn split_seq(text: &[u8], rules: RuleSet, chunk: usize, format: Format) -> (Vec<u8>, Stats) {
    let mut w = PieceWriter::new(Vec::new(), format).unwrap();
    let opts = StreamOptions {
        chunk_size: chunk,
        ..Default::default()
    };
    let st = pipeline::split_stream(text, rules, &opts, &mut w).unwrap();
    (w.finish().unwrap(), st)
}

fn encode_seq(text: &[u8], model: &Model, chunk: usize) -> (Vec<TokEv>, Stats) {
    let mut out = Toks::default();
    let opts = StreamOptions {
        chunk_size: chunk,
        ..Default::default()
    };
    let st = pipeline::encode_stream(text, model, &opts, &mut out).unwrap();
    (out.0, st)
}

fn encode_seq_jsonl(text: &[u8], model: &Model, chunk: usize) -> Vec<u8> {
    let mut w = TokenWriter::new(Vec::new(), Format::Jsonl, model.vocab_size()).unwrap();
    let opts = StreamOptions {
        chunk_size: chunk,
        ..Default::default()
    };
    pipeline::encode_stream(text, model, &opts, &mut w).unwrap();
    w.finish().unwrap()
}

/// The counts that must not depend on chunking (not the timings).
fn counts(s: &Stats) -> [Option<u64>; 7] {
    [
        Some(s.bytes),
        Some(s.lines),
        Some(s.pieces),
        Some(s.tokens),
        Some(s.unk),
        Some(s.replaced),
        s.first_replaced,
    ]
}

fn same_bytes(label: &str, text: &[u8], want: &[u8], got: &[u8]) {
    if want != got {
        let i = want
            .iter()
            .zip(got)
            .position(|(a, b)| a != b)
            .unwrap_or(want.len().min(got.len()));
        panic!(
            "MISMATCH {label}: output differs at byte {i}\n  want: {:?}\n  got:  {:?}\n  input ({} bytes): {:?}",
            String::from_utf8_lossy(&want[i.saturating_sub(60)..(i + 60).min(want.len())]),
            String::from_utf8_lossy(&got[i.saturating_sub(60)..(i + 60).min(got.len())]),
            text.len(),
            String::from_utf8_lossy(text)
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let mut h = Header::new(data);
    let (c, workers) = (h.u16() as usize, 1 + h.u8() as usize % 3);
    let text = h.rest();
    let whole = text.len().max(1);
    // Small sizes are where cuts land inside characters and words: favour them.
    let chunk = if c & 0x8000 == 0 {
        1 + c % 16
    } else {
        1 + c % (text.len() + 8)
    };
    let label = format!("chunk {chunk} workers {workers}");
    let pipe = PipelineBuilder::new()
        .workers(workers)
        .chunk_size(chunk)
        .build()
        .unwrap();

    for (rules, model) in [
        (RuleSet::Bert, bert_model()),
        (RuleSet::Cl100k, bpe_model("cl100k_base")),
    ] {
        for format in [Format::Jsonl, Format::Text] {
            let (want, want_st) = split_seq(text, rules, whole, format);
            let (got, got_st) = split_seq(text, rules, chunk, format);
            same_bytes(
                &format!("split {rules} {format:?} {label}"),
                text,
                &want,
                &got,
            );
            assert_eq!(
                counts(&want_st),
                counts(&got_st),
                "split {rules} stats {label}"
            );
            let mut par = Vec::new();
            let st = pipe
                .write_split(rules, text, format, &mut par, &mut ())
                .unwrap();
            same_bytes(
                &format!("parallel split {rules} {format:?} {label}"),
                text,
                &want,
                &par,
            );
            assert_eq!(
                counts(&want_st)[..3],
                counts(&st)[..3],
                "parallel split {rules} stats {label}"
            );
        }

        let (want, want_st) = encode_seq(text, model, whole);
        let one_shot: Vec<Token> = pipeline::encode_bytes(model, text).unwrap();
        let want_plain: Vec<Token> = want
            .iter()
            .filter_map(|e| {
                if let TokEv::Tok(t) = e {
                    Some(*t)
                } else {
                    None
                }
            })
            .collect();
        assert_same(
            &format!("encode_bytes vs encode_stream {rules}"),
            text,
            &want_plain,
            &one_shot,
            |t| t.start,
        );
        let (got, got_st) = encode_seq(text, model, chunk);
        assert_same(
            &format!("encode {rules} {label}"),
            text,
            &want,
            &got,
            tokev_at,
        );
        assert_eq!(
            counts(&want_st),
            counts(&got_st),
            "encode {rules} stats {label}"
        );

        let seq_j = encode_seq_jsonl(text, model, chunk);
        let want_j = encode_seq_jsonl(text, model, whole);
        same_bytes(
            &format!("encode jsonl {rules} {label}"),
            text,
            &want_j,
            &seq_j,
        );
        let mut par: Vec<Token> = Vec::new();
        let st = pipe.encode(model, text, &mut par).unwrap();
        assert_same(
            &format!("parallel encode {rules} {label}"),
            text,
            &want_plain,
            &par,
            |t| t.start,
        );
        assert_eq!(
            counts(&want_st)[..5],
            counts(&st)[..5],
            "parallel encode {rules} stats {label}"
        );

        let mut par_j = Vec::new();
        pipe.write_encoded(model, text, Format::Jsonl, &mut par_j, &mut ())
            .unwrap();
        same_bytes(
            &format!("parallel encode jsonl {rules} {label}"),
            text,
            &want_j,
            &par_j,
        );

        // u32 output takes the encoders' path without line ends (`needs_line_ends`).
        let want_u32: Vec<u8> = want_plain.iter().flat_map(|t| t.id.to_le_bytes()).collect();
        let mut par_u32 = Vec::new();
        pipe.write_encoded(model, text, Format::U32, &mut par_u32, &mut ())
            .unwrap();
        assert!(
            par_u32 == want_u32,
            "parallel encode u32 {rules} {label}: {} bytes, want {}",
            par_u32.len(),
            want_u32.len()
        );
    }
});
