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
