//! `WordPiece::encode_word` (and the cached path `encode_word_cached`) against HF's plain
//! greedy longest-match (`tokstream_fuzz::wordpiece_ref`), on words made of the vocabulary's own
//! pieces and random Unicode.
//!
//! Two vocabularies: the embedded bert-base-uncased (30,522 tokens, `##`, 100 chars), and a
//! small one the fuzzer builds (tokens over a tiny alphabet, a fuzzer-chosen continuation prefix
//! among `##`, ``, `@@`, `▁`, `#`, a fuzzer-chosen char limit, repeated tokens allowed: the
//! last id wins, as in HF) so that matches, dead ends and prefix corner cases are dense.
//!
//! Input: byte 0 chooses the vocabulary (even: bert, odd: built; for a built one the next bytes
//! describe it), then a sequence of ops each appending to the current word: a vocabulary token
//! (its `##` stripped or kept), an alphabet char, or any code point; op 0xFF ends a word.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use tokstream::rules::BertConfig;
use tokstream::subword::{WordCache, WordPiece, WordPieceConfig};
use tokstream_fuzz::wordpiece_ref::RefWordPiece;
use tokstream_fuzz::*;

/// Characters of the built vocabularies: ASCII, 2-, 3- and 4-byte UTF-8, `#`.
const ALPHABET: [char; 8] = ['a', 'b', '#', 'é', '中', '😀', 'c', '\u{301}'];
const PREFIXES: [&str; 5] = ["##", "", "@@", "▁", "#"];

static BERT_PIECES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

thread_local! {
    static CACHE: RefCell<WordCache> = RefCell::new(WordCache::default());
    static BERT_REF: RefWordPiece = {
        let v = bert_wordpiece().vocab();
        let toks: Vec<(String, u32)> = (0..v.len() as u32)
            .filter_map(|id| v.token(id).map(|t| (String::from_utf8(t.to_vec()).unwrap(), id)))
            .collect();
        RefWordPiece::new(&toks, "[UNK]", "##", 100).unwrap()
    };
}

fn check(wp: &WordPiece, r: &RefWordPiece, word: &str, cached: bool) {
    let want = r.tokenize(word);
    let chars = word.chars().count();
    let mut out = Vec::new();
    let ok = wp.encode_word(word.as_bytes(), chars, &mut out);
    let got: Vec<(u32, usize, usize)> = out.iter().map(|t| (t.id, t.start, t.end)).collect();
    let unk = want.len() == 1 && want[0].0 == r.unk_id && !(word.is_empty());
    assert!(
        want == got,
        "MISMATCH encode_word {word:?} (prefix {:?}, max {})\n  want {want:?}\n  got  {got:?}",
        r.prefix,
        r.max_chars
    );
    // `ok` is false exactly when the word became [UNK] (a real "[UNK]" token match aside).
    if !ok {
        assert!(
            unk,
            "encode_word returned false for {word:?} but the reference split it"
        );
    }
    if cached {
        CACHE.with(|c| {
            let mut out2 = Vec::new();
            let ok2 = wp.encode_word_cached(word.as_bytes(), chars, &mut c.borrow_mut(), &mut out2);
            let got2: Vec<(u32, usize, usize)> =
                out2.iter().map(|t| (t.id, t.start, t.end)).collect();
            assert!(
                want == got2,
                "MISMATCH encode_word_cached {word:?}\n  want {want:?}\n  got  {got2:?}"
            );
            assert_eq!(ok, ok2, "encode_word_cached ok flag for {word:?}");
        });
    }
}

/// Build the words described by `ops` from `pieces` (the vocabulary's tokens) and check each.
fn run_words(ops: &[u8], pieces: &[String], prefix: &str, mut each: impl FnMut(&str)) {
    let mut word = String::new();
    let mut i = 0;
    let byte = |i: &mut usize| {
        let b = ops.get(*i).copied().unwrap_or(0);
        *i += 1;
        b
    };
    while i < ops.len() {
        let op = byte(&mut i);
        match op {
            0xFF => {
                each(&word);
                word.clear();
            }
            0x00..=0x9F => {
                let k = u16::from_le_bytes([op, byte(&mut i)]) as usize % pieces.len();
                let t = &pieces[k];
                // Mostly without the prefix, as a word would contain it.
                if op & 3 != 0 && word.len() > 0 && !prefix.is_empty() {
                    word.push_str(t.strip_prefix(prefix).unwrap_or(t));
                } else {
                    word.push_str(t);
                }
            }
            0xA0..=0xDF => word.push(ALPHABET[op as usize % ALPHABET.len()]),
            _ => {
                // Any code point: plane from the op's low bits, then low and high byte.
                let cp = u32::from_le_bytes([byte(&mut i), byte(&mut i), op & 0x1F, 0]);
                word.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
            }
        }
    }
    each(&word);
}

fuzz_target!(|data: &[u8]| {
    let mut h = Header::new(data);
    let mode = h.u8();
    if mode % 2 == 0 {
        let wp = bert_wordpiece();
        let pieces = BERT_PIECES.get_or_init(|| {
            let v = wp.vocab();
            (0..v.len() as u32)
                .map(|id| String::from_utf8(v.token(id).unwrap().to_vec()).unwrap())
                .collect()
        });
        BERT_REF.with(|r| run_words(h.rest(), pieces, "##", |w| check(wp, r, w, true)));
        return;
    }
    // A small vocabulary described by the input.
    let prefix = PREFIXES[(mode as usize >> 1) % PREFIXES.len()];
    let max_chars = match h.u8() % 6 {
        0 => 100,
        4 => 0,
        5 => 1,
        n => n as usize * 3,
    };
    let n_tokens = 1 + h.u8() as usize % 24;
    let mut toks: Vec<(String, u32)> = vec![("[UNK]".to_string(), 0)];
    for _ in 0..n_tokens {
        let spec = h.u8();
        // Mostly 1-4 characters; with bit 3, 1-16 (up to 64 bytes: the matchers treat
        // candidates of more than 16 and of 32 or more bytes differently).
        let len = if spec & 8 != 0 {
            1 + (spec >> 4) as usize
        } else {
            1 + (spec & 3) as usize
        };
        let mut t = String::new();
        if spec & 4 != 0 {
            t.push_str(prefix);
        }
        for _ in 0..len {
            t.push(ALPHABET[h.u8() as usize % ALPHABET.len()]);
        }
        // Ids follow line numbers; a repeated token gets a new, later id.
        let id = toks.len() as u32;
        toks.push((t, id));
    }
    let cfg = WordPieceConfig {
        unk_token: "[UNK]".into(),
        continuing_subword_prefix: prefix.into(),
        max_input_chars_per_word: max_chars,
    };
    let wp = WordPiece::new(
        toks.iter().map(|(t, id)| (t.as_bytes(), *id)),
        cfg,
        BertConfig::uncased(),
    )
    .expect("valid vocabulary");
    let r = RefWordPiece::new(&toks, "[UNK]", prefix, max_chars).unwrap();
    let pieces: Vec<String> = toks.iter().map(|t| t.0.clone()).collect();
    run_words(h.rest(), &pieces, prefix, |w| check(&wp, &r, w, false));
});
