//! The GPT oracle: `fancy-regex` (what tiktoken matches with) and tiktoken's exact patterns,
//! copied from SPEC.md §3 (not from the library).
//!
//! Bytes that are not UTF-8 are decoded as `String::from_utf8_lossy` does (each maximal invalid
//! sequence one U+FFFD, which is what the library's rules see too) and the oracle's offsets in
//! that string are mapped back to the original bytes.

use std::sync::OnceLock;

use fancy_regex::Regex;
use tokstream::rules::GptPattern;

use crate::bert_ref::decode_lossy;

/// gpt2 / r50k_base / p50k_base (SPEC.md §3).
pub const GPT2: &str =
    r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s";
/// cl100k_base (SPEC.md §3).
pub const CL100K: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";
/// o200k_base: the seven alternatives of SPEC.md §3 joined with `|`.
pub const O200K_PARTS: [&str; 7] = [
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"\p{N}{1,3}",
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"\s*[\r\n]+",
    r"\s+(?!\S)",
    r"\s+",
];

/// The three patterns, in the order gpt2, cl100k, o200k.
pub const PATTERNS: [GptPattern; 3] = [GptPattern::Gpt2, GptPattern::Cl100k, GptPattern::O200k];

/// The SPEC.md pattern string of `p`.
pub fn spec_pattern(p: GptPattern) -> String {
    match p {
        GptPattern::Gpt2 => GPT2.to_string(),
        GptPattern::Cl100k => CL100K.to_string(),
        GptPattern::O200k => O200K_PARTS.join("|"),
    }
}

/// The compiled oracle of `p`.
pub fn oracle(p: GptPattern) -> &'static Regex {
    static RE: OnceLock<Vec<Regex>> = OnceLock::new();
    let all = RE.get_or_init(|| {
        PATTERNS
            .iter()
            .map(|&p| {
                // Backtracking on long whitespace runs: allow plenty (inputs are small).
                fancy_regex::RegexBuilder::new(&spec_pattern(p))
                    .backtrack_limit(100_000_000)
                    .build()
                    .expect("SPEC pattern compiles")
            })
            .collect()
    });
    &all[PATTERNS
        .iter()
        .position(|q| *q == p)
        .expect("known pattern")]
}

/// Pieces of `input` (any bytes) by the oracle, as original byte ranges; `None` if fancy-regex
/// gave up (backtrack limit).
pub fn pieces(p: GptPattern, input: &[u8]) -> Option<Vec<(usize, usize)>> {
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
    let mut out = Vec::new();
    for m in oracle(p).find_iter(&text) {
        let m = m.ok()?;
        out.push((orig[m.start()], orig[m.end()]));
    }
    Some(out)
}
