//! The `whitespace` rules (HF's `Whitespace` pre-tokenizer) against HF's own regex
//! `\w+|[^\w\s]+` matched by the regex crate (`tokstream_fuzz::whitespace_ref`): on any bytes
//! (invalid UTF-8 is one U+FFFD per maximal invalid sequence on both sides, offsets mapped back
//! to the input), the whole-text per-character oracle (`rules::whitespace::pieces`), and the
//! streaming engine at the reference level (per character) and at every other level (the
//! vector fast path), cut into up to three parts at fuzzer-chosen positions: piece offsets and
//! kinds, raw bytes equal to the input, a line end at every `\n`.
//!
//! Input: cut a (u16), cut b (u16), then the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokstream::rules::{PieceKind, Splitter, WhitespaceConfig, WhitespaceSplitter, whitespace};
use tokstream::scan::{Level, Scanner};
use tokstream_fuzz::*;

fuzz_target!(|data: &[u8]| {
    let mut h = Header::new(data);
    let (a, b) = (h.u16(), h.u16());
    let text = h.rest();
    let want = whitespace_ref::pieces(text);
    assert_same(
        "per-character oracle",
        text,
        &want,
        &whitespace::pieces(text),
        |r| r.0 as u64,
    );
    let lines: Vec<u64> = (0..text.len())
        .filter(|&i| text[i] == b'\n')
        .map(|i| i as u64)
        .collect();
    let parts = cut3(text, a, b);
    for level in Level::available() {
        let s = Scanner::with_level(level).expect("available");
        let mut c = Collect::new(Some(text));
        feed_parts(
            Splitter::Whitespace(WhitespaceSplitter::with_scanner(
                WhitespaceConfig::default(),
                s,
            )),
            &parts,
            &mut c,
        );
        let got: Vec<(usize, usize)> = c
            .pieces()
            .iter()
            .map(|r| (r.start as usize, r.end as usize))
            .collect();
        let label = format!("whitespace pieces, level {level}, cuts {a} {b}");
        assert_same(&label, text, &want, &got, |r| r.0 as u64);
        for p in c.pieces() {
            // A word piece starts with a word character, a punctuation piece does not.
            let first = String::from_utf8_lossy(&text[p.start as usize..p.end as usize])
                .chars()
                .next()
                .expect("pieces are not empty");
            let word = whitespace::char_class(first) == tokstream::unicode::whitespace_tables::W;
            assert_eq!(p.kind == PieceKind::Word, word, "{label}: kind of {p:?}");
        }
        let got_lines: Vec<u64> = c
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Line(at) => Some(*at),
                Event::Piece(_) => None,
            })
            .collect();
        assert_eq!(lines, got_lines, "{label}: line ends");
    }
});
