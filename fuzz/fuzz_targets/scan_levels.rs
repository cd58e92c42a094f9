//! Every scanner level (scalar piece finder, SSE4.2, AVX2, AVX-512BW, NEON: whatever this CPU
//! runs) gives exactly the output of `Level::Reference` (the per-character engine without a
//! piece finder), on any bytes, fed whole or cut into 3 parts at fuzzer-chosen positions, at a
//! fuzzer-chosen offset from the start of its allocation (which ends with the text). Compared: `split` pieces of `bert` and `bert-cased` (offsets,
//! raw bytes, line ends), the full normalized pieces (text, char count, kind, per-char
//! alignment), and bert-base-uncased tokens (ids, offsets, line ends, `[UNK]` count).
//!
//! Input: 5 header bytes (cut a: u16, cut b: u16, alignment: u8), then the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokstream::pipeline::EncodeSink;
use tokstream::rules::{BertConfig, BertSplitter, RuleSet, Splitter};
use tokstream::scan::{Level, Scanner};
use tokstream_fuzz::*;

fn split_events(text: &[u8], parts: &[&[u8]], rules: RuleSet, s: Scanner) -> Vec<Event> {
    let mut c = Collect::new(Some(text));
    feed_parts(
        Splitter::for_split(rules, false).with_scanner(s),
        parts,
        &mut c,
    );
    c.events
}

fn full_events(text: &[u8], parts: &[&[u8]], cfg: BertConfig, s: Scanner) -> Vec<Event> {
    let cfg = BertConfig {
        keep_raw: true,
        norm_cap: usize::MAX / 2,
        ..cfg
    };
    let mut c = Collect::new(Some(text));
    feed_parts(
        Splitter::Bert(BertSplitter::with_scanner(cfg, s)),
        parts,
        &mut c,
    );
    c.events
}

fn tokens(parts: &[&[u8]], s: Scanner) -> (Vec<TokEv>, u64, u64) {
    let model = bert_model();
    let mut out = Toks::default();
    let mut sink = EncodeSink::new(model, &mut out);
    feed_parts(model.splitter(false).with_scanner(s), parts, &mut sink);
    let (pieces, unk) = (sink.stats.pieces, sink.stats.unk);
    (out.0, pieces, unk)
}

fuzz_target!(|data: &[u8]| {
    let mut h = Header::new(data);
    let (a, b, align) = (h.u16(), h.u16(), h.u8() as usize % 64);
    let raw = h.rest();
    // Copy to a fuzzer-chosen offset in a buffer that ends exactly where the text ends, so that
    // AddressSanitizer sees any vector load past the end (or before the start, at offset 0).
    let mut buf = vec![0u8; align + raw.len()];
    buf[align..].copy_from_slice(raw);
    let text = &buf[align..];

    let reference = Scanner::with_level(Level::Reference).expect("always available");
    let whole: [&[u8]; 1] = [text];
    let cut = cut3(text, a, b);

    let want_split: Vec<_> = [RuleSet::Bert, RuleSet::BertCased]
        .map(|r| split_events(text, &whole, r, reference))
        .into();
    let want_full: Vec<_> = [BertConfig::uncased(), BertConfig::cased()]
        .map(|c| full_events(text, &whole, c, reference))
        .into();
    let want_tok = tokens(&whole, reference);

    for level in Level::available() {
        let s = Scanner::with_level(level).expect("available");
        for (how, parts) in [("whole", &whole[..]), ("cut", &cut[..])] {
            if level == Level::Reference && how == "whole" {
                continue;
            }
            let cuts = format!(
                "{level} {how} {:?}",
                parts.iter().map(|p| p.len()).collect::<Vec<_>>()
            );
            for (i, r) in [RuleSet::Bert, RuleSet::BertCased].into_iter().enumerate() {
                let got = split_events(text, parts, r, s);
                assert_same(
                    &format!("split {r} {cuts}"),
                    text,
                    &want_split[i],
                    &got,
                    event_at,
                );
            }
            for (i, c) in [BertConfig::uncased(), BertConfig::cased()]
                .into_iter()
                .enumerate()
            {
                let got = full_events(text, parts, c, s);
                let name = if i == 0 { "uncased" } else { "cased" };
                assert_same(
                    &format!("normalized pieces {name} {cuts}"),
                    text,
                    &want_full[i],
                    &got,
                    event_at,
                );
            }
            let got = tokens(parts, s);
            assert_same(
                &format!("tokens {cuts}"),
                text,
                &want_tok.0,
                &got.0,
                tokev_at,
            );
            assert_eq!(
                (want_tok.1, want_tok.2),
                (got.1, got.2),
                "piece/[UNK] counts {cuts}"
            );
        }
    }
});
