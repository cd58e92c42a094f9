//! The WordPiece matcher (inline-key map, capped candidates, word cache, batched probes) against
//! a plain greedy longest-match written exactly like Hugging Face's (`String` per candidate).

use std::collections::HashMap;

use proptest::prelude::*;
use tokstream::subword::wordpiece::SubToken;
use tokstream::subword::{WordCache, WordPiece};

fn model() -> &'static WordPiece {
    static M: std::sync::OnceLock<WordPiece> = std::sync::OnceLock::new();
    M.get_or_init(WordPiece::bert_base_uncased)
}

/// The vocabulary as HF holds it: token string → id.
fn vocab() -> &'static (HashMap<String, u32>, Vec<String>) {
    static V: std::sync::OnceLock<(HashMap<String, u32>, Vec<String>)> = std::sync::OnceLock::new();
    V.get_or_init(|| {
        let m = model();
        let tokens: Vec<String> = (0..m.vocab().len() as u32)
            .map(|i| String::from_utf8(m.vocab().token(i).unwrap().to_vec()).unwrap())
            .collect();
        let map = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        (map, tokens)
    })
}

/// HF `WordPiece::tokenize`, transcribed: greedy longest match from the left, `##` for
/// non-initial pieces, the whole word `[UNK]` when a position has no match or the word has
/// more than 100 characters. Returns (id, start, end) in bytes of `word`.
fn hf_reference(word: &str) -> Split {
    let (vocab, _) = vocab();
    if word.chars().count() > 100 {
        return vec![(100, 0, word.len())];
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start < word.len() {
        let mut end = word.len();
        let mut found = None;
        while start < end {
            let mut substr = word[start..end].to_string();
            if start > 0 {
                substr = format!("##{substr}");
            }
            if let Some(&id) = vocab.get(&substr) {
                found = Some((id, start, end));
                break;
            }
            end -= word[start..end].chars().last().unwrap().len_utf8();
        }
        match found {
            Some(t) => {
                out.push(t);
                start = t.2;
            }
            None => return vec![(100, 0, word.len())],
        }
    }
    out
}

/// Tokens as (id, start, end) in bytes of the word.
type Split = Vec<(u32, usize, usize)>;

/// Our matcher, plain and through the cache.
fn ours(word: &str, cache: &mut WordCache) -> (Split, Split) {
    let flat = |v: &[SubToken]| v.iter().map(|t| (t.id, t.start, t.end)).collect::<Vec<_>>();
    let mut plain = Vec::new();
    model().encode_word(word.as_bytes(), word.chars().count(), &mut plain);
    let mut cached = Vec::new();
    model().encode_word_cached(word.as_bytes(), word.chars().count(), cache, &mut cached);
    (flat(&plain), flat(&cached))
}

/// Words glued from the vocabulary's own pieces (so multi-token splits are common), with
/// random characters mixed in.
fn word_strategy() -> impl Strategy<Value = String> {
    let (_, tokens) = vocab();
    let piece = prop_oneof![
        6 => (0..tokens.len()).prop_map(|i| tokens[i].trim_start_matches("##").to_string()),
        1 => "[a-z]{1,3}",
        1 => prop::sample::select(vec!["é", "世", "ß", "ı", "\u{301}", "😀", "ж", "#", "1"]).prop_map(String::from),
        1 => any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(piece, 1..6).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn matcher_equals_the_plain_greedy_reference(word in word_strategy()) {
        let mut cache = WordCache::default();
        let want = hf_reference(&word);
        let (plain, cached) = ours(&word, &mut cache);
        prop_assert_eq!(&plain, &want);
        prop_assert_eq!(&cached, &want);
        // A second lookup comes from the cache: still the same.
        let (_, again) = ours(&word, &mut cache);
        prop_assert_eq!(&again, &want);
    }
}

#[test]
fn every_vocabulary_token_and_its_neighbours_match_the_reference() {
    let (_, tokens) = vocab();
    let mut cache = WordCache::default();
    for t in tokens.iter().filter(|t| !t.starts_with("[")) {
        let bare = t.trim_start_matches("##");
        for word in [
            bare.to_string(),
            format!("{bare}s"),
            format!("{bare}{bare}"),
            format!("x{bare}"),
        ] {
            let want = hf_reference(&word);
            let (plain, cached) = ours(&word, &mut cache);
            assert_eq!(plain, want, "{word:?}");
            assert_eq!(cached, want, "{word:?}");
        }
    }
}

#[test]
fn words_over_100_chars_are_one_unk() {
    let mut cache = WordCache::default();
    for n in [99, 100, 101, 1000, 1_000_000] {
        let word = "ab".repeat(n / 2 + 1)[..n].to_string();
        let (plain, cached) = ours(&word, &mut cache);
        assert_eq!(plain, hf_reference(&word), "length {n}");
        assert_eq!(cached, plain);
    }
}
