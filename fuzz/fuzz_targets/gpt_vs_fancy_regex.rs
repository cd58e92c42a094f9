//! The hand-written GPT rules (gpt2, cl100k, o200k) against fancy-regex with tiktoken's exact
//! patterns (SPEC.md §3): on any bytes (invalid UTF-8 is one U+FFFD per maximal invalid
//! sequence on both sides, offsets mapped back to the input), whole-text pieces
//! (`rules::gpt::pieces`) and streaming `split` pieces at a fuzzer-chosen chunk size (raw
//! bytes checked against the input), and the same in one chunk with the engine forced to each
//! scanner level this CPU runs (the vector piece finder of `scan::gpt` only looks at 64 bytes
//! or more in one buffer).
//!
//! Input: 1 header byte (chunk size), then the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokstream::pipeline::run_rules;
use tokstream::rules::{GptConfig, GptSplitter, RuleSet, Splitter, gpt};
use tokstream::scan::Level;
use tokstream_fuzz::gpt_ref::{self, PATTERNS};
use tokstream_fuzz::*;

fuzz_target!(|data: &[u8]| {
    let mut h = Header::new(data);
    let chunk = 1 + h.u8() as usize % 32;
    let text = h.rest();
    for (p, rules) in PATTERNS
        .into_iter()
        .zip([RuleSet::Gpt2, RuleSet::Cl100k, RuleSet::O200k])
    {
        // The library documents the same pattern strings: they must be SPEC's.
        assert_eq!(
            p.regex(),
            gpt_ref::spec_pattern(p),
            "{p:?} pattern text differs from SPEC.md"
        );
        let Some(want) = gpt_ref::pieces(p, text) else {
            return;
        };
        let got = gpt::pieces(p, text);
        assert_same(&format!("{p:?} pieces"), text, &want, &got, |r| r.0 as u64);
        let mut c = Collect::new(Some(text));
        run_rules(text, Splitter::for_split(rules, false), chunk, &mut c).unwrap();
        let got: Vec<(usize, usize)> = c
            .pieces()
            .iter()
            .map(|r| (r.start as usize, r.end as usize))
            .collect();
        assert_same(
            &format!("{p:?} split, chunk {chunk}"),
            text,
            &want,
            &got,
            |r| r.0 as u64,
        );
        for level in Level::available() {
            let engine = GptSplitter::new(GptConfig::new(p))
                .with_level(level)
                .expect("an available level");
            let mut c = Collect::new(Some(text));
            run_rules(text, Splitter::Gpt(engine), text.len().max(1), &mut c).unwrap();
            let got: Vec<(usize, usize)> = c
                .pieces()
                .iter()
                .map(|r| (r.start as usize, r.end as usize))
                .collect();
            assert_same(
                &format!("{p:?} split at level {level}, one chunk"),
                text,
                &want,
                &got,
                |r| r.0 as u64,
            );
        }
    }
});
