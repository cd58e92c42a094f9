//! The `whitespace` oracle: HF's own regex `\w+|[^\w\s]+` (tokenizers'
//! `pre_tokenizers/whitespace.rs`), matched by the regex crate as HF matches it, on the text
//! decoded as `String::from_utf8_lossy` does; offsets mapped back to the original bytes.

use std::sync::OnceLock;

use fancy_regex::Regex;

use crate::bert_ref::decode_lossy;

/// HF's pattern.
pub const PATTERN: &str = r"\w+|[^\w\s]+";

/// Pieces of `input` (any bytes) as original byte ranges.
pub fn pieces(input: &[u8]) -> Vec<(usize, usize)> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(PATTERN).expect("HF's pattern compiles"));
    let chars = decode_lossy(input);
    let mut text = String::with_capacity(input.len());
    // orig[i] = original offset of lossy byte offset i (at char starts and the end).
    let mut orig = Vec::with_capacity(input.len() + 4);
    for &(c, s, _) in &chars {
        for _ in 0..c.len_utf8() {
            orig.push(s);
        }
        text.push(c);
    }
    orig.push(input.len());
    re.find_iter(&text)
        .map(|m| {
            let m = m.expect("no backtracking in this pattern");
            (orig[m.start()], orig[m.end()])
        })
        .collect()
}
