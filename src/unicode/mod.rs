//! Unicode character classes and accent stripping for the BERT normalizer and
//! pre-tokenizer, reproducing Hugging Face `tokenizers` exactly.
//!
//! HF computes these with two old crates: `unicode_categories` 0.1.1 (general
//! categories, Unicode 8.0 data) and `unicode-normalization-alignments`
//! 0.1.12 (NFD, Unicode 9.0.0). Their answers differ from what today's Unicode
//! (and `std`) would say, so every table here is generated from those crates
//! by `scripts/gen-unicode-tables` (see [`bert_tables`]) and checked against
//! them for every `char` by `tests/unicode_tables.rs`.
//!
//! All functions are allocation-free and `unsafe`-free. ASCII takes an early
//! return; other chars go through a per-256-code-point block bitmap and then a
//! binary search over sorted ranges.
//!
//! # Canonical reordering caveat for [`strip_accents`]
//!
//! HF strips accents by running NFD over the *whole* string and then dropping
//! Mn chars. NFD stably sorts every run of non-starters (canonical combining
//! class != 0) by combining class, which a per-char [`strip_accents`] cannot
//! do. After Mn removal this only matters for chars that are *not* Mn yet have
//! a non-zero combining class in unicode-normalization-alignments; when two or
//! more of them (from the input or from a decomposition, e.g. U+1D15E..=U+1D164
//! and U+1D1BB..=U+1D1C0 decompose to U+1D165 and U+1D16E..=U+1D172) end up in
//! the same run of non-starters with different classes, HF reorders them.
//! Example (checked against the crates): "a\u{1D16D}\u{301}\u{1D165}" gives
//! `a U+1D165 U+1D16D` in HF but `a U+1D16D U+1D165` char by char. Full list
//! (`bert_tables::NON_MN_NONZERO_CCC`, 83 chars; class in parentheses):
//!
//! - U+08D4..=U+08E1 (230): Arabic small high marks, new in Unicode 9 and so
//!   unassigned, not Mn, for `unicode_categories`;
//! - U+1B44, U+1BAA, U+1BF2, U+1BF3, U+A953, U+A9C0, U+111C0, U+11235, U+1134D,
//!   U+116B6 (9): spacing (Mc) viramas;
//! - U+1DFB (230), U+11442 (9), U+11446 (7), U+11C3F (9): Unicode 9 marks,
//!   unassigned for `unicode_categories`;
//! - U+302E, U+302F (224): Hangul single/double dot tone marks (Mc);
//! - U+1D165, U+1D166 (216), U+1D16D (226), U+1D16E..=U+1D172 (216): musical
//!   symbol combining stems/flags/augmentation dot (Mc);
//! - U+1E000..=U+1E006, U+1E008..=U+1E018, U+1E01B..=U+1E021, U+1E023,
//!   U+1E024, U+1E026..=U+1E02A (230): Glagolitic combining letters (Unicode 9,
//!   unassigned for `unicode_categories`);
//! - U+1E944..=U+1E949 (230), U+1E94A (7): Adlam marks (Unicode 9, likewise).
//!
//! Callers that must match HF on such sequences have to buffer and stably
//! sort those chars by class within each run of non-starters (Mn chars count
//! as part of the run even though they are removed afterwards).

#[rustfmt::skip]
pub mod bert_tables;

use bert_tables::{
    BERT_CONTROL, BERT_CONTROL_BLOCKS, BERT_PUNCT_NON_ASCII, BERT_PUNCT_NON_ASCII_BLOCKS,
    BITMAP_WORDS, BLOCK_SHIFT, MARK_NONSPACING, MARK_NONSPACING_BLOCKS, STRIP_ACCENTS,
    STRIP_ACCENTS_BLOCKS, STRIP_ACCENTS_POOL,
};

/// First-level check: does the 256-code-point block of `cp` intersect the table?
#[inline]
fn block_hit(cp: u32, blocks: &[u64; BITMAP_WORDS]) -> bool {
    let b = (cp >> BLOCK_SHIFT) as usize;
    blocks
        .get(b / 64)
        .is_some_and(|&word| (word >> (b % 64)) & 1 != 0)
}

/// Is `cp` inside one of the sorted, disjoint, inclusive `ranges`?
#[inline]
fn in_ranges(cp: u32, ranges: &[(u32, u32)], blocks: &[u64; BITMAP_WORDS]) -> bool {
    if !block_hit(cp, blocks) {
        return false;
    }
    let i = ranges.partition_point(|&(_, hi)| hi < cp);
    ranges.get(i).is_some_and(|&(lo, _)| lo <= cp)
}

/// Cc|Cf|Co per HF's unicode_categories, EXCEPT '\t' '\n' '\r' (HF's `is_control`).
#[inline]
pub fn is_bert_control(c: char) -> bool {
    if c.is_ascii() {
        // ASCII Cc is exactly 0x00..=0x1F and 0x7F; no ASCII char is Cf or Co.
        return c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r');
    }
    in_ranges(c as u32, BERT_CONTROL, &BERT_CONTROL_BLOCKS)
}

/// HF's `is_bert_punc`: ASCII punctuation or unicode_categories P*.
///
/// For ASCII this is exactly [`char::is_ascii_punctuation`] (every ASCII P*
/// char is ASCII punctuation; the union also adds the ASCII symbols such as
/// `$`, `+`, `^`).
#[inline]
pub fn is_bert_punct(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation();
    }
    in_ranges(c as u32, BERT_PUNCT_NON_ASCII, &BERT_PUNCT_NON_ASCII_BLOCKS)
}

/// Mn per unicode_categories.
#[inline]
pub fn is_mark_nonspacing(c: char) -> bool {
    if c.is_ascii() {
        return false;
    }
    in_ranges(c as u32, MARK_NONSPACING, &MARK_NONSPACING_BLOCKS)
}

/// HF `BertNormalizer::is_chinese_char` ranges (SPEC.md section 1).
///
/// Note the gap U+2B820..=U+2B91F, reproduced from HF as is.
#[inline]
pub fn is_bert_chinese(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

/// First Hangul syllable (U+AC00).
const HANGUL_S_BASE: u32 = 0xAC00;
/// Last Hangul syllable (U+D7A3).
const HANGUL_S_LAST: u32 = 0xD7A3;
/// First leading consonant jamo.
const HANGUL_L_BASE: u32 = 0x1100;
/// First vowel jamo.
const HANGUL_V_BASE: u32 = 0x1161;
/// One before the first trailing consonant jamo.
const HANGUL_T_BASE: u32 = 0x11A7;
/// Number of trailing consonants plus one (none).
const HANGUL_T_COUNT: u32 = 28;
/// Number of syllables per leading consonant (21 vowels * 28).
const HANGUL_N_COUNT: u32 = 21 * HANGUL_T_COUNT;

/// Push the chars of strip_accents(c) = NFD(c) minus Mn. Returns nothing; calls `out` 0..n times.
///
/// Per char this equals HF's `normalized.nfd().filter(|c| !c.is_mark_nonspacing())`;
/// see the module docs for the (rare) cross-char reordering HF's whole-string
/// NFD can additionally do.
#[inline]
pub fn strip_accents(c: char, mut out: impl FnMut(char)) {
    if c.is_ascii() {
        // ASCII never decomposes and is never Mn.
        out(c);
        return;
    }
    let cp = c as u32;
    if is_mark_nonspacing(c) {
        // NFD of an Mn char consists of Mn chars only (checked by the generator).
        return;
    }
    if (HANGUL_S_BASE..=HANGUL_S_LAST).contains(&cp) {
        // Algorithmic decomposition into L V (T) jamo, none of which is Mn.
        let s = cp - HANGUL_S_BASE;
        let l = HANGUL_L_BASE + s / HANGUL_N_COUNT;
        let v = HANGUL_V_BASE + (s % HANGUL_N_COUNT) / HANGUL_T_COUNT;
        let t = s % HANGUL_T_COUNT;
        for jamo in [l, v] {
            if let Some(j) = char::from_u32(jamo) {
                out(j);
            }
        }
        if t != 0
            && let Some(j) = char::from_u32(HANGUL_T_BASE + t)
        {
            out(j);
        }
        return;
    }
    if block_hit(cp, &STRIP_ACCENTS_BLOCKS)
        && let Ok(i) = STRIP_ACCENTS.binary_search_by_key(&cp, |&(k, _, _)| k)
    {
        let (_, start, len) = STRIP_ACCENTS[i];
        let start = usize::from(start);
        if let Some(rep) = STRIP_ACCENTS_POOL.get(start..start + usize::from(len)) {
            rep.chars().for_each(out);
        }
        return;
    }
    out(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripped(c: char) -> String {
        let mut s = String::new();
        strip_accents(c, |d| s.push(d));
        s
    }

    #[test]
    fn strip_accents_known_values() {
        assert_eq!(stripped('a'), "a");
        assert_eq!(stripped('é'), "e");
        assert_eq!(stripped('É'), "E");
        assert_eq!(stripped('ñ'), "n");
        assert_eq!(stripped('ǖ'), "u"); // two stacked accents
        assert_eq!(stripped('が'), "か");
        assert_eq!(stripped('≠'), "=");
        assert_eq!(stripped('\u{212B}'), "A"); // ANGSTROM SIGN -> A + ring
        assert_eq!(stripped('\u{0301}'), ""); // combining acute: Mn
        assert_eq!(stripped('\u{0344}'), ""); // Mn decomposing into two Mn
        assert_eq!(stripped('한'), "\u{1112}\u{1161}\u{11AB}");
        assert_eq!(stripped('가'), "\u{1100}\u{1161}");
        assert_eq!(stripped('\u{F900}'), "\u{8C48}"); // CJK compatibility ideograph
        assert_eq!(stripped('ß'), "ß");
        assert_eq!(stripped('中'), "中");
        assert_eq!(stripped('ﬁ'), "ﬁ"); // compatibility only: untouched by NFD
        assert_eq!(stripped('\u{1D15F}'), "\u{1D158}\u{1D165}"); // keeps Mc U+1D165
    }

    #[test]
    fn control_known_values() {
        assert!(is_bert_control('\0'));
        assert!(is_bert_control('\u{7F}'));
        assert!(is_bert_control('\u{85}'));
        assert!(is_bert_control('\u{200B}')); // ZERO WIDTH SPACE is Cf
        assert!(is_bert_control('\u{00AD}')); // SOFT HYPHEN is Cf
        assert!(is_bert_control('\u{FEFF}'));
        assert!(is_bert_control('\u{E000}')); // private use
        assert!(is_bert_control('\u{10FFFD}'));
        assert!(!is_bert_control('\t'));
        assert!(!is_bert_control('\n'));
        assert!(!is_bert_control('\r'));
        assert!(!is_bert_control(' '));
        assert!(!is_bert_control('a'));
        assert!(!is_bert_control('\u{FFFD}'));
        assert!(!is_bert_control('\u{10FFFF}')); // Cn, not "other" here
    }

    #[test]
    fn punct_known_values() {
        for c in ['_', '-', '.', '!', '$', '+', '^', '`', '|', '~', '<', '='] {
            assert!(is_bert_punct(c), "{c:?}");
        }
        assert!(is_bert_punct('¡'));
        assert!(is_bert_punct('、'));
        assert!(is_bert_punct('。'));
        assert!(is_bert_punct('\u{2014}')); // EM DASH
        assert!(is_bert_punct('«'));
        assert!(!is_bert_punct('a'));
        assert!(!is_bert_punct(' '));
        assert!(!is_bert_punct('€')); // Sc
        assert!(!is_bert_punct('\u{2E50}')); // newer than the crate's tables
        assert!(!is_bert_punct('\u{2E43}')); // Unicode 9 Po, unknown to the crate
    }

    #[test]
    fn mark_nonspacing_known_values() {
        assert!(is_mark_nonspacing('\u{0301}'));
        assert!(is_mark_nonspacing('\u{0300}'));
        assert!(is_mark_nonspacing('\u{3099}'));
        assert!(!is_mark_nonspacing('a'));
        assert!(!is_mark_nonspacing('\u{0903}')); // Mc
        assert!(!is_mark_nonspacing('\u{20DD}')); // Me
        assert!(!is_mark_nonspacing('\u{08D4}')); // Unicode 9 Mn, unknown to the crate
    }

    #[test]
    fn chinese_known_values() {
        assert!(is_bert_chinese('中'));
        assert!(is_bert_chinese('\u{3400}'));
        assert!(is_bert_chinese('\u{F900}'));
        assert!(is_bert_chinese('\u{20000}'));
        assert!(!is_bert_chinese('\u{2B820}')); // HF's gap
        assert!(!is_bert_chinese('か'));
        assert!(!is_bert_chinese('한'));
        assert!(!is_bert_chinese('a'));
    }
}
