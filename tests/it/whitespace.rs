//! The `whitespace` rules (HF's `Whitespace` pre-tokenizer, `\w+|[^\w\s]+`): the character
//! classes against what pip `tokenizers` does on every code point and against the regex crate,
//! every piece and offset against HF's goldens (scripts/gen_whitespace_goldens.py), chunk-size
//! invariance, every scanner level against the per-character reference, invalid UTF-8, giant
//! words in bounded memory, and the CLI.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use proptest::prelude::*;
use tokstream::pipeline::DEFAULT_CHUNK_SIZE;
use tokstream::rules::whitespace::{self, char_class};
use tokstream::rules::{PieceSink, RuleSet, Splitter, WhitespaceConfig, WhitespaceSplitter};
use tokstream::scan::{Level, Scanner};
use tokstream::unicode::whitespace_tables::{P, S, W, ws_class};

use super::common::*;

const RULES: RuleSet = RuleSet::Whitespace;

fn all_chars() -> impl Iterator<Item = char> {
    (0u32..=0x10_FFFF).filter_map(char::from_u32)
}

/// Panics with the first few code points where `got` differs from `want`.
fn check_classes(name: &str, want: impl Fn(char) -> u8, got: impl Fn(char) -> u8) {
    let bad: Vec<String> = all_chars()
        .filter(|&c| want(c) != got(c))
        .take(20)
        .map(|c| format!("U+{:04X}: want {}, got {}", c as u32, want(c), got(c)))
        .collect();
    assert!(bad.is_empty(), "{name}: mismatches:\n{}", bad.join("\n"));
}

/// The classes pip tokenizers showed for every code point (scripts/gen-whitespace-tables.py):
/// ranges of `\w` (1) and `\s` (2); everything else is neither (0).
fn hf_classes() -> Vec<u8> {
    let mut cls = vec![P; 0x11_0000];
    for r in golden("whitespace/classes.tsv") {
        for cp in r[0]..=r[1] {
            cls[cp as usize] = r[2] as u8;
        }
    }
    cls
}

#[test]
fn classes_match_hf_on_every_code_point() {
    let hf = hf_classes();
    assert_eq!(hf.iter().filter(|&&c| c == W).count(), 144_667);
    assert_eq!(hf.iter().filter(|&&c| c == S).count(), 25);
    check_classes("char_class vs HF", |c| hf[c as usize], char_class);
    check_classes("ws_class vs HF", |c| hf[c as usize], |c| ws_class(c as u32));
    for b in 0..0x80u8 {
        assert_eq!(whitespace::ascii_class(b), hf[b as usize], "{b:#x}");
    }
    assert_eq!(ws_class(0x11_0000), P);
}

#[test]
fn classes_match_the_regex_crate() {
    // HF compiles `\w+|[^\w\s]+` with the regex crate; regex-syntax 0.8.12 (here, under
    // fancy-regex) has the same Unicode 16.0 tables as the 0.8.11 inside pip tokenizers.
    let word = fancy_regex::Regex::new(r"^\w$").unwrap();
    let space = fancy_regex::Regex::new(r"^\s$").unwrap();
    check_classes(
        "char_class vs the regex crate (a regex-syntax newer than the wheel's 0.8.11 may have \
         newer Unicode data: the HF dump decides)",
        |c| {
            let s = c.to_string();
            if word.is_match(&s).unwrap() {
                W
            } else if space.is_match(&s).unwrap() {
                S
            } else {
                P
            }
        },
        char_class,
    );
    // The fast path takes every CJK ideograph U+4E00..U+9FFF for a word character.
    for cp in 0x4E00..=0x9FFF {
        assert_eq!(ws_class(cp), W, "U+{cp:04X}");
    }
    // What the module docs promise.
    for (c, want) in [
        ('_', W),
        ('\u{200D}', W),
        ('\u{301}', W),
        ('\u{203F}', W),
        ('٣', W),
        ('\u{B}', S),
        ('\u{85}', S),
        ('\u{3000}', S),
        ('\u{1C}', P),
        ('\u{200B}', P),
        ('\u{FFFD}', P),
        ('\u{E000}', P),
    ] {
        assert_eq!(char_class(c), want, "{c:?}");
    }
}

#[test]
fn pieces_match_hf() {
    let mut total = 0;
    for name in CORPUS {
        let input = text(name);
        let want = golden_pieces(RULES, name);
        let got = split(&input, RULES, DEFAULT_CHUNK_SIZE);
        assert_same(
            &format!("{name}: whitespace pieces"),
            &input,
            &want,
            &got,
            |p| p.0,
        );
        // The per-character oracle the fuzz targets use agrees too.
        let oracle: Vec<(u64, u64)> = whitespace::pieces(&input)
            .into_iter()
            .map(|(s, e)| (s as u64, e as u64))
            .collect();
        assert_same(&format!("{name}: oracle"), &input, &want, &oracle, |p| p.0);
        total += want.len();
    }
    assert!(total > 300_000, "{total} pieces compared");
}

fn lossy_input() -> Vec<u8> {
    std::fs::read(data_dir().join("golden/whitespace/lossy.bin")).unwrap()
}

#[test]
fn invalid_utf8_is_split_as_hf_splits_the_lossy_text() {
    let input = lossy_input();
    assert!(std::str::from_utf8(&input).is_err());
    let want: Vec<(u64, u64)> = golden("whitespace/lossy.pieces")
        .into_iter()
        .map(|r| (r[0], r[1]))
        .collect();
    for size in (1..=input.len()).chain([DEFAULT_CHUNK_SIZE]) {
        for s in levels() {
            let got = split_with(&input, RULES, size, Some(s));
            assert_same(
                &format!("lossy, chunk {size}, level {}", s.level()),
                &input,
                &want,
                &got,
                |p| p.0,
            );
        }
    }
    // Replacements are counted like String::from_utf8_lossy's; --strict stops at the first.
    let lossy = String::from_utf8_lossy(&input);
    let literal = input.windows(3).filter(|w| w == b"\xef\xbf\xbd").count();
    let want_replaced = (lossy.matches('\u{FFFD}').count() - literal) as u64;
    for size in [1, 2, 3, 7, 4096] {
        let mut c = PieceCollector::new(&input);
        let stats = tokstream::pipeline::run_rules(
            &input[..],
            Splitter::for_split(RULES, false),
            size,
            &mut c,
        )
        .unwrap();
        assert_eq!(stats.replaced, want_replaced, "chunk {size}");
        assert_eq!(stats.first_replaced, Some(2), "chunk {size}");
        let mut c = PieceCollector::new(&input);
        let err = tokstream::pipeline::run_rules(
            &input[..],
            Splitter::for_split(RULES, true),
            size,
            &mut c,
        )
        .unwrap_err();
        assert!(matches!(err.kind(), tokstream::ErrorKind::InvalidUtf8));
        assert_eq!(err.offset(), Some(2), "chunk {size}");
    }
}

/// Chunk sizes the issue asks for: 1 to 67, 4096 and the default.
fn chunk_sizes() -> impl Iterator<Item = usize> {
    (1..=67).chain([4096, DEFAULT_CHUNK_SIZE])
}

#[test]
fn split_is_identical_for_every_chunk_size() {
    for name in CORPUS {
        let input = text(name);
        let want = golden_pieces(RULES, name);
        let want_jsonl = split_jsonl(&input, RULES, DEFAULT_CHUNK_SIZE);
        for size in chunk_sizes() {
            let label = format!("{name}: whitespace pieces, chunk size {size}");
            assert_same(&label, &input, &want, &split(&input, RULES, size), |p| p.0);
            assert!(
                split_jsonl(&input, RULES, size) == want_jsonl,
                "{label}: jsonl differs"
            );
        }
    }
}

fn reference() -> Option<Scanner> {
    Scanner::with_level(Level::Reference)
}

#[test]
fn every_level_matches_the_goldens() {
    for s in levels() {
        for name in CORPUS {
            let input = text(name);
            for size in [1 << 20, 1000] {
                let got = split_with(&input, RULES, size, Some(s));
                let label = format!("{name}: level {}, chunk {size}", s.level());
                assert_same(&label, &input, &golden_pieces(RULES, name), &got, |p| p.0);
            }
        }
    }
}

/// Seeds for the fast path's edges: `_` joining words, punctuation runs, CJK next to letters,
/// controls and non-ASCII inside runs, newlines, invalid bytes.
fn seeds() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        &b"hello, world!\nfoo-bar_baz (x) y... __init__(self): a_1 += 2;"[..],
        "naïve café\u{200B}x ≠ 世界abc，你好 _世_ 世.界 done".as_bytes(),
        b"a\x01b \x7f c\td\re\n\nf\x0bg\x0ch \x1c\x1d!",
        b"12345678901234567890123456789012345678901234567890123456789012345 xyz",
        b"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        b"________________________________________________________________a_",
        b"word\xFFword \xC3 end.\xE4\xB8 _\xFF_ ..\xF0\x9F\x98\x80..",
        "\u{4E00}\u{4E00}\u{4E00}\u{4DFF}\u{4E00}\u{9FFF}\u{A000}".as_bytes(),
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect();
    v.extend(
        text("hard_cases")
            .split(|&b| b == b'\n')
            .map(|l| l.to_vec()),
    );
    v
}

fn oracle(input: &[u8]) -> Vec<(u64, u64)> {
    whitespace::pieces(input)
        .into_iter()
        .map(|(s, e)| (s as u64, e as u64))
        .collect()
}

#[test]
fn every_level_matches_the_reference_on_every_alignment() {
    let fillers: [&[u8]; 5] = [b" ", b"x", b".", b"_", "世".as_bytes()];
    for (k, seed) in seeds().into_iter().enumerate() {
        // Every alignment for the hand-made seeds, every third for the hard-case lines.
        let step = if seed.len() > 40 {
            7
        } else if k >= 8 {
            3
        } else {
            1
        };
        for filler in fillers {
            for pad in (0..=515).step_by(step) {
                let mut input = filler.repeat(pad);
                input.extend_from_slice(&seed);
                input.extend(filler.repeat(515 - pad));
                let want = split_with(&input, RULES, 1 << 20, reference());
                assert!(want == oracle(&input), "reference vs oracle, pad {pad}");
                for s in levels() {
                    let got = split_with(&input, RULES, 1 << 20, Some(s));
                    assert!(
                        got == want,
                        "pieces differ: level {}, pad {pad}, filler {filler:?}, seed {:?}",
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
    let mut input = text("mixed")[..40_000].to_vec();
    input.extend_from_slice(&text("code")[..40_000]);
    input.extend_from_slice(&lossy_input());
    let want = split_with(&input, RULES, 1 << 20, reference());
    assert!(want == oracle(&input));
    for s in levels() {
        for size in [1, 2, 3, 5, 63, 64, 65, 127, 1000] {
            assert!(
                split_with(&input, RULES, size, Some(s)) == want,
                "level {} chunk {size}",
                s.level()
            );
        }
    }
}

/// Random text weighted towards what the fast path decides on.
fn text_strategy() -> impl Strategy<Value = Vec<u8>> {
    let atom = prop_oneof![
        4 => "[a-zA-Z0-9_]{1,12}".prop_map(|s| s.into_bytes()),
        3 => prop::sample::select(vec![" ", "  ", "\n", "\t", "\r\n", ".", ",", "!?", "_", "#", "(", "...", "\u{7f}", "\u{1}", "\u{b}"])
            .prop_map(|s| s.as_bytes().to_vec()),
        2 => prop::sample::select(vec!["é", "世", "界", "\u{4DFF}", "が", "한", "≠", "\u{200B}", "\u{200D}", "\u{FEFF}", "😀", "\u{301}", "\u{a0}", "\u{85}", "，", "\u{FFFD}"])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 1..4),
    ];
    prop::collection::vec(atom, 0..80).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn random_text_is_identical_on_every_level_and_chunking(input in text_strategy(), chunk in 1usize..80) {
        let want = oracle(&input);
        prop_assert_eq!(&split_with(&input, RULES, chunk, reference()), &want);
        for s in levels() {
            prop_assert_eq!(&split_with(&input, RULES, chunk, Some(s)), &want, "level {}", s.level());
            prop_assert_eq!(&split_with(&input, RULES, 1 << 20, Some(s)), &want, "level {}", s.level());
        }
    }

    #[test]
    fn random_bytes_are_identical_on_every_level(input in prop::collection::vec(any::<u8>(), 0..300), chunk in 1usize..20) {
        let want = oracle(&input);
        for s in levels() {
            prop_assert_eq!(&split_with(&input, RULES, chunk, Some(s)), &want, "level {}", s.level());
        }
    }
}

/// Counts what a giant piece costs the sink: fragments, pieces, the longest raw slice.
#[derive(Default)]
struct Giant {
    bytes: u64,
    pieces: Vec<(u64, u64)>,
}

impl PieceSink for Giant {
    fn raw_fragment(&mut self, _start: u64, bytes: &[u8]) -> tokstream::Result<()> {
        self.bytes += bytes.len() as u64;
        Ok(())
    }
    fn piece(&mut self, p: &tokstream::rules::Piece<'_>) -> tokstream::Result<()> {
        self.bytes += p.raw.len() as u64;
        self.pieces.push((p.start, p.end));
        Ok(())
    }
}

#[test]
fn a_giant_word_is_one_piece_streamed_as_fragments() {
    // 32 MiB of word characters (ASCII, `_`, CJK, combining marks) and then of punctuation,
    // fed in 64 KiB chunks: two pieces, and every byte handed on exactly once.
    let word = "ab_世\u{301}9".repeat((1 << 20) / 9).into_bytes();
    let punct = ".,;!?".repeat((1 << 20) / 5).into_bytes();
    let (w, p) = (32 * word.len() as u64, 32 * punct.len() as u64);
    for s in levels().into_iter().chain(reference()) {
        let mut rules = WhitespaceSplitter::with_scanner(WhitespaceConfig::default(), s);
        let mut sink = Giant::default();
        for part in [&word, &punct] {
            for _ in 0..32 {
                for chunk in part.chunks(64 << 10) {
                    rules.feed(chunk, &mut sink).unwrap();
                }
            }
        }
        rules.finish(&mut sink).unwrap();
        assert_eq!(sink.pieces, [(0, w), (w, w + p)], "{}", s.level());
        assert_eq!(sink.bytes, w + p, "{}", s.level());
    }
}

#[test]
fn the_parallel_pipeline_is_byte_identical() {
    use tokstream::output::{Format, PieceWriter};
    use tokstream::pipeline::{PipelineBuilder, StreamOptions};
    // A giant word crossing many chunks (forced cuts hand the engine on) and invalid UTF-8.
    let mut input = text("mixed")[..100_000].to_vec();
    input.extend("ab_世".repeat(20_000).as_bytes());
    input.extend_from_slice(&lossy_input());
    input.extend_from_slice(&text("code")[..100_000]);
    for format in [Format::Text, Format::Jsonl] {
        let mut w = PieceWriter::new(Vec::new(), format).unwrap();
        let opts = StreamOptions::default();
        tokstream::pipeline::split_stream(&input[..], RULES, &opts, &mut w).unwrap();
        let want = w.finish().unwrap();
        for chunk in [64, 1000, 4096, DEFAULT_CHUNK_SIZE] {
            for workers in [1, 2, 4] {
                let p = PipelineBuilder::new()
                    .workers(workers)
                    .chunk_size(chunk)
                    .build()
                    .unwrap();
                let mut got = Vec::new();
                p.write_split(RULES, &input[..], format, &mut got, &mut ())
                    .unwrap();
                assert!(got == want, "{format} -j {workers} chunk {chunk}");
            }
        }
    }
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokstream"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut si = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = si.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// Peak resident memory (KiB) of `tokstream split --rules whitespace` fed `total` bytes of
/// `pattern` on stdin (Linux: VmHWM just before stdin closes).
fn peak_rss_kib(pattern: &[u8], total: usize) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokstream"))
        .args(["split", "--rules", "whitespace"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut si = child.stdin.take().unwrap();
    let block = pattern.repeat((1 << 20) / pattern.len());
    let feeder = std::thread::spawn(move || {
        for _ in 0..total / block.len() {
            si.write_all(&block).unwrap();
        }
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap()
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    });
    let peak = feeder.join().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    peak
}

#[test]
fn a_giant_word_runs_in_bounded_memory() {
    // 256 MiB without whitespace, of word characters and of punctuation: one piece each.
    for pattern in ["ab_世\u{301}9x", ".,;!?-"] {
        let kib = peak_rss_kib(pattern.as_bytes(), 256 << 20);
        assert!(kib < 64 * 1024, "{pattern:?}: peak RSS {kib} KiB");
    }
}

#[test]
fn cli_split_rules_whitespace() {
    let input = "Héllo, wörld_2!... foo_bar(x); 世界abc，你好\n  \u{b}ok\n".as_bytes();
    let out = run(&["split", "--rules", "whitespace"], input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Héllo , wörld_2 !... foo_bar ( x ); 世界abc ， 你好\nok\n"
    );
    let out = run(
        &["split", "--rules", "whitespace", "--format", "jsonl"],
        b"a_b.. c",
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"pieces\":[[\"a_b\",0,3],[\"..\",3,5],[\"c\",6,7]]}\n"
    );
    // Invalid UTF-8: lossy by default (a warning), exit 1 with --strict.
    let out = run(&["split", "--rules", "whitespace"], b"ab\xffcd ok");
    assert!(out.status.success());
    assert_eq!(out.stdout, b"ab \xff cd ok\n");
    let out = run(
        &["split", "--rules", "whitespace", "--strict"],
        b"ab\xffcd ok",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("offset 2"));
    // Listed by `models` and `--help`.
    let out = run(&["models"], b"");
    assert!(String::from_utf8_lossy(&out.stdout).contains("  whitespace"));
    let out = run(&["split", "--help"], b"");
    assert!(String::from_utf8_lossy(&out.stdout).contains("whitespace"));
}
