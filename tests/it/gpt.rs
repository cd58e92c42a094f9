//! GPT-family rules (gpt2, cl100k, o200k) and byte-level BPE: against the `fancy-regex` oracle
//! with tiktoken's exact patterns, against tiktoken's goldens, and across chunk sizes.

use fancy_regex::Regex;
use proptest::prelude::*;
use tokstream::rules::gpt::{self, GptPattern, bits};
use tokstream::rules::{RuleSet, Splitter};

use super::common::*;

const PATTERNS: [GptPattern; 3] = [GptPattern::Gpt2, GptPattern::Cl100k, GptPattern::O200k];

fn oracle(p: GptPattern) -> &'static Regex {
    static RE: std::sync::OnceLock<Vec<Regex>> = std::sync::OnceLock::new();
    let all = RE.get_or_init(|| {
        PATTERNS
            .iter()
            .map(|p| Regex::new(p.regex()).unwrap())
            .collect()
    });
    &all[PATTERNS.iter().position(|q| *q == p).unwrap()]
}

/// Pieces of `text` by the oracle, as byte ranges.
fn oracle_pieces(p: GptPattern, text: &str) -> Vec<(usize, usize)> {
    oracle(p)
        .find_iter(text)
        .map(|m| {
            let m = m.unwrap();
            (m.start(), m.end())
        })
        .collect()
}

fn show(text: &str, ps: &[(usize, usize)]) -> Vec<String> {
    ps.iter().map(|&(a, b)| text[a..b].to_string()).collect()
}

fn check_against_oracle(p: GptPattern, text: &str) {
    let want = oracle_pieces(p, text);
    let got = gpt::pieces(p, text.as_bytes());
    assert!(
        want == got,
        "{p:?} on {text:?}\n want {:?}\n  got {:?}",
        show(text, &want),
        show(text, &got)
    );
}

fn rules_of(p: GptPattern) -> RuleSet {
    match p {
        GptPattern::Gpt2 => RuleSet::Gpt2,
        GptPattern::Cl100k => RuleSet::Cl100k,
        GptPattern::O200k => RuleSet::O200k,
    }
}

#[test]
fn class_tables_agree_with_regex_for_every_char() {
    use bits::*;
    let classes: [(&str, u8); 5] = [
        (r"^\p{L}$", L),
        (r"^\p{N}$", N),
        (r"^\s$", S),
        (r"^[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]$", UP),
        (r"^[\p{Ll}\p{Lm}\p{Lo}\p{M}]$", LO),
    ];
    let res: Vec<(Regex, u8)> = classes
        .iter()
        .map(|(r, b)| (Regex::new(r).unwrap(), *b))
        .collect();
    let mut bad = Vec::new();
    let mut buf = [0u8; 4];
    for c in (0u32..=0x10FFFF).filter_map(char::from_u32) {
        let k = gpt::char_class(c);
        let s = c.encode_utf8(&mut buf);
        for (re, bit) in &res {
            if re.is_match(s).unwrap() != (k & bit != 0) {
                bad.push(format!("U+{:04X} bit {bit}", c as u32));
            }
        }
        let crlf = c == '\r' || c == '\n';
        if crlf != (k & CRLF != 0) {
            bad.push(format!("U+{:04X} crlf", c as u32));
        }
    }
    assert!(
        bad.is_empty(),
        "{} mismatches: {:?}",
        bad.len(),
        &bad[..bad.len().min(20)]
    );
    for b in 0u8..128 {
        let mut want = gpt::table_block0()[b as usize];
        if b == b'\r' || b == b'\n' {
            want |= CRLF;
        }
        assert_eq!(gpt::ascii_class(b), want, "ASCII {b:#x}");
    }
}

#[test]
fn hand_picked_cases_match_the_oracle() {
    let cases = [
        "Hello world",
        "  leading",
        "trailing  ",
        "a  b",
        "a \t b",
        "a\n\nb",
        "a \n b",
        "x\r\n\r\ny",
        "it's I'LL we've 'S 'll 're 'd 'm 't 'x '",
        "don't DON'T Don'T",
        "ſ 'ſ 'ſt",
        "123456789 1234 12",
        " 12 a1b2",
        "!!! ?? .\n\n/ //\n/",
        "a!b !c ,d",
        "'",
        "''s",
        "HELLO World camelCase XMLHttpRequest ÀÉÎ àéî",
        "e\u{301}e\u{301}",
        "\u{301}abc",
        "\u{301}ABC def",
        " \u{301}",
        "中文字符 日本語のテキスト 한국어",
        "ǅungla ǅ",
        "ʰʰʰ abcʰ",
        "\u{3000}中 \u{a0}x",
        "\u{85}a",
        "end \n",
        "end\n  ",
        "  \n  x",
        " \n \n ",
        "\t\tx",
        "x\u{2028}y",
        "1,000.5 $12",
        "a'sb",
        "A'S",
        "A'Sb",
        "ABCdef'sGHI",
        "😀😀 x😀",
        "\u{1F600}\u{200D}\u{1F600}",
        "a/b//c\n/d",
        "?\r\n",
        "?\n/\n/x",
        "",
        " ",
        "\n",
    ];
    for p in PATTERNS {
        for c in cases {
            check_against_oracle(p, c);
        }
    }
}

/// Characters the random strings are drawn from, weighted towards what the patterns care about.
fn alphabet() -> Vec<char> {
    let mut v: Vec<char> = " \t\n\r'sdmtlvreSDMTLVREaA0b9xX.!?/,_-$".chars().collect();
    v.extend(" \n'' ".chars());
    v.extend([
        '\u{a0}',
        '\u{3000}',
        '\u{2028}',
        '\u{85}',
        '\u{b}',
        '\u{c}',
        '\u{301}',
        '\u{308}',
        '\u{20dd}',
        '\u{903}',
        'é',
        'É',
        'ß',
        'ſ',
        'ǅ',
        'ʰ',
        'ª',
        '中',
        '日',
        'の',
        'カ',
        '한',
        '٣',
        '²',
        '½',
        'Ⅻ',
        '€',
        '😀',
        '\u{200d}',
        '\u{fe0f}',
        '\u{feff}',
        '\u{fffd}',
        'Ω',
        'ω',
        'İ',
        'K',
        '\u{1d400}',
        '\u{10400}',
        '\u{10428}',
        '\u{e000}',
        '\u{1}',
    ]);
    v
}

fn random_text() -> impl Strategy<Value = String> {
    let a = alphabet();
    prop::collection::vec(prop::sample::select(a), 0..60).prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_text_matches_the_oracle(text in random_text()) {
        for p in PATTERNS {
            let want = oracle_pieces(p, &text);
            let got = gpt::pieces(p, text.as_bytes());
            prop_assert_eq!(&got, &want, "{:?} {:?}: want {:?} got {:?}", p, text, show(&text, &want), show(&text, &got));
        }
    }

    #[test]
    fn streaming_equals_whole_text(text in random_text(), size in 1usize..9) {
        let input = text.as_bytes();
        for p in PATTERNS {
            let want: Vec<(u64, u64)> = gpt::pieces(p, input).into_iter().map(|(a, b)| (a as u64, b as u64)).collect();
            prop_assert_eq!(split(input, rules_of(p), size), want);
        }
    }

    #[test]
    fn safe_cuts_are_piece_boundaries(text in random_text()) {
        let input = text.as_bytes();
        for p in PATTERNS {
            let whole = gpt::pieces(p, input);
            // Every prefix of the input is a possible reader buffer.
            for end in 1..=input.len() {
                if let Some(c) = gpt::safe_cut(&input[..end]) {
                    prop_assert!(whole.iter().any(|&(a, _)| a == c), "{:?}: cut {} in {:?}", p, c, text);
                    let tail: Vec<_> = gpt::pieces(p, &input[c..]).into_iter().map(|(a, b)| (a + c, b + c)).collect();
                    let want: Vec<_> = whole.iter().copied().filter(|&(a, _)| a >= c).collect();
                    prop_assert_eq!(tail, want);
                    // The pieces before the cut are final: the text ending there gives them too.
                    let head = gpt::pieces(p, &input[..c]);
                    let want: Vec<_> = whole.iter().copied().filter(|&(a, _)| a < c).collect();
                    prop_assert_eq!(head, want, "{:?}: cut {} in {:?}", p, c, text);
                }
            }
        }
    }
}

#[test]
fn invalid_utf8_is_one_symbol_per_sequence_and_bytes_are_kept() {
    let input: &[u8] = b"ab\xFFcd \xE2\x82 x\xF0\x9F\x98\n\xC0\x80";
    for p in PATTERNS {
        let lossy = String::from_utf8_lossy(input).into_owned();
        let want = oracle_pieces(p, &lossy);
        let got = gpt::pieces(p, input);
        assert_eq!(got.len(), want.len(), "{p:?}");
        // Same pieces up to the byte lengths of the replaced sequences.
        let joined: Vec<u8> = got
            .iter()
            .flat_map(|&(a, b)| input[a..b].to_vec())
            .collect();
        assert_eq!(joined, input);
        for size in 1..input.len() {
            let s = split(input, rules_of(p), size);
            let w: Vec<(u64, u64)> = got.iter().map(|&(a, b)| (a as u64, b as u64)).collect();
            assert_eq!(s, w, "{p:?} chunk {size}");
        }
    }
    let mut sink = PieceCollector::new(input);
    let st = tokstream::pipeline::run_rules(
        input,
        Splitter::for_split(RuleSet::Cl100k, false),
        3,
        &mut sink,
    )
    .unwrap();
    assert_eq!(st.replaced, 5); // \xFF, \xE2\x82, \xF0\x9F\x98, \xC0, \x80
    assert_eq!(st.first_replaced, Some(2));
    let err = tokstream::pipeline::run_rules(
        input,
        Splitter::for_split(RuleSet::Cl100k, true),
        3,
        &mut sink,
    )
    .unwrap_err();
    assert_eq!(err.offset(), Some(2));
}

// ---------------------------------------------------------------------------------------------
// Goldens from tiktoken (scripts/gen_tiktoken_goldens.py)

use tokstream::pipeline::{self, DEFAULT_CHUNK_SIZE, StreamOptions, Token};
use tokstream::subword::{Bpe, BpeCache, Model};

/// (model name, rules name, pattern)
const MODELS: [(&str, RuleSet); 3] = [
    ("r50k_base", RuleSet::Gpt2),
    ("cl100k_base", RuleSet::Cl100k),
    ("o200k_base", RuleSet::O200k),
];

fn bpe_model(name: &str) -> &'static Model {
    static M: std::sync::OnceLock<Vec<Model>> = std::sync::OnceLock::new();
    let all = M.get_or_init(|| {
        MODELS
            .iter()
            .map(|(n, _)| Model::Bpe(Bpe::builtin(n).unwrap()))
            .collect()
    });
    &all[MODELS.iter().position(|(n, _)| *n == name).unwrap()]
}

fn golden_lines(rel: &str) -> Vec<u64> {
    let path = data_dir().join("golden").join(rel);
    let s = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    s.lines().map(|l| l.parse().unwrap()).collect()
}

/// Golden tokens with offsets from the cumulative byte lengths of the golden ids' tokens.
fn golden_bpe_tokens(model: &str, name: &str) -> Vec<Token> {
    let Model::Bpe(b) = bpe_model(model) else {
        unreachable!()
    };
    let mut at = 0u64;
    golden_lines(&format!("{model}/{name}.ids"))
        .into_iter()
        .map(|id| {
            let id = id as u32;
            let len = b.vocab().token(id).unwrap().len() as u64;
            at += len;
            Token {
                id,
                start: at - len,
                end: at,
            }
        })
        .collect()
}

fn golden_gpt_pieces(rules: RuleSet, name: &str) -> Vec<(u64, u64)> {
    let mut at = 0u64;
    golden_lines(&format!("{}/{name}.pieces", rules.name()))
        .into_iter()
        .map(|len| {
            at += len;
            (at - len, at)
        })
        .collect()
}

fn encode_with(model: &Model, input: &[u8], chunk_size: usize) -> Vec<Token> {
    let mut out = Vec::new();
    let opts = StreamOptions {
        chunk_size,
        strict_utf8: false,
        ..Default::default()
    };
    pipeline::encode_stream(input, model, &opts, &mut out).unwrap();
    out
}

#[test]
fn gpt_pieces_match_tiktoken_goldens() {
    let mut total = 0;
    for (_, rules) in MODELS {
        for name in CORPUS {
            let input = text(name);
            let want = golden_gpt_pieces(rules, name);
            let got = split(&input, rules, DEFAULT_CHUNK_SIZE);
            assert_same(
                &format!("{name}: {rules} pieces"),
                &input,
                &want,
                &got,
                |p| p.0,
            );
            total += want.len();
        }
    }
    assert!(total > 1_000_000, "{total} pieces compared");
}

#[test]
fn bpe_ids_and_offsets_match_tiktoken_goldens() {
    let mut total = 0;
    for (model, _) in MODELS {
        for name in CORPUS {
            let input = text(name);
            let want = golden_bpe_tokens(model, name);
            let got = encode_with(bpe_model(model), &input, DEFAULT_CHUNK_SIZE);
            assert_same(
                &format!("{name}: {model} tokens"),
                &input,
                &want,
                &got,
                |t| t.start,
            );
            total += want.len();
        }
    }
    assert!(total > 2_000_000, "{total} tokens compared");
}

/// A token sink like `--format u32`: line ends do not matter to it, so the encoder skips
/// them and hands tokens over in runs of its own length.
struct NoLineEnds(Vec<Token>);

impl pipeline::TokenSink for NoLineEnds {
    fn token(&mut self, t: Token) -> tokstream::Result<()> {
        self.0.push(t);
        Ok(())
    }
    fn needs_line_ends(&self) -> bool {
        false
    }
}

#[test]
fn a_sink_without_line_ends_gets_the_same_tokens() {
    for (model, _) in MODELS {
        for name in CORPUS {
            let input = text(name);
            let want = golden_bpe_tokens(model, name);
            for size in [DEFAULT_CHUNK_SIZE, 4096, 333, 7] {
                let mut out = NoLineEnds(Vec::new());
                let opts = StreamOptions {
                    chunk_size: size,
                    ..Default::default()
                };
                pipeline::encode_stream(&input[..], bpe_model(model), &opts, &mut out).unwrap();
                assert_same(
                    &format!("{name}: {model} without line ends, chunk {size}"),
                    &input,
                    &want,
                    &out.0,
                    |t| t.start,
                );
            }
        }
    }
}

#[test]
fn gpt_output_is_identical_for_every_chunk_size() {
    // Every size from 1 to 67 on the hand-written cases and a 40 KB slice of each real text
    // (mid-file, so it starts inside a line); 4096 and the default on the whole files.
    for (model, rules) in MODELS {
        for name in CORPUS {
            let input = text(name);
            let want = golden_bpe_tokens(model, name);
            let want_pieces = golden_gpt_pieces(rules, name);
            for size in [4096, DEFAULT_CHUNK_SIZE, 1 << 20] {
                let got = encode_with(bpe_model(model), &input, size);
                assert_same(
                    &format!("{name}: {model}, chunk {size}"),
                    &input,
                    &want,
                    &got,
                    |t| t.start,
                );
                let got = split(&input, rules, size);
                assert_same(
                    &format!("{name}: {rules}, chunk {size}"),
                    &input,
                    &want_pieces,
                    &got,
                    |p| p.0,
                );
            }
            let slice = if *name == "hard_cases" {
                &input[..]
            } else {
                &input[input.len() / 2..input.len() / 2 + 40_000]
            };
            let want = encode_with(bpe_model(model), slice, slice.len());
            let want_jsonl = split_jsonl(slice, rules, slice.len());
            for size in 1..=67 {
                let got = encode_with(bpe_model(model), slice, size);
                assert_same(
                    &format!("{name}: {model} slice, chunk {size}"),
                    slice,
                    &want,
                    &got,
                    |t| t.start,
                );
                assert!(
                    split_jsonl(slice, rules, size) == want_jsonl,
                    "{name}: {rules} jsonl, chunk {size}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decode, round trip, pathological inputs

fn decode_all(model: &Model, tokens: &[Token]) -> Vec<u8> {
    let Model::Bpe(b) = model else { unreachable!() };
    let ids: Vec<u32> = tokens.iter().map(|t| t.id).collect();
    let mut out = Vec::new();
    b.decode_into(&ids, &mut out).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn decode_of_encode_is_the_input_for_any_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        text in random_text(),
        size in 1usize..40,
    ) {
        let mut input = text.into_bytes();
        input.extend_from_slice(&bytes);
        for (model, _) in MODELS {
            let m = bpe_model(model);
            let tokens = encode_with(m, &input, size);
            prop_assert_eq!(decode_all(m, &tokens), input.clone(), "{}", model);
            // Offsets partition the input.
            let mut at = 0;
            for t in &tokens {
                prop_assert_eq!(t.start, at);
                at = t.end;
            }
            prop_assert_eq!(at, input.len() as u64);
        }
    }
}

#[test]
fn decode_cli_formats_round_trip() {
    let Model::Bpe(b) = bpe_model("o200k_base") else {
        unreachable!()
    };
    let input = text("hard_cases");
    let tokens = encode_with(bpe_model("o200k_base"), &input, 4096);
    use tokstream::subword::bpe::{IdFormat, decode_stream};
    let u32s: Vec<u8> = tokens.iter().flat_map(|t| t.id.to_le_bytes()).collect();
    let mut out = Vec::new();
    decode_stream(b, &u32s[..], IdFormat::U32, &mut out).unwrap();
    assert_eq!(out, input);
    let text_ids: String = tokens.iter().map(|t| format!("{} ", t.id)).collect();
    out.clear();
    decode_stream(b, text_ids.as_bytes(), IdFormat::Text, &mut out).unwrap();
    assert_eq!(out, input);
    let jsonl: String = tokens
        .chunks(7)
        .map(|c| {
            let items: Vec<String> = c
                .iter()
                .map(|t| format!("[{},{},{}]", t.id, t.start, t.end))
                .collect();
            format!("{{\"tokens\":[{}]}}\n", items.join(","))
        })
        .collect();
    out.clear();
    decode_stream(b, jsonl.as_bytes(), IdFormat::Jsonl, &mut out).unwrap();
    assert_eq!(out, input);
    assert!(decode_stream(b, &[1u8, 2, 3][..], IdFormat::U32, &mut out).is_err());
    assert!(decode_stream(b, &u32::MAX.to_le_bytes()[..], IdFormat::U32, &mut out).is_err());
}

/// Counts pieces and the longest one seen.
struct Longest {
    pieces: u64,
    longest: u64,
    bytes: u64,
}

impl tokstream::rules::PieceSink for Longest {
    fn piece(&mut self, p: &tokstream::rules::Piece<'_>) -> tokstream::Result<()> {
        self.pieces += 1;
        self.longest = self.longest.max(p.raw.len() as u64);
        self.bytes += p.raw.len() as u64;
        Ok(())
    }
}

#[test]
fn pathological_inputs_are_linear_and_bounded() {
    // 10 MB of one letter, one symbol, one digit, spaces, newlines: BPE work is bounded by
    // merge steps (heap pops), not wall time, and no piece handed to BPE exceeds ~1 MiB.
    const N: usize = 10_000_000;
    let max_part = (tokstream::rules::gpt::DEFAULT_MAX_PIECE + 64) as u64;
    for fill in [b'a', b'^', b'7', b' ', b'\n', b'A'] {
        let input = vec![fill; N];
        for (model, _) in MODELS {
            let m = bpe_model(model);
            let mut sink = Longest {
                pieces: 0,
                longest: 0,
                bytes: 0,
            };
            tokstream::pipeline::run_rules(&input[..], m.splitter(false), 1 << 16, &mut sink)
                .unwrap();
            assert_eq!(sink.bytes, N as u64);
            assert!(
                sink.longest <= max_part,
                "{model} on {:?}: a piece of {} bytes reached BPE",
                fill as char,
                sink.longest
            );
            if fill == b'a' || fill == b'^' {
                let before = tokstream::subword::bpe::merge_ops();
                let tokens = encode_with(m, &input, 1 << 16);
                let ops = tokstream::subword::bpe::merge_ops() - before;
                assert!(
                    ops <= 4 * N as u64,
                    "{model}: {ops} merge steps for {N} bytes"
                );
                assert_eq!(tokens.last().unwrap().end, N as u64);
            }
        }
    }
}

#[test]
fn long_piece_cuts_do_not_depend_on_chunking() {
    // A 3 MB letter run inside text: the parts BPE sees (and so the ids) are the same for
    // any chunk size, and split reports it as ONE piece.
    let mut input = b"Hello there ".to_vec();
    input.extend(std::iter::repeat_n(b"ab\xC3\xA9", 750_000).flatten());
    input.extend_from_slice(b" end\n");
    let m = bpe_model("cl100k_base");
    let want = encode_with(m, &input, input.len());
    for size in [1000, 4096, 65_536, 300_001] {
        assert!(encode_with(m, &input, size) == want, "chunk {size}");
    }
    assert_eq!(decode_all(m, &want), input);
    let pieces = split(&input, RuleSet::Cl100k, 65_536);
    assert_eq!(pieces.len(), 5, "{pieces:?}");
}

// ---------------------------------------------------------------------------------------------
// Hugging Face tokenizer.json (byte-level BPE)

/// `tests/data/gpt2-tokenizer.json` (scripts/gen_gpt2_tokenizer_json.py: GPT-2's encoder.json
/// and vocab.bpe as built by pip `tokenizers`, which gives the r50k goldens on every file).
fn gpt2_tokenizer_json() -> std::path::PathBuf {
    data_dir().join("gpt2-tokenizer.json")
}

fn hf_json() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(gpt2_tokenizer_json()).unwrap()).unwrap()
}

fn tmp_file(name: &str, data: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tokstream-gpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

#[test]
fn hf_gpt2_tokenizer_json_gives_the_r50k_goldens() {
    let m = tokstream::cli::load_model(gpt2_tokenizer_json().to_str().unwrap()).unwrap();
    let Model::Bpe(b) = &m else {
        panic!("not a BPE model")
    };
    assert_eq!(b.pattern(), GptPattern::Gpt2);
    assert_eq!(m.vocab_size(), 50257);
    let mut total = 0;
    for name in CORPUS {
        let input = text(name);
        let want = golden_bpe_tokens("r50k_base", name);
        for size in [DEFAULT_CHUNK_SIZE, 4096] {
            let got = encode_with(&m, &input, size);
            assert_same(
                &format!("{name}: gpt2 tokenizer.json, chunk {size}"),
                &input,
                &want,
                &got,
                |t| t.start,
            );
        }
        total += want.len();
    }
    assert!(total > 1_000_000, "{total} tokens compared");
}

fn with_pre_tokenizer(pre: serde_json::Value) -> serde_json::Value {
    let mut j = hf_json();
    j["pre_tokenizer"] = pre;
    j
}

fn split_then_byte_level(regex: &str) -> serde_json::Value {
    serde_json::json!({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
    ]})
}

#[test]
fn hf_split_regex_picks_the_rule_set_by_exact_pattern() {
    use tokstream::subword::bpe::HF_GPT2_REGEX;
    let input = text("hard_cases");
    let r50k = encode_with(bpe_model("r50k_base"), &input, 4096);
    for (regex, want) in [
        (GptPattern::Gpt2.regex(), GptPattern::Gpt2),
        (HF_GPT2_REGEX, GptPattern::Gpt2),
        (GptPattern::Cl100k.regex(), GptPattern::Cl100k),
        (GptPattern::O200k.regex(), GptPattern::O200k),
    ] {
        let j = with_pre_tokenizer(split_then_byte_level(regex));
        let b = Bpe::from_tokenizer_json(&j, "t").unwrap();
        assert_eq!(b.pattern(), want, "{regex}");
        if want == GptPattern::Gpt2 {
            assert!(encode_with(&Model::Bpe(b), &input, 4096) == r50k, "{regex}");
        }
    }
    // Legacy "a b" merges read like ["a", "b"] pairs.
    let mut j = hf_json();
    let merges: Vec<serde_json::Value> = j["model"]["merges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{} {}", m[0].as_str().unwrap(), m[1].as_str().unwrap()).into())
        .collect();
    j["model"]["merges"] = merges.into();
    let b = Bpe::from_tokenizer_json(&j, "t").unwrap();
    assert!(encode_with(&Model::Bpe(b), &input, 4096) == r50k);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Hugging Face's spelling of the GPT-2 regex (accepted in a Split) gives tiktoken's pieces.
    #[test]
    fn hf_gpt2_regex_equals_tiktoken_gpt2(text in random_text()) {
        static HF: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
        let hf = HF.get_or_init(|| Regex::new(tokstream::subword::bpe::HF_GPT2_REGEX).unwrap());
        let got: Vec<(usize, usize)> = hf.find_iter(&text).map(|m| { let m = m.unwrap(); (m.start(), m.end()) }).collect();
        prop_assert_eq!(got, oracle_pieces(GptPattern::Gpt2, &text));
    }
}

/// A tiny byte-level tokenizer.json: the 256 bytes (id = byte), then `extra` tokens, `merges`.
fn tiny_tokenizer_json(extra: &[&str], merges: &[(&str, &str)], ignore_merges: bool) -> String {
    let dec = tokstream::subword::bpe::byte_decoder();
    let mut vocab = serde_json::Map::new();
    for (c, b) in dec {
        vocab.insert(c.to_string(), u32::from(b).into());
    }
    for (i, t) in extra.iter().enumerate() {
        vocab.insert(t.to_string(), (256 + i).into());
    }
    serde_json::json!({
        "version": "1.0", "added_tokens": [], "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": ignore_merges, "vocab": vocab, "merges": merges}
    })
    .to_string()
}

#[test]
fn hf_merges_rank_by_list_order_and_whole_lookup_needs_ignore_merges() {
    // Expected ids from pip tokenizers 0.23.3 on the same model (vocab a..z = bytes,
    // 256 "ab", 257 "bc", 258 "abc"; merges [b c], [a b]): "abc" is not reachable by merges.
    for (ignore, want) in [
        (false, vec![97, 257, 32, 97, 257, 256]),
        (true, vec![258, 32, 97, 257, 256]),
    ] {
        let j = tiny_tokenizer_json(&["ab", "bc", "abc"], &[("b", "c"), ("a", "b")], ignore);
        let p = tmp_file(&format!("tiny-{ignore}.json"), j.as_bytes());
        let m = tokstream::cli::load_model(p.to_str().unwrap()).unwrap();
        let ids: Vec<u32> = encode_with(&m, b"abc abcab", 4)
            .iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ids, want, "ignore_merges {ignore}");
    }
}

#[test]
fn bad_tokenizer_json_is_an_error_naming_the_file() {
    let good = hf_json();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut j = good.clone();
        f(&mut j);
        serde_json::to_vec(&j).unwrap()
    };
    let llama3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            b"{\"model\": {\"type\": \"BPE\", ".to_vec(),
            "invalid JSON",
        ),
        (
            "unknown-regex",
            edit(&|j| j["pre_tokenizer"] = split_then_byte_level(llama3)),
            "not one of the known patterns",
        ),
        (
            "prefix-space",
            edit(&|j| j["pre_tokenizer"]["add_prefix_space"] = true.into()),
            "add_prefix_space",
        ),
        (
            "no-pre",
            edit(&|j| j["pre_tokenizer"] = serde_json::Value::Null),
            "no pre_tokenizer",
        ),
        (
            "metaspace",
            edit(&|j| j["pre_tokenizer"] = serde_json::json!({"type": "Metaspace"})),
            "Metaspace",
        ),
        (
            "normalizer",
            edit(&|j| j["normalizer"] = serde_json::json!({"type": "NFC"})),
            "normalizer 'NFC'",
        ),
        (
            "dropout",
            edit(&|j| j["model"]["dropout"] = 0.1.into()),
            "dropout",
        ),
        (
            "no-merges",
            edit(&|j| {
                j["model"].as_object_mut().unwrap().remove("merges");
            }),
            "merges",
        ),
        (
            "bad-merge",
            edit(&|j| j["model"]["merges"][3] = "a b c".into()),
            "merges[3]",
        ),
        (
            "merge-not-in-vocab",
            edit(&|j| j["model"]["merges"][0] = serde_json::json!(["Ġ", "Ġ"])),
            "not in the vocabulary",
        ),
        (
            "not-byte-level",
            edit(&|j| j["model"]["vocab"]["中"] = 50257.into()),
            "not a byte-level token",
        ),
        (
            "missing-byte",
            edit(&|j| {
                j["model"]["vocab"].as_object_mut().unwrap().remove("!");
            }),
            "byte 0x21",
        ),
        (
            "bad-id",
            edit(&|j| j["model"]["vocab"]["hello"] = "x".into()),
            "not a token id",
        ),
    ];
    for (name, data, want) in cases {
        let p = tmp_file(&format!("{name}.tokenizer.json"), &data);
        let path = p.to_str().unwrap();
        let err = tokstream::cli::load_model(path)
            .err()
            .unwrap_or_else(|| panic!("{name} loaded"));
        let msg = err.to_string();
        assert!(
            matches!(err.kind(), tokstream::ErrorKind::BadModel(_)),
            "{name}: {msg}"
        );
        assert!(msg.contains(path) && msg.contains(want), "{name}: {msg}");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokstream"))
            .args(["encode", "--model", path])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains(path) && !stderr.contains("panicked"),
            "{name}: {stderr}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The ASCII fast path of the GPT rules and the BPE piece cache

/// ASCII-heavy text (the fast path's domain) with a few non-ASCII characters at its edges.
fn ascii_text() -> impl Strategy<Value = String> {
    let mut a: Vec<char> = " \t\n\r'sdmtlvreSDMTLVREaA0b9xX.!?/,_-$\u{b}\u{c}\u{1}"
        .chars()
        .collect();
    a.extend(" \n''  aaa".chars());
    a.extend(['é', 'ſ', '\u{a0}', '中', '²', '\u{301}']);
    prop::collection::vec(prop::sample::select(a), 0..80).prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn ascii_fast_path_equals_the_general_matcher(text in ascii_text()) {
        for p in PATTERNS {
            let general = gpt::pieces_general(p, text.as_bytes());
            prop_assert_eq!(&gpt::pieces(p, text.as_bytes()), &general, "{:?} {:?}", p, text);
            prop_assert_eq!(oracle_pieces(p, &text), general, "{:?} {:?}", p, text);
        }
    }
}

#[test]
fn ascii_fast_path_equals_the_general_matcher_on_the_corpus() {
    for name in CORPUS {
        let input = text(name);
        for p in PATTERNS {
            assert!(
                gpt::pieces(p, &input) == gpt::pieces_general(p, &input),
                "{name}: {p:?}"
            );
        }
    }
}

/// Pieces of every corpus file under `model`'s rules, as byte strings.
fn corpus_pieces(model: &str) -> Vec<Vec<u8>> {
    let Model::Bpe(b) = bpe_model(model) else {
        unreachable!()
    };
    let mut out = Vec::new();
    for name in CORPUS {
        let input = text(name);
        for (s, e) in gpt::pieces(b.pattern(), &input) {
            out.push(input[s..e].to_vec());
        }
    }
    out
}

fn encode_cached(b: &Bpe, piece: &[u8], cache: &mut BpeCache) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    b.encode_each_cached(piece, cache, |id, len| {
        v.push((id, len));
        Ok::<(), ()>(())
    })
    .unwrap();
    v
}

#[test]
fn piece_cache_gives_the_same_tokens_as_no_cache() {
    for (model, _) in MODELS {
        let Model::Bpe(b) = bpe_model(model) else {
            unreachable!()
        };
        let pieces = corpus_pieces(model);
        // The default cache, one that evicts all the time, and a fresh one per piece.
        let mut big = BpeCache::default();
        let mut tiny = BpeCache::with_slots(2);
        let mut hits = 0;
        for p in &pieces {
            let mut want = Vec::new();
            b.encode_piece(p, &mut want);
            hits += usize::from(big.contains(p));
            assert_eq!(encode_cached(b, p, &mut big), want, "{model}: {p:?}");
            assert_eq!(encode_cached(b, p, &mut tiny), want, "{model}: {p:?}");
            assert_eq!(
                encode_cached(b, p, &mut BpeCache::with_slots(1)),
                want,
                "{model}: {p:?}"
            );
        }
        // The cache is used: most multi-token short pieces of real text recur.
        assert!(hits > pieces.len() / 50, "{model}: {hits} hits");
    }
}

#[test]
fn piece_cache_evicts_and_long_or_single_token_pieces_bypass_it() {
    let Model::Bpe(b) = bpe_model("cl100k_base") else {
        unreachable!()
    };
    let tokens = |p: &[u8]| {
        let mut v = Vec::new();
        b.encode_piece(p, &mut v);
        v.len()
    };
    // Two pieces of 2-4 tokens and at most 16 bytes.
    let (x, y): (&[u8], &[u8]) = (b" tokstreamx", b" unbelievably");
    assert!((2..=tokstream::subword::bpe::CACHE_MAX_IDS).contains(&tokens(x)));
    assert!((2..=tokstream::subword::bpe::CACHE_MAX_IDS).contains(&tokens(y)));
    let mut c = BpeCache::with_slots(1);
    assert!(c.is_empty());
    encode_cached(b, x, &mut c);
    assert!(c.contains(x) && c.len() == 1);
    encode_cached(b, y, &mut c);
    assert!(c.contains(y) && !c.contains(x), "one slot: y evicts x");
    // A big cache keeps both.
    let mut c = BpeCache::default();
    encode_cached(b, x, &mut c);
    encode_cached(b, y, &mut c);
    assert!(c.contains(x) && c.contains(y) && c.len() == 2);
    // A piece of 17 to 64 bytes goes to the second table (one slot for 4 main slots).
    let mid = b" tokstreamtokstreamtokstream";
    assert!(mid.len() > tokstream::subword::bpe::CACHE_SHORT_PIECE && tokens(mid) > 1);
    let mut c = BpeCache::with_slots(4);
    encode_cached(b, mid, &mut c);
    assert!(c.contains(mid) && c.len() == 1);
    let mid2 = b" tokstreamtokstreamtokstreamx";
    encode_cached(b, mid2, &mut c);
    assert!(
        c.contains(mid2) && !c.contains(mid),
        "one long slot: evicted"
    );
    // 65 to CACHE_HUGE_PIECE bytes: the third table (one slot for 64 main slots), its
    // buffers reused by the next such piece.
    let long = b" tokstreamtokstreamtokstreamtokstreamtokstreamtokstreamtokstreamtokstream";
    assert!(long.len() > tokstream::subword::bpe::CACHE_MAX_PIECE && tokens(long) > 1);
    let long2 = b"+-------------------------------------------------------------------------+";
    assert!(long2.len() > tokstream::subword::bpe::CACHE_MAX_PIECE && tokens(long2) > 1);
    let mut c = BpeCache::with_slots(64);
    for (p, other) in [(&long[..], &long2[..]), (long2, long), (long, long2)] {
        let mut want = Vec::new();
        b.encode_piece(p, &mut want);
        assert_eq!(encode_cached(b, p, &mut c), want, "{p:?} stored");
        assert_eq!(encode_cached(b, p, &mut c), want, "{p:?} from the cache");
        assert!(c.contains(p) && !c.contains(other) && c.len() == 1);
    }
    // Longer than CACHE_HUGE_PIECE bytes, more than CACHE_MAX_IDS tokens, or one token:
    // encoded but never stored.
    let huge = b"+---".repeat(tokstream::subword::bpe::CACHE_HUGE_PIECE / 4 + 1);
    let long = &huge[..];
    let many = "€€€€€".as_bytes();
    assert!(many.len() <= 16 && tokens(many) > tokstream::subword::bpe::CACHE_MAX_IDS);
    let one = b" the";
    assert_eq!(tokens(one), 1);
    let mut c = BpeCache::default();
    for p in [long, many, one] {
        let mut want = Vec::new();
        b.encode_piece(p, &mut want);
        assert_eq!(encode_cached(b, p, &mut c), want);
        assert!(!c.contains(p), "{p:?} was stored");
    }
    assert!(c.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// The engine counts exactly the sequences `from_utf8_lossy` replaces (it only checks the
    /// pieces whose matching read an invalid sequence), for any bytes and chunking.
    #[test]
    fn replaced_sequences_are_counted_exactly(
        bytes in prop::collection::vec(prop::sample::select(vec![
            0x80u8, 0xBF, 0xC0, 0xC3, 0xA9, 0xE0, 0xE4, 0xB8, 0xAD, 0xED, 0xA0, 0xEF, 0xBF, 0xBD,
            0xF0, 0x9F, 0x98, 0x80, 0xF4, 0x90, 0xFF, b'a', b' ', b'\n', b'1', b'!', b'\'',
        ]), 0..120),
        size in 1usize..50,
    ) {
        let lossy = String::from_utf8_lossy(&bytes);
        let fffd = "\u{FFFD}".as_bytes();
        let original = bytes.windows(3).filter(|w| *w == fffd).count();
        let want = lossy.matches('\u{FFFD}').count() - original;
        for p in PATTERNS {
            let mut sink = PieceCollector::new(&bytes);
            let st = tokstream::pipeline::run_rules(
                &bytes[..],
                Splitter::for_split(rules_of(p), false),
                size,
                &mut sink,
            )
            .unwrap();
            prop_assert_eq!(st.replaced as usize, want, "{:?} {:?}", p, bytes);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The vector piece finder (scan::gpt) against the exact matcher, at every level

/// Everything a GPT engine reports, in order: pieces `(start, end, false)` and line ends
/// `(at, at, true)`.
struct Events(Vec<(u64, u64, bool)>);

impl tokstream::rules::PieceSink for Events {
    fn piece(&mut self, p: &tokstream::rules::Piece<'_>) -> tokstream::Result<()> {
        self.0.push((p.start, p.end, false));
        Ok(())
    }
    fn line_end(&mut self, at: u64) -> tokstream::Result<()> {
        self.0.push((at, at, true));
        Ok(())
    }
}

/// The events of the GPT engine for `p` at `level`, fed in chunks of `chunk` bytes.
fn events_at(
    p: GptPattern,
    level: tokstream::scan::Level,
    input: &[u8],
    chunk: usize,
) -> Option<Vec<(u64, u64, bool)>> {
    let engine = tokstream::rules::GptSplitter::new(tokstream::rules::GptConfig::new(p));
    let mut engine = engine.with_level(level)?;
    assert_eq!(engine.level(), level);
    let mut ev = Events(Vec::new());
    for c in input.chunks(chunk.max(1)) {
        engine.feed(c, &mut ev).unwrap();
    }
    engine.finish(&mut ev).unwrap();
    Some(ev.0)
}

/// Pieces of the events.
fn pieces_of(ev: &[(u64, u64, bool)]) -> Vec<(usize, usize)> {
    ev.iter()
        .filter(|e| !e.2)
        .map(|&(a, b, _)| (a as usize, b as usize))
        .collect()
}

fn check_levels(input: &[u8], chunks: &[usize]) {
    use tokstream::scan::Level;
    for p in PATTERNS {
        let want = events_at(p, Level::Reference, input, input.len()).unwrap();
        for &level in Level::ALL {
            for &chunk in chunks {
                if let Some(got) = events_at(p, level, input, chunk)
                    && got != want
                {
                    let text = String::from_utf8_lossy(input);
                    let first = got
                        .iter()
                        .zip(&want)
                        .position(|(a, b)| a != b)
                        .unwrap_or(got.len().min(want.len()));
                    panic!(
                        "{p:?} level {level} chunk {chunk}: first difference at event {first}: \
                         got {:?} want {:?}\n{:?}",
                        got.get(first),
                        want.get(first),
                        &text
                    );
                }
            }
        }
    }
}

/// Long ASCII-heavy text: everything the finder's rules distinguish (case changes,
/// contractions, `'` after spaces and symbols, digit runs, whitespace runs with `\r\n`, tabs
/// and spaces, `/` after newlines) and now and then a non-ASCII character.
fn long_ascii_text() -> impl Strategy<Value = Vec<u8>> {
    let parts: Vec<&'static str> = vec![
        " ",
        " ",
        " ",
        "  ",
        "\t",
        "\n",
        "\n",
        "\r\n",
        "\r",
        "\x0b",
        "\x0c",
        "'",
        "'",
        "/",
        ".",
        ",",
        "!",
        "(",
        "-",
        "$",
        "_",
        "a",
        "b",
        "x",
        "A",
        "B",
        "X",
        "s",
        "t",
        "d",
        "m",
        "l",
        "v",
        "r",
        "e",
        "S",
        "T",
        "D",
        "M",
        "L",
        "V",
        "R",
        "E",
        "ll",
        "LL",
        "ve",
        "re",
        "'s",
        "'t",
        "'ll",
        "'Ve",
        "'RE",
        "'m",
        "'d",
        "'x",
        " 's",
        ".'s",
        "''",
        "don't",
        "I'm",
        "HTTPServer",
        "helloWorld",
        "ABCdef",
        "abcDEF",
        "0",
        "1",
        "12",
        "123",
        "1234",
        "12345",
        "2024",
        "word",
        " the",
        " of",
        " and",
        "\n  ",
        "\n\n",
        " \n",
        "\t\n ",
        ".\n",
        ".\n/",
        "/\n",
        "./\n/\n",
        "\n/",
        "é",
        "中",
        "\u{a0}",
        "ſ",
        "\u{2019}",
        "\u{301}",
    ];
    prop::collection::vec(prop::sample::select(parts), 0..300).prop_map(|v| v.concat().into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn vector_finder_equals_the_exact_matcher(text in long_ascii_text(), chunk in 1usize..200) {
        check_levels(&text, &[text.len(), chunk]);
        // And the oracle, for the default level.
        let s = String::from_utf8(text.clone()).unwrap();
        for p in PATTERNS {
            let got = events_at(p, tokstream::scan::Level::best(), &text, text.len()).unwrap();
            prop_assert_eq!(pieces_of(&got), oracle_pieces(p, &s), "{:?} {:?}", p, s);
        }
    }
}

/// Long CJK-heavy text: ideographs (runs longer than a window too), CJK punctuation and
/// symbols (letters, numbers, marks and whitespace among them), fullwidth letters and digits,
/// kana, Hangul, mixed with ASCII words, case changes next to ideographs (o200k's two letter
/// classes), contractions, whitespace and newlines, other non-ASCII, and invalid UTF-8.
fn long_cjk_text() -> impl Strategy<Value = Vec<u8>> {
    let parts: Vec<&'static [u8]> = vec![
        "中".as_bytes(),
        "国".as_bytes(),
        "一".as_bytes(),
        "\u{9FFF}".as_bytes(),
        "\u{9FA5}".as_bytes(),
        "\u{4DBF}".as_bytes(),
        "\u{4DC0}".as_bytes(),
        "\u{4DFF}".as_bytes(),
        "\u{3400}".as_bytes(),
        "\u{4E00}".as_bytes(),
        "\u{4FFF}".as_bytes(),
        "中华人民共和国".as_bytes(),
        "迈向充满希望的新世纪一九九八年新年讲话".as_bytes(),
        "，".as_bytes(),
        "。".as_bytes(),
        "、".as_bytes(),
        "：".as_bytes(),
        "“".as_bytes(),
        "”".as_bytes(),
        "（".as_bytes(),
        "）".as_bytes(),
        "《".as_bytes(),
        "》".as_bytes(),
        "—".as_bytes(),
        "…".as_bytes(),
        "·".as_bytes(),
        "\u{3000}".as_bytes(),
        "\u{3005}".as_bytes(),
        "\u{3006}".as_bytes(),
        "\u{3007}".as_bytes(),
        "\u{3021}".as_bytes(),
        "\u{302A}".as_bytes(),
        "\u{3031}".as_bytes(),
        "１".as_bytes(),
        "９９８".as_bytes(),
        "Ａ".as_bytes(),
        "Ｍ".as_bytes(),
        "ａ".as_bytes(),
        "ｚ".as_bytes(),
        "！".as_bytes(),
        "／".as_bytes(),
        "ｱ".as_bytes(),
        "ｰ".as_bytes(),
        "の".as_bytes(),
        "カ".as_bytes(),
        "ー".as_bytes(),
        "\u{3099}".as_bytes(),
        "゛".as_bytes(),
        "한국어".as_bytes(),
        "é".as_bytes(),
        "É".as_bytes(),
        "ſ".as_bytes(),
        "ǅ".as_bytes(),
        "ʰ".as_bytes(),
        "\u{301}".as_bytes(),
        "\u{a0}".as_bytes(),
        "\u{85}".as_bytes(),
        "😀".as_bytes(),
        "²".as_bytes(),
        b"A",
        b"B",
        b"a",
        b"b",
        b"S",
        b"s",
        b"t",
        b"l",
        b"e",
        b"AB",
        b"ab",
        b"0",
        b"123",
        b"2024",
        b" ",
        b" ",
        b"  ",
        b"\n",
        b"\n",
        b"\r\n",
        b"\t",
        b"'",
        b"'s",
        b"'S",
        b"'ll",
        b"'RE",
        b".",
        b"/",
        b"-",
        b" the",
        b"HTTP",
        b"\xE5",
        b"\xE5\x80",
        b"\x80",
        b"\xFF",
        b"\xE4\xB7",
    ];
    prop::collection::vec(prop::sample::select(parts), 0..200).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn vector_finder_equals_the_exact_matcher_on_cjk(text in long_cjk_text(), chunk in 1usize..200) {
        check_levels(&text, &[text.len(), chunk]);
        // And the oracle, for the default level, on valid text.
        if let Ok(s) = std::str::from_utf8(&text) {
            for p in PATTERNS {
                let got = events_at(p, tokstream::scan::Level::best(), &text, text.len()).unwrap();
                prop_assert_eq!(pieces_of(&got), oracle_pieces(p, s), "{:?} {:?}", p, s);
            }
        }
    }
}

#[test]
fn vector_finder_equals_the_exact_matcher_on_the_corpus() {
    for name in CORPUS {
        let input = text(name);
        check_levels(&input, &[input.len(), 4096, 333]);
        // Every alignment of a slice against the window.
        let mid = input.len() / 2;
        for pad in 0..64 {
            let mut s = vec![b'x'; pad];
            s.push(b' ');
            s.extend_from_slice(&input[mid..(mid + 3000).min(input.len())]);
            check_levels(&s, &[s.len()]);
        }
    }
}

#[test]
fn vector_finder_hand_picked_cases() {
    let cases: &[&str] = &[
        "don't I'm we'll they've you're she'd 'tis 's ''s x's's don's's don't's it'sGood",
        "HTTPServer helloWorld ABCdef abcDEF aB Ab A a I'M YOU'LL",
        "a\n/\nb ./\n/\nx a/\n/.x .\n/x  \n\n  \t\n x \n\t\ty \r\n\r\n  z",
        "12345678901 1 12 123 1234 a1b22c333d4444 x  1  22",
        "(hello \"world\" (x 'y ' z -- '' ''s !!!a ! a",
    ];
    for c in cases {
        let s = c.repeat(5);
        check_levels(s.as_bytes(), &[s.len(), 7, 64, 65]);
        for p in PATTERNS {
            let got = events_at(p, tokstream::scan::Level::best(), s.as_bytes(), s.len()).unwrap();
            assert_eq!(pieces_of(&got), oracle_pieces(p, &s), "{p:?} {s:?}");
        }
    }
}

/// Tokens of `model` with its GPT engine at `level`, and where the line ends fall (token
/// counts at each), the piece and token counts.
fn encode_at(
    model: &Model,
    level: tokstream::scan::Level,
    input: &[u8],
    chunk: usize,
) -> Option<(TokLines, u64, u64)> {
    let Splitter::Gpt(g) = model.splitter(false) else {
        unreachable!()
    };
    let g = g.with_level(level)?;
    let mut sink = tokstream::pipeline::EncodeSink::new(model, TokLines::default());
    tokstream::pipeline::run_rules(input, Splitter::Gpt(g), chunk.max(1), &mut sink).unwrap();
    let (pieces, tokens) = (sink.stats.pieces, sink.stats.tokens);
    Some((sink.into_inner(), pieces, tokens))
}

#[derive(Default, PartialEq)]
struct TokLines {
    tokens: Vec<Token>,
    lines: Vec<usize>,
}

impl tokstream::pipeline::TokenSink for TokLines {
    fn token(&mut self, t: Token) -> tokstream::Result<()> {
        self.tokens.push(t);
        Ok(())
    }
    fn line_end(&mut self) -> tokstream::Result<()> {
        self.lines.push(self.tokens.len());
        Ok(())
    }
}

#[test]
fn encode_with_the_vector_finder_equals_the_reference_on_the_corpus() {
    use tokstream::scan::Level;
    for (model, _) in MODELS {
        let m = bpe_model(model);
        for name in CORPUS {
            let input = text(name);
            let want = encode_at(m, Level::Reference, &input, input.len()).unwrap();
            assert_eq!(
                want.0.tokens,
                golden_bpe_tokens(model, name),
                "{name}: {model}"
            );
            for &level in Level::ALL {
                for chunk in [input.len(), 4096, 333] {
                    if let Some(got) = encode_at(m, level, &input, chunk) {
                        assert!(got == want, "{name}: {model} level {level} chunk {chunk}");
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn encode_with_the_vector_finder_equals_the_reference(text in long_ascii_text(), chunk in 1usize..200) {
        use tokstream::scan::Level;
        for (model, _) in MODELS {
            let m = bpe_model(model);
            let want = encode_at(m, Level::Reference, &text, text.len()).unwrap();
            for &level in Level::ALL {
                for c in [text.len(), chunk] {
                    if let Some(got) = encode_at(m, level, &text, c) {
                        prop_assert!(got == want, "{} level {} chunk {}", model, level, c);
                    }
                }
            }
        }
    }
}

/// A forced scanner level reaches the GPT engine (its vector piece finder) and survives the
/// fresh engines the pipeline makes per chunk; `Splitter::level` reports it. The split is the
/// same at every level through the streaming driver.
#[test]
fn a_forced_scanner_level_reaches_the_gpt_finder() {
    use tokstream::scan::{Level, Scanner};
    let input = text("en");
    for rules in [RuleSet::Gpt2, RuleSet::Cl100k, RuleSet::O200k] {
        let want = split_with(
            &input,
            rules,
            1 << 20,
            Scanner::with_level(Level::Reference),
        );
        for s in levels() {
            let sp = Splitter::for_split(rules, false).with_scanner(s);
            assert_eq!(sp.level(), s.level(), "{rules:?}");
            assert_eq!(sp.fresh_at(100).level(), s.level(), "{rules:?}");
            assert_eq!(
                split_with(&input, rules, 4096, Some(s)),
                want,
                "{rules:?} {}",
                s.level()
            );
        }
    }
}

/// The finder's own output from piece starts of `input`, at every level: each reported piece
/// is the reference's next piece, and its newline flag (`GptSpans`) says exactly whether the
/// piece holds a `\n` (a missing flag loses line ends; a flag on a piece without one would go
/// unseen through `PieceRun::each`, which looks for the `\n` itself, hence this check).
fn check_finder_spans(input: &[u8], step: usize) {
    use tokstream::scan::Level;
    use tokstream::scan::gpt::{GptFinder, GptKind, GptSpans};
    for p in PATTERNS {
        let kind = match p {
            GptPattern::Gpt2 => GptKind::Gpt2,
            GptPattern::Cl100k => GptKind::Cl100k,
            GptPattern::O200k => GptKind::O200k,
        };
        let want = pieces_of(&events_at(p, Level::Reference, input, input.len()).unwrap());
        let starts: std::collections::HashMap<usize, usize> =
            want.iter().enumerate().map(|(k, &(a, _))| (a, k)).collect();
        for &level in Level::ALL {
            let Some(finder) = GptFinder::with_level(level) else {
                continue;
            };
            if !finder.is_active() {
                continue;
            }
            let mut spans = GptSpans::default();
            for (k0, &(s0, _)) in want.iter().enumerate().step_by(step.max(1)) {
                let stop = finder.find(&input[s0..], kind, &mut spans);
                let mut start = s0;
                for (j, &v) in spans.ends[..spans.len].iter().enumerate() {
                    let end = s0 + (v & 0x7FFF_FFFF) as usize;
                    assert_eq!(
                        want.get(k0 + j),
                        Some(&(start, end)),
                        "{p:?} level {level} from {s0}: piece {j}"
                    );
                    let nl = input[start..end].contains(&b'\n');
                    assert_eq!(
                        v >> 31 == 1,
                        nl,
                        "{p:?} level {level} from {s0}: newline flag of piece {j} {:?}",
                        String::from_utf8_lossy(&input[start..end])
                    );
                    start = end;
                }
                assert_eq!(stop.end, start - s0, "{p:?} level {level} from {s0}");
                assert!(start == input.len() || starts.contains_key(&start));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn finder_spans_and_newline_flags_are_exact(
        ascii in long_ascii_text(),
        cjk in long_cjk_text(),
        nl in prop::collection::vec(prop::sample::select(vec!["\n", "\n\n", "a\n", " \n ", "\r\n", "x\ny ", "中\n", "  ", "ab", ", "]), 0..200),
    ) {
        check_finder_spans(&ascii, 1);
        check_finder_spans(&cjk, 1);
        check_finder_spans(nl.concat().as_bytes(), 1);
    }
}

#[test]
fn finder_spans_and_newline_flags_are_exact_on_the_corpus() {
    for name in CORPUS {
        let input = text(name);
        let n = input.len().min(40_000);
        check_finder_spans(&input[..n], 97);
    }
}
