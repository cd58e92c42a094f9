//! Output must not depend on the chunk size, and memory must not grow with a giant word.

use tokstream::pipeline::DEFAULT_CHUNK_SIZE;
use tokstream::rules::RuleSet;

use super::common::*;

/// Chunk sizes the issue asks for: 1 to 67, 4096 and the default.
fn chunk_sizes() -> impl Iterator<Item = usize> {
    (1..=67).chain([4096, DEFAULT_CHUNK_SIZE])
}

#[test]
fn encode_is_identical_for_every_chunk_size() {
    for name in CORPUS {
        let input = text(name);
        let want = golden_tokens(name);
        for size in chunk_sizes() {
            let got = encode(&input, size);
            assert_same(
                &format!("{name}: tokens, chunk size {size}"),
                &input,
                &want,
                &got,
                |t| t.start,
            );
        }
    }
}

#[test]
fn split_is_identical_for_every_chunk_size() {
    for name in CORPUS {
        let input = text(name);
        for rules in [RuleSet::Bert, RuleSet::BertCased] {
            let want = golden_pieces(rules, name);
            let want_jsonl = split_jsonl(&input, rules, DEFAULT_CHUNK_SIZE);
            for size in chunk_sizes() {
                let got = split(&input, rules, size);
                let label = format!("{name}: {rules} pieces, chunk size {size}");
                assert_same(&label, &input, &want, &got, |p| p.0);
                // The written output (raw bytes of each piece, escaped) too.
                assert!(
                    split_jsonl(&input, rules, size) == want_jsonl,
                    "{label}: jsonl differs"
                );
            }
        }
    }
}

#[test]
fn cuts_inside_characters_words_and_deleted_runs() {
    // Hand-made stress: deleted chars around words, invalid bytes, marks, CJK, all cut apart.
    let input = "a\u{200B}b\u{200B} \u{FEFF}é\u{0301}x\u{0301} 한국어\u{00AD}語 ≠\u{0085}ｘ\r\n\
                 \u{1F600}\u{200D}\u{1F600} end"
        .as_bytes()
        .iter()
        .copied()
        .chain(*b"\xFFab\xE2\x82cd\xF0\x9F")
        .collect::<Vec<u8>>();
    let want_tokens = encode(&input, input.len());
    let want_pieces = split(&input, RuleSet::Bert, input.len());
    let want_jsonl = split_jsonl(&input, RuleSet::Bert, input.len());
    for size in 1..input.len() {
        assert_eq!(encode(&input, size), want_tokens, "chunk size {size}");
        assert_eq!(
            split(&input, RuleSet::Bert, size),
            want_pieces,
            "chunk size {size}"
        );
        assert_eq!(
            split_jsonl(&input, RuleSet::Bert, size),
            want_jsonl,
            "chunk size {size}"
        );
    }
}

/// A piece sink that records everything it is told, in order.
#[derive(Default, PartialEq, Debug)]
struct Events(Vec<(u64, u64, Vec<u8>)>);

impl tokstream::rules::PieceSink for Events {
    fn piece(&mut self, p: &tokstream::rules::Piece<'_>) -> tokstream::Result<()> {
        self.0.push((p.start, p.end, p.normalized.to_vec()));
        Ok(())
    }
    fn line_end(&mut self, at: u64) -> tokstream::Result<()> {
        self.0.push((at, at, b"\n".to_vec()));
        Ok(())
    }
}

/// `run_rules_bytes` (text read in place, as `encode_bytes` does) reports the same pieces,
/// line ends and counts as `run_rules` over chunks, for every rule set, on the corpus and on
/// edge cases (empty, no final newline, invalid UTF-8, only newlines).
#[test]
fn in_place_driver_equals_the_chunked_one() {
    use tokstream::pipeline::{run_rules, run_rules_bytes};
    use tokstream::rules::Splitter;
    let mut inputs: Vec<Vec<u8>> = CORPUS
        .iter()
        .map(|n| text(n).into_iter().take(20_000).collect())
        .collect();
    for edge in [
        &b""[..],
        b"a",
        b"a\n",
        b"\n\n",
        b"x \xff\xfe y\n\xe4\xb8",
        b"  \t",
    ] {
        inputs.push(edge.to_vec());
    }
    for input in &inputs {
        for rules in [
            RuleSet::Bert,
            RuleSet::Cl100k,
            RuleSet::O200k,
            RuleSet::Whitespace,
        ] {
            let mut want = Events::default();
            let want_st = run_rules(
                &input[..],
                Splitter::for_split(rules, false),
                333,
                &mut want,
            )
            .unwrap();
            let mut got = Events::default();
            let got_st =
                run_rules_bytes(input, Splitter::for_split(rules, false), &mut got).unwrap();
            assert_eq!(got, want, "{rules} on {} bytes", input.len());
            let counts =
                |s: &tokstream::stats::Stats| (s.bytes, s.lines, s.replaced, s.first_replaced);
            assert_eq!(
                counts(&got_st),
                counts(&want_st),
                "{rules} stats on {} bytes",
                input.len()
            );
        }
    }
}
