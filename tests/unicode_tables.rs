//! Exhaustive check of `tokstream::unicode` against the crates Hugging Face
//! `tokenizers` uses (`unicode_categories` 0.1.1 and
//! `unicode-normalization-alignments` 0.1.12): every function is compared for
//! every `char` in `0..=0x10FFFF`.

use tokstream::unicode as u;
use tokstream::unicode::bert_tables;
use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::UnicodeNormalization;
use unicode_normalization_alignments::char::canonical_combining_class;

fn all_chars() -> impl Iterator<Item = char> {
    (0u32..=0x10_FFFF).filter_map(char::from_u32)
}

/// Collects up to a few mismatches so a failure shows examples, not just one.
fn check(name: &str, mut differs: impl FnMut(char) -> Option<String>) {
    let mut bad = Vec::new();
    let mut count = 0usize;
    for c in all_chars() {
        if let Some(msg) = differs(c) {
            count += 1;
            if bad.len() < 20 {
                bad.push(format!("U+{:04X}: {msg}", c as u32));
            }
        }
    }
    assert!(
        count == 0,
        "{name}: {count} mismatches, first ones:\n{}",
        bad.join("\n")
    );
}

#[test]
fn all_chars_enumerates_every_scalar_value() {
    assert_eq!(all_chars().count(), 0x11_0000 - 0x800);
}

#[test]
fn control_matches_hf_is_control() {
    check("is_bert_control", |c| {
        let want = !matches!(c, '\t' | '\n' | '\r') && c.is_other();
        let got = u::is_bert_control(c);
        (got != want).then(|| format!("got {got}, want {want}"))
    });
}

#[test]
fn punct_matches_hf_is_bert_punc() {
    check("is_bert_punct", |c| {
        let want = c.is_ascii_punctuation() || c.is_punctuation();
        let got = u::is_bert_punct(c);
        (got != want).then(|| format!("got {got}, want {want}"))
    });
}

#[test]
fn mark_nonspacing_matches_unicode_categories() {
    check("is_mark_nonspacing", |c| {
        let want = c.is_mark_nonspacing();
        let got = u::is_mark_nonspacing(c);
        (got != want).then(|| format!("got {got}, want {want}"))
    });
}

#[test]
fn strip_accents_matches_nfd_minus_mn() {
    let mut got = String::new();
    check("strip_accents", |c| {
        let want: String = c
            .to_string()
            .nfd()
            .map(|(d, _)| d)
            .filter(|d| !d.is_mark_nonspacing())
            .collect();
        got.clear();
        u::strip_accents(c, |d| got.push(d));
        (got != want).then(|| format!("got {got:?}, want {want:?}"))
    });
}

#[test]
fn chinese_matches_hf_ranges() {
    // HF's `is_chinese_char`, spelled out independently.
    let ranges = [
        (0x4E00, 0x9FFF),
        (0x3400, 0x4DBF),
        (0x20000, 0x2A6DF),
        (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F),
        (0x2B920, 0x2CEAF),
        (0xF900, 0xFAFF),
        (0x2F800, 0x2FA1F),
    ];
    check("is_bert_chinese", |c| {
        let cp = c as u32;
        let want = ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&cp));
        let got = u::is_bert_chinese(c);
        (got != want).then(|| format!("got {got}, want {want}"))
    });
}

#[test]
fn non_mn_nonzero_ccc_table_is_complete() {
    let mut want = Vec::new();
    for c in all_chars() {
        let ccc = canonical_combining_class(c);
        if ccc != 0 && !c.is_mark_nonspacing() {
            want.push((c as u32, ccc));
        }
    }
    assert_eq!(bert_tables::NON_MN_NONZERO_CCC, want.as_slice());
}

#[test]
fn range_tables_are_sorted_and_disjoint() {
    for (name, table) in [
        ("BERT_CONTROL", bert_tables::BERT_CONTROL),
        ("BERT_PUNCT_NON_ASCII", bert_tables::BERT_PUNCT_NON_ASCII),
        ("MARK_NONSPACING", bert_tables::MARK_NONSPACING),
    ] {
        for w in table.windows(2) {
            assert!(w[0].0 <= w[0].1 && w[0].1 + 1 < w[1].0, "{name}: {w:?}");
        }
    }
    for w in bert_tables::STRIP_ACCENTS.windows(2) {
        assert!(w[0].0 < w[1].0, "STRIP_ACCENTS not sorted: {w:?}");
    }
}
