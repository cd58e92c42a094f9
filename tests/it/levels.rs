//! Every scanner level (scalar piece finder, SSE4.2, AVX2, AVX-512BW, NEON) must give exactly
//! the output of the reference (the per-character engine with no piece finder): on the golden
//! corpus, on every alignment and tail, on chunk cuts inside characters, and on random bytes.

use proptest::prelude::*;
use tokstream::rules::RuleSet;
use tokstream::scan::{Level, Scanner};

use super::common::*;

fn reference() -> Option<Scanner> {
    Scanner::with_level(Level::Reference)
}

#[test]
fn every_level_matches_the_goldens() {
    for s in levels() {
        for name in CORPUS {
            let input = text(name);
            let label = format!("{name}: level {}", s.level());
            let got = encode_with(&input, 1 << 20, Some(s));
            assert_same(
                &format!("{label} tokens"),
                &input,
                &golden_tokens(name),
                &got,
                |t| t.start,
            );
            for rules in [RuleSet::Bert, RuleSet::BertCased] {
                let got = split_with(&input, rules, 1 << 20, Some(s));
                let want = golden_pieces(rules, name);
                assert_same(
                    &format!("{label} {rules} pieces"),
                    &input,
                    &want,
                    &got,
                    |p| p.0,
                );
            }
        }
    }
}

/// Seeds that exercise block edges: words, punctuation, newlines, specials at every offset.
fn seeds() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        &b"hello, world!\nfoo-bar_baz (x) y."[..],
        "naïve café\u{200B}x ≠ 世界 done".as_bytes(),
        b"a\x01b \x7f c\td\re\n\nf",
        b"12345678901234567890123456789012345678901234567890123456789012345 xyz",
        b"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        b"word\xFFword \xC3 end",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect();
    // Hard cases, a line at a time.
    v.extend(
        text("hard_cases")
            .split(|&b| b == b'\n')
            .map(|l| l.to_vec()),
    );
    v
}

#[test]
fn every_level_matches_the_reference_on_every_alignment() {
    let fillers: [&[u8]; 3] = [b" ", b"x", b"."];
    for seed in seeds() {
        for filler in fillers {
            for pad in (0..=515).step_by(if seed.len() > 40 { 7 } else { 1 }) {
                let mut input = filler.repeat(pad);
                input.extend_from_slice(&seed);
                input.extend(filler.repeat(515 - pad));
                let want_p = split_with(&input, RuleSet::Bert, 1 << 20, reference());
                let want_t = encode_with(&input, 1 << 20, reference());
                for s in levels() {
                    let got_p = split_with(&input, RuleSet::Bert, 1 << 20, Some(s));
                    assert!(
                        got_p == want_p,
                        "pieces differ: level {}, pad {pad}, seed {:?}",
                        s.level(),
                        String::from_utf8_lossy(&seed)
                    );
                    let got_t = encode_with(&input, 1 << 20, Some(s));
                    assert!(
                        got_t == want_t,
                        "tokens differ: level {}, pad {pad}, seed {:?}",
                        s.level(),
                        String::from_utf8_lossy(&seed)
                    );
                }
            }
        }
    }
}

#[test]
fn every_level_matches_the_reference_at_small_chunk_sizes() {
    let input: Vec<u8> = text("mixed")[..40_000].to_vec();
    let want = encode_with(&input, 1 << 20, reference());
    let want_p = split_with(&input, RuleSet::Bert, 1 << 20, reference());
    for s in levels() {
        for size in [1, 2, 3, 5, 63, 64, 65, 127, 1000] {
            assert_eq!(
                encode_with(&input, size, Some(s)),
                want,
                "level {} chunk {size}",
                s.level()
            );
            assert_eq!(
                split_with(&input, RuleSet::Bert, size, Some(s)),
                want_p,
                "level {} chunk {size}",
                s.level()
            );
        }
    }
}

/// Random text weighted towards what the piece finder decides on.
fn text_strategy() -> impl Strategy<Value = Vec<u8>> {
    let atom = prop_oneof![
        4 => "[a-zA-Z0-9]{1,12}".prop_map(|s| s.into_bytes()),
        2 => prop::sample::select(vec![" ", "  ", "\n", "\t", "\r\n", ".", ",", "!?", "_", "#", "(", "\u{7f}", "\u{1}"])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::sample::select(vec!["é", "世", "が", "한", "≠", "\u{200B}", "\u{FEFF}", "😀", "\u{301}", "\u{a0}", "\u{85}"])
            .prop_map(|s| s.as_bytes().to_vec()),
        // The edges of the CJK block the encoder looks up in a table (U+4E00..=U+9FFF, leads
        // E4..E9), characters with those leads outside it, and ideographs not in the vocabulary.
        1 => prop::sample::select(vec!["\u{4DBF}", "\u{4DC0}", "\u{4E00}", "\u{4E01}", "\u{9FFF}", "\u{9FA5}", "\u{A000}", "\u{3400}", "\u{E000}", "中国", "ガ", "Ａ", "１"])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 1..4),
    ];
    prop::collection::vec(atom, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_text_is_identical_on_every_level_and_chunking(input in text_strategy(), chunk in 1usize..80) {
        let want_p = split_with(&input, RuleSet::Bert, 1 << 20, reference());
        let want_c = split_with(&input, RuleSet::BertCased, 1 << 20, reference());
        let want_t = encode_with(&input, 1 << 20, reference());
        for s in levels() {
            prop_assert_eq!(&split_with(&input, RuleSet::Bert, chunk, Some(s)), &want_p, "level {}", s.level());
            prop_assert_eq!(&split_with(&input, RuleSet::BertCased, chunk, Some(s)), &want_c, "level {}", s.level());
            prop_assert_eq!(&encode_with(&input, chunk, Some(s)), &want_t, "level {}", s.level());
        }
    }

    #[test]
    fn random_bytes_are_identical_on_every_level(input in prop::collection::vec(any::<u8>(), 0..300)) {
        let want_p = split_with(&input, RuleSet::Bert, 1 << 20, reference());
        let want_t = encode_with(&input, 1 << 20, reference());
        for s in levels() {
            prop_assert_eq!(&split_with(&input, RuleSet::Bert, 7, Some(s)), &want_p, "level {}", s.level());
            prop_assert_eq!(&encode_with(&input, 13, Some(s)), &want_t, "level {}", s.level());
        }
    }
}

/// Fuzz finding F1 (docs/fuzzing.md): the ASCII fast path reported at most 128 normalized
/// bytes of a word whatever `norm_cap` said. The normalized text must equal the reference's
/// for every cap.
#[test]
fn normalized_text_respects_norm_cap_on_every_level() {
    use tokstream::rules::{BertConfig, BertSplitter, Piece, PieceSink};
    struct Norms(Vec<(u64, u64, Vec<u8>, usize)>);
    impl PieceSink for Norms {
        fn piece(&mut self, p: &Piece<'_>) -> tokstream::Result<()> {
            self.0
                .push((p.start, p.end, p.normalized.to_vec(), p.chars));
            Ok(())
        }
    }
    let mut input = b"Short WORDS, then ".to_vec();
    for n in [127, 128, 129, 200, 300] {
        input.extend(b"Ab".repeat(n).iter().take(n));
        input.extend_from_slice(b" x.\n");
    }
    for cap in [0, 5, 100, 128, 129, 1000] {
        let run = |s: Scanner| {
            let cfg = BertConfig {
                norm_cap: cap,
                ..BertConfig::uncased()
            };
            let mut rules = BertSplitter::with_scanner(cfg, s);
            let mut out = Norms(Vec::new());
            rules.feed(&input, &mut out).unwrap();
            rules.finish(&mut out).unwrap();
            out.0
        };
        let want = run(reference().unwrap());
        for s in levels() {
            assert!(run(s) == want, "level {} norm_cap {cap}", s.level());
        }
    }
}

/// The piece finder's non-ASCII characters (CJK ideographs, one-character punctuation, word
/// characters from the rule set's table) give the reference's pieces, normalized text (also
/// cut by `norm_cap` inside a multibyte word), character counts and kinds under every BERT
/// setting. Fuzz finding F3 (docs/fuzzing.md): U+F900, a CJK compatibility ideograph that
/// the table treats as a single, was reported as a word under bert-cased.
#[test]
fn table_characters_match_the_reference_in_every_setting() {
    use tokstream::rules::BertConfig;
    let input = "豈 中 中文，ａｂ１２３ Ａ１b２ │x│ “quoted” 。、· １９９８年 \u{4dff}\u{4e00}\u{9fff}\u{a000} \
                 ｗｏｒｄ，ＷＯＲＤ！ é Ｘ\n"
        .repeat(3);
    let settings = [
        BertConfig::uncased(),
        BertConfig::cased(),
        BertConfig {
            handle_chinese_chars: false,
            ..BertConfig::uncased()
        },
        BertConfig {
            handle_chinese_chars: false,
            ..BertConfig::cased()
        },
    ];
    bert_levels_match_the_reference(&input, &settings, &[0, 1, 2, 3, 1000], &[usize::MAX]);
}

/// Every level's BERT pieces (offsets, normalized text, alignment, character count, kind)
/// equal the reference scanner's on `input`, for each of `settings` with each normalization
/// cap of `caps`, fed in chunks of each size of `chunks`.
fn bert_levels_match_the_reference(
    input: &str,
    settings: &[tokstream::rules::BertConfig],
    caps: &[usize],
    chunks: &[usize],
) {
    use tokstream::rules::{BertConfig, BertSplitter, Piece, PieceKind, PieceSink};
    type Rec = (u64, u64, Vec<u8>, Vec<(u64, u64)>, usize, PieceKind);
    struct Recs(Vec<Rec>);
    impl PieceSink for Recs {
        fn piece(&mut self, p: &Piece<'_>) -> tokstream::Result<()> {
            self.0.push((
                p.start,
                p.end,
                p.normalized.to_vec(),
                p.align.to_vec(),
                p.chars,
                p.kind,
            ));
            Ok(())
        }
    }
    for &base in settings {
        for &cap in caps {
            let cfg = BertConfig {
                norm_cap: cap,
                ..base
            };
            for &chunk in chunks {
                let run = |s: Scanner| {
                    let mut rules = BertSplitter::with_scanner(cfg, s);
                    let mut out = Recs(Vec::new());
                    for c in input.as_bytes().chunks(chunk) {
                        rules.feed(c, &mut out).unwrap();
                    }
                    rules.finish(&mut out).unwrap();
                    out.0
                };
                let want = run(reference().unwrap());
                for s in levels() {
                    let got = run(s);
                    assert!(
                        got == want,
                        "level {} chunk {chunk} {cfg:?}:\n{got:?}\n{want:?}",
                        s.level()
                    );
                }
            }
        }
    }
}

/// Tokens and the piece, token and `[UNK]` counts of `input` under `model`.
fn encode_model(
    model: &tokstream::subword::Model,
    input: &[u8],
    chunk_size: usize,
    scanner: Option<Scanner>,
) -> (Vec<tokstream::pipeline::Token>, [u64; 3]) {
    let opts = tokstream::pipeline::StreamOptions {
        chunk_size,
        strict_utf8: false,
        scanner,
    };
    let mut out = Vec::new();
    let st = tokstream::pipeline::encode_stream(input, model, &opts, &mut out).unwrap();
    (out, [st.pieces, st.tokens, st.unk])
}

/// Every level encodes like the reference under WordPiece settings other than
/// bert-base-uncased's (same vocabulary): word limits of 0, 1 and 3 characters, an ideograph
/// as the unknown token, the cased normalizer without CJK isolation, an empty continuation
/// prefix. Tokens, offsets and the counts. (Session 3 review: the batch encoder's CJK table
/// ignored a limit of 0, and counted a found ideograph equal to the unknown token as `[UNK]`.)
#[test]
fn every_level_encodes_like_the_reference_under_other_wordpiece_settings() {
    use tokstream::rules::BertConfig;
    use tokstream::subword::{Model, WordPiece, WordPieceConfig};
    let base = WordPiece::bert_base_uncased();
    let entries: Vec<(Vec<u8>, u32)> = (0..base.vocab().len() as u32)
        .filter_map(|id| Some((base.vocab().token(id)?.to_vec(), id)))
        .collect();
    let mut input = text("mixed")[..30_000].to_vec();
    input.extend_from_slice(
        "\n中 a 国 中国 x中y 丁 龥 一二三 Hello 世界! naïve Ａ１ ガ\n".as_bytes(),
    );
    input.extend_from_slice(&text("zh")[..6_000]);
    input.extend_from_slice(&text("ja")[..6_000]);
    let cfg = |max: usize, unk: &str, prefix: &str| WordPieceConfig {
        unk_token: unk.into(),
        continuing_subword_prefix: prefix.into(),
        max_input_chars_per_word: max,
    };
    let no_cjk = BertConfig {
        handle_chinese_chars: false,
        ..BertConfig::cased()
    };
    let cases = [
        ("max 0", cfg(0, "[UNK]", "##"), BertConfig::uncased()),
        ("max 1", cfg(1, "[UNK]", "##"), BertConfig::uncased()),
        ("max 3", cfg(3, "[UNK]", "##"), BertConfig::uncased()),
        ("unk 中", cfg(100, "中", "##"), BertConfig::uncased()),
        ("cased, no CJK isolation", cfg(100, "[UNK]", "##"), no_cjk),
        ("empty prefix", cfg(100, "[UNK]", ""), BertConfig::uncased()),
    ];
    for (name, wp_cfg, norm) in cases {
        let wp = WordPiece::new(entries.iter().map(|(t, id)| (&t[..], *id)), wp_cfg, norm).unwrap();
        let model = Model::WordPiece(wp);
        let want = encode_model(&model, &input, 1 << 20, reference());
        for s in levels() {
            for chunk in [7, 64, 1 << 20] {
                let got = encode_model(&model, &input, chunk, Some(s));
                assert!(
                    got == want,
                    "{name}: level {} chunk {chunk}: counts {:?} vs {:?}",
                    s.level(),
                    got.1,
                    want.1
                );
            }
        }
    }
}

/// Characters that normalize to one other word character (kana with voicing marks, accented
/// and upper-case letters, fullwidth forms: the `WORD_ONE` class of the BERT engine, and its
/// fast append inside a word) give the reference's pieces, normalized text, character counts
/// and kinds under every BERT setting and `norm_cap`, and in words mixed with ASCII, with
/// characters that keep themselves and with deleted ones.
#[test]
fn one_to_one_normalizations_match_the_reference_in_every_setting() {
    use tokstream::rules::BertConfig;
    let input = "がぎぐげご ガギグ かがか xがy ÉCOLE École naïve Ａｂｃ ａＢ１ \
                 が\u{200B}が が\u{301}か ÀÉÎ中Ü ひらがなガ。カタカナ ｶﾞ Ǆ ǅ ß ẞ İ\n"
        .repeat(2);
    let settings = [
        BertConfig::uncased(),
        BertConfig::cased(),
        BertConfig {
            handle_chinese_chars: false,
            ..BertConfig::uncased()
        },
        BertConfig {
            strip_accents: false,
            ..BertConfig::uncased()
        },
    ];
    bert_levels_match_the_reference(&input, &settings, &[0, 1, 2, 3, 5, 1000], &[1, 5, 1 << 20]);
}

/// The batch encoder's per-group token buffer, its home-slot check and its long-word keys
/// (session 5) give the reference's tokens, offsets and counts on random ASCII text made to
/// hit every path of a group: one-token words of up to 8 bytes and of 9 to 16 bytes, words
/// of 2 to 4 tokens (word cache) and of more than 4 (the run itself), words over 16 bytes,
/// punctuation, line ends, upper case, CJK ideographs and accented letters, under word
/// limits of 100 (the limit is 16 bytes: one table gives the key mask and the long-word
/// length), 16 and 15 (the general key path), at every level and chunk size.
#[test]
fn batch_encoder_paths_match_the_reference_on_random_words() {
    use tokstream::subword::{Model, WordPiece, WordPieceConfig};
    let base = WordPiece::bert_base_uncased();
    // Precondition: a word of more than 4 tokens within 16 bytes exists in the pool.
    let mut subs = Vec::new();
    assert!(base.encode_word(b"qxzvqxzvqxzvqx", 14, &mut subs) && subs.len() > 4);
    let pool: &[&str] = &[
        "the",
        "a",
        "of",
        "and",
        "to",
        "in",
        "is",
        "was",
        "it",
        "for",
        "he",
        "she",
        "they",
        "international",
        "relationships",
        "administration",
        "understanding",
        "communication",
        "tokenizers",
        "unaffable",
        "embeddings",
        "preprocessing",
        "subwordpiece",
        "xylophonist",
        "qxzvqxzvqxzvqx",
        "zzzzzzzzzzzzzzz",
        "bcdfghjklmnpqr",
        "qwrtypsdfghjkl",
        // Tokens of 15 and 16 bytes, alone and as the head of a longer word.
        "responsibilities",
        "responsibilitiesx",
        "autobiographicalness",
        "representatives",
        "representativesq",
        "Intercontinental",
        "intercontinentally",
        "antidisestablishmentarianism",
        "pneumonoultramicroscopic",
        "aaaaaaaaaaaaaaaaa",
        ",",
        ".",
        "!",
        "?",
        "-",
        "(",
        ")",
        "\"",
        "'",
        ";",
        ":",
        "$",
        "%",
        "@",
        "#",
        "\n",
        "\n",
        "The",
        "HELLO",
        "World",
        "MiXeD",
        "中",
        "国",
        "丁",
        "龥",
        "naïve",
        "café",
        "1",
        "42",
        "2026",
        "3.14159",
        "x",
        "q",
        "zq",
    ];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut input = Vec::new();
    for _ in 0..12_000 {
        let r = next();
        match r % 16 {
            // A random lowercase word of 1 to 20 letters: mostly several tokens.
            0 | 1 => {
                for _ in 0..1 + (r >> 8) % 20 {
                    input.push(b'a' + ((next() >> 20) % 26) as u8);
                }
            }
            _ => input.extend_from_slice(pool[(r >> 8) as usize % pool.len()].as_bytes()),
        }
        // Mostly a space, sometimes nothing (punctuation and words run together).
        if (r >> 40) % 4 != 0 {
            input.push(b' ');
        }
    }
    let entries: Vec<(Vec<u8>, u32)> = (0..base.vocab().len() as u32)
        .filter_map(|id| Some((base.vocab().token(id)?.to_vec(), id)))
        .collect();
    for max in [100, 16, 15] {
        let cfg = WordPieceConfig {
            max_input_chars_per_word: max,
            ..WordPieceConfig::default()
        };
        let wp = WordPiece::new(
            entries.iter().map(|(t, id)| (&t[..], *id)),
            cfg,
            tokstream::rules::BertConfig::uncased(),
        )
        .unwrap();
        let model = Model::WordPiece(wp);
        let want = encode_model(&model, &input, 1 << 20, reference());
        assert!(
            want.1[1] > want.1[0],
            "max {max}: some words are several tokens"
        );
        for s in levels() {
            for chunk in [7, 100, 1 << 20] {
                let got = encode_model(&model, &input, chunk, Some(s));
                assert!(
                    got == want,
                    "max {max}: level {} chunk {chunk}: counts {:?} vs {:?}",
                    s.level(),
                    got.1,
                    want.1
                );
            }
        }
    }
}
