//! The streaming BERT rules engine against an obviously-correct whole-text implementation
//! (`tokstream_fuzz::bert_ref`: normalize everything as HF does, then split): on any bytes, for
//! the uncased and cased settings, piece offsets, normalized text, char counts, kinds and the
//! per-char alignment back to the original bytes; raw bytes equal the input slice; a line end
//! at every `\n`. Run with the reference level (per-char engine) and the fastest level.
//!
//! Input: the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokstream::rules::{BertConfig, BertSplitter, Splitter};
use tokstream::scan::{Level, Scanner};
use tokstream_fuzz::*;

fuzz_target!(|text: &[u8]| {
    let lines: Vec<u64> = (0..text.len())
        .filter(|&i| text[i] == b'\n')
        .map(|i| i as u64)
        .collect();
    for (name, cfg) in [
        ("uncased", BertConfig::uncased()),
        ("cased", BertConfig::cased()),
    ] {
        let want = bert_ref::pieces(text, &cfg);
        for level in [Level::Reference, Level::best()] {
            let s = Scanner::with_level(level).expect("available");
            let cfg = BertConfig {
                keep_raw: true,
                norm_cap: usize::MAX / 2,
                ..cfg
            };
            let mut c = Collect::new(Some(text));
            feed_parts(
                Splitter::Bert(BertSplitter::with_scanner(cfg, s)),
                &[text],
                &mut c,
            );
            let got = c.pieces();
            assert_same(
                &format!("bert {name} pieces, level {level}"),
                text,
                &want,
                &got,
                |p| p.start,
            );
            let got_lines: Vec<u64> = c
                .events
                .iter()
                .filter_map(|e| {
                    if let Event::Line(at) = e {
                        Some(*at)
                    } else {
                        None
                    }
                })
                .collect();
            assert_eq!(lines, got_lines, "bert {name} line ends, level {level}");
        }
    }
});
