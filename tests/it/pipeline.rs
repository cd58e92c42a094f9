//! The parallel pipeline: byte-identical to the sequential driver for every worker count,
//! chunk size and format; the library sink API; stops, errors and panics end cleanly.

use tokstream::output::{Format, PieceWriter, TokenWriter};
use tokstream::pipeline::{
    self, DEFAULT_CHUNK_SIZE, FnSink, PipelineBuilder, Sink, StreamOptions, Token,
};
use tokstream::rules::RuleSet;

use super::common::*;

/// What is compared: a command and an output format.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Encode(Format),
    Split(RuleSet, Format),
}

const MODES: &[Mode] = &[
    Mode::Encode(Format::Text),
    Mode::Encode(Format::Jsonl),
    Mode::Encode(Format::U32),
    Mode::Split(RuleSet::Bert, Format::Text),
    Mode::Split(RuleSet::Bert, Format::Jsonl),
];

/// The sequential driver's output (the reference).
fn sequential(mode: Mode, input: &[u8]) -> Vec<u8> {
    let opts = StreamOptions::default();
    match mode {
        Mode::Encode(f) => {
            let mut w = TokenWriter::new(Vec::new(), f, model().vocab_size()).unwrap();
            pipeline::encode_stream(input, model(), &opts, &mut w).unwrap();
            w.finish().unwrap()
        }
        Mode::Split(r, f) => {
            let mut w = PieceWriter::new(Vec::new(), f).unwrap();
            pipeline::split_stream(input, r, &opts, &mut w).unwrap();
            w.finish().unwrap()
        }
    }
}

/// The parallel pipeline's output and stats.
fn parallel(mode: Mode, input: &[u8], workers: usize, chunk: usize) -> (Vec<u8>, tokstream::Stats) {
    let p = PipelineBuilder::new()
        .workers(workers)
        .chunk_size(chunk)
        .build()
        .unwrap();
    let mut out = Vec::new();
    let stats = match mode {
        Mode::Encode(f) => p.write_encoded(model(), input, f, &mut out, &mut ()),
        Mode::Split(r, f) => p.write_split(r, input, f, &mut out, &mut ()),
    }
    .unwrap();
    (out, stats)
}

/// The first differing byte, with context, instead of two huge buffers.
fn assert_bytes_eq(label: &str, want: &[u8], got: &[u8]) {
    if want == got {
        return;
    }
    let i = want
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    let show = |b: &[u8]| {
        String::from_utf8_lossy(&b[i.saturating_sub(40)..(i + 40).min(b.len())]).into_owned()
    };
    panic!(
        "{label}: output differs at byte {i} (want {} bytes, got {})\n  want: {:?}\n  got:  {:?}",
        want.len(),
        got.len(),
        show(want),
        show(got)
    );
}

/// A prefix of about `n` bytes (the whole text if shorter).
fn slice(input: &[u8], n: usize) -> &[u8] {
    &input[..n.min(input.len())]
}

/// The matrix, workers 1..=8 × chunk sizes (1, 7, 64, 4096, default) × formats on the
/// golden corpus, in two tests that the harness runs side by side.
///
/// Sizes 1 and 7 cost one channel round trip per few bytes, so they run on the hard cases and
/// the first 8 KiB of each real text, in every format with line state (u32 has none and is
/// covered by the larger sizes); sizes 64, 4096 and the default run on every file whole.
fn matrix(chunks: &[usize], slice_len: usize, modes: &[Mode]) {
    for name in CORPUS {
        let full = text(name);
        let input = slice(&full, slice_len);
        for &mode in modes {
            let want = sequential(mode, input);
            for &chunk in chunks {
                for workers in 1..=8 {
                    let (got, stats) = parallel(mode, input, workers, chunk);
                    let label = format!("{name} {mode:?} -j {workers} chunk {chunk}");
                    assert_bytes_eq(&label, &want, &got);
                    assert_eq!(stats.bytes, input.len() as u64, "{label}");
                }
            }
        }
    }
}

#[test]
fn output_is_byte_identical_for_tiny_chunks_and_every_worker_count() {
    matrix(&[1, 7], 8 * 1024, &MODES[..2]);
    matrix(&[1, 7], 8 * 1024, &MODES[3..]);
}

#[test]
fn output_is_byte_identical_for_every_worker_count_and_chunk_size() {
    matrix(&[64, 4096, DEFAULT_CHUNK_SIZE], usize::MAX, MODES);
}

#[test]
fn stats_add_up_to_the_sequential_ones() {
    let input = text("mixed");
    let want = {
        let mut w = TokenWriter::new(Vec::new(), Format::None, model().vocab_size()).unwrap();
        pipeline::encode_stream(&input[..], model(), &StreamOptions::default(), &mut w).unwrap()
    };
    for (workers, chunk) in [(1, 4096), (3, 1000), (8, 64)] {
        let (_, got) = parallel(Mode::Encode(Format::None), &input, workers, chunk);
        assert_eq!(
            (
                got.bytes,
                got.lines,
                got.pieces,
                got.tokens,
                got.unk,
                got.replaced
            ),
            (
                want.bytes,
                want.lines,
                want.pieces,
                want.tokens,
                want.unk,
                want.replaced
            ),
            "-j {workers} chunk {chunk}"
        );
    }
}

#[test]
fn token_sink_gets_the_golden_tokens_in_order() {
    for name in ["en", "ja", "hard_cases"] {
        let input = text(name);
        let want = golden_tokens(name);
        for (workers, chunk) in [(1, DEFAULT_CHUNK_SIZE), (2, 4096), (5, 333)] {
            let p = PipelineBuilder::new()
                .workers(workers)
                .chunk_size(chunk)
                .build()
                .unwrap();
            let mut got: Vec<Token> = Vec::new();
            p.encode(model(), &input[..], &mut got).unwrap();
            let label = format!("{name}: -j {workers} chunk {chunk}");
            assert_same(&label, &input, &want, &got, |t| t.start);
            let mut inline: Vec<Token> = Vec::new();
            p.encode_bytes(model(), &input, &mut inline).unwrap();
            assert_same(&label, &input, &want, &inline, |t| t.start);
        }
    }
}

/// Counts lines as the sink sees them.
struct Lines {
    tokens: usize,
    lines: usize,
}

impl Sink for Lines {
    type Error = tokstream::Error;
    fn tokens(&mut self, t: &[Token]) -> tokstream::Result<bool> {
        assert!(!t.is_empty());
        self.tokens += t.len();
        Ok(true)
    }
    fn line_end(&mut self) -> tokstream::Result<bool> {
        self.lines += 1;
        Ok(true)
    }
}

#[test]
fn sink_sees_every_line_end_including_a_last_line_without_newline() {
    let input = text("hard_cases");
    assert!(!input.ends_with(b"\n"));
    let want_lines = input.iter().filter(|&&b| b == b'\n').count() + 1;
    for chunk in [5, 100, DEFAULT_CHUNK_SIZE] {
        let p = PipelineBuilder::new()
            .workers(3)
            .chunk_size(chunk)
            .build()
            .unwrap();
        let mut sink = Lines {
            tokens: 0,
            lines: 0,
        };
        let stats = p.encode(model(), &input[..], &mut sink).unwrap();
        assert_eq!(sink.lines, want_lines, "chunk {chunk}");
        assert_eq!(stats.lines as usize, want_lines);
        assert_eq!(sink.tokens as u64, stats.tokens);
    }
}

#[test]
fn giant_words_are_handed_from_worker_to_worker() {
    // No whitespace at all: every chunk is cut without a safe cut and continues the engine of
    // the previous one, across workers.
    let mut input = Vec::new();
    for i in 0..3000 {
        input.extend_from_slice(format!("word{i}é,").as_bytes());
    }
    input.extend_from_slice(b" tail\nx");
    for &mode in MODES {
        let want = sequential(mode, &input);
        for (workers, chunk) in [(1, 64), (4, 64), (8, 7), (3, 1)] {
            let (got, _) = parallel(mode, &input, workers, chunk);
            assert_bytes_eq(&format!("{mode:?} -j {workers} chunk {chunk}"), &want, &got);
        }
    }
}

#[test]
fn empty_and_tiny_inputs() {
    for input in [&b""[..], b"\n", b"a", b"a\n", b"\n\n", b" ", b"\xFF"] {
        for &mode in MODES {
            let want = sequential(mode, input);
            for (workers, chunk) in [(1, 1), (2, 1), (2, 4096)] {
                let (got, _) = parallel(mode, input, workers, chunk);
                assert_bytes_eq(&format!("{input:?} {mode:?} -j {workers}"), &want, &got);
            }
        }
    }
}

#[test]
fn a_sink_returning_false_stops_cleanly() {
    let input = text("en");
    for workers in [1, 4] {
        let p = PipelineBuilder::new()
            .workers(workers)
            .chunk_size(1024)
            .build()
            .unwrap();
        let mut seen = 0usize;
        let stats = p
            .encode(
                model(),
                &input[..],
                FnSink(|t: &[Token]| {
                    seen += t.len();
                    Ok::<_, tokstream::Error>(seen < 1000)
                }),
            )
            .unwrap();
        assert!(
            seen >= 1000 && (stats.bytes as usize) < input.len(),
            "-j {workers}"
        );
    }
}

#[derive(Debug)]
enum MyError {
    Mine,
    Pipeline(#[allow(dead_code)] tokstream::Error),
}

impl From<tokstream::Error> for MyError {
    fn from(e: tokstream::Error) -> Self {
        MyError::Pipeline(e)
    }
}

#[test]
fn a_sink_error_aborts_the_run_and_is_returned() {
    let input = text("en");
    let p = PipelineBuilder::new()
        .workers(3)
        .chunk_size(512)
        .build()
        .unwrap();
    let mut calls = 0;
    let r = p.encode(
        model(),
        &input[..],
        FnSink(|_: &[Token]| {
            calls += 1;
            if calls == 50 {
                Err(MyError::Mine)
            } else {
                Ok(true)
            }
        }),
    );
    assert!(matches!(r, Err(MyError::Mine)), "{r:?}");
}

#[test]
fn a_worker_panic_is_an_error_not_a_hang() {
    let input = text("en");
    for (workers, at) in [(1, 0), (2, 5), (4, 17)] {
        let p = PipelineBuilder::new()
            .workers(workers)
            .chunk_size(4096)
            .inject_worker_panic(Some(at))
            .build()
            .unwrap();
        let mut out = Vec::new();
        let r = p.write_encoded(model(), &input[..], Format::Text, &mut out, &mut ());
        let e = r.expect_err("a panic must fail the run");
        assert!(e.to_string().contains("panicked"), "{e}");
    }
}

#[test]
fn strict_utf8_error_and_partial_output_match_the_sequential_driver() {
    let mut input = text("en")[..50_000].to_vec();
    input.extend_from_slice(b" bad\xFFbyte and more text\n");
    input.extend_from_slice(&text("en")[..20_000]);
    let opts = StreamOptions {
        strict_utf8: true,
        ..StreamOptions::default()
    };
    let mut w = TokenWriter::new(Vec::new(), Format::Text, model().vocab_size()).unwrap();
    let want_err = pipeline::encode_stream(&input[..], model(), &opts, &mut w).unwrap_err();
    let want_out = w.finish().unwrap();
    for (workers, chunk) in [(1, 4096), (3, 1000), (2, 7)] {
        let p = PipelineBuilder::new()
            .workers(workers)
            .chunk_size(chunk)
            .strict_utf8(true)
            .build()
            .unwrap();
        let mut out = Vec::new();
        let e = p
            .write_encoded(model(), &input[..], Format::Text, &mut out, &mut ())
            .unwrap_err();
        assert_eq!(e.offset(), want_err.offset(), "-j {workers} chunk {chunk}");
        assert_eq!(e.offset(), Some(50_004));
        assert_bytes_eq(&format!("-j {workers} chunk {chunk}"), &want_out, &out);
    }
}

#[test]
fn invalid_utf8_counts_add_up_in_lossy_mode() {
    let input = b"ab\xFFcd ok \xE2\x82 x\n\xF0 y".repeat(100);
    for (workers, chunk) in [(1, 3), (4, 10), (2, 4096)] {
        let (_, s) = parallel(Mode::Encode(Format::None), &input, workers, chunk);
        assert_eq!(s.replaced, 300, "-j {workers} chunk {chunk}");
        assert_eq!(s.first_replaced, Some(2));
    }
}

#[test]
fn bad_chunk_sizes_are_config_errors() {
    assert!(PipelineBuilder::new().chunk_size(0).build().is_err());
    assert!(
        PipelineBuilder::new()
            .chunk_size((1 << 30) + 1)
            .build()
            .is_err()
    );
    assert!(PipelineBuilder::new().build().unwrap().workers() >= 1);
}

/// Pieces of text that stress cuts: multibyte and invalid UTF-8, deleted and CJK characters,
/// CRLF, whitespace runs, punctuation, long words.
const ATOMS: &[&[u8]] = &[
    b"a",
    b"word",
    b" ",
    b"  ",
    b"\n",
    b"\r\n",
    b"\t",
    b".",
    b",",
    b"\"",
    b"\\",
    "é".as_bytes(),
    "e\u{301}".as_bytes(),
    "世界".as_bytes(),
    "한국".as_bytes(),
    "\u{200B}".as_bytes(),
    "\u{1F600}".as_bytes(),
    "≠".as_bytes(),
    b"\xFF",
    b"\xE2\x82",
    b"\x00",
    b"unbelievably",
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    /// Random inputs, worker counts and chunk sizes: the pipeline's bytes equal the one-shot
    /// sequential driver's in every format.
    #[test]
    fn random_inputs_give_the_sequential_bytes(
        atoms in proptest::collection::vec(0..ATOMS.len(), 0..120),
        workers in 1usize..6,
        chunk in 1usize..40,
        mode in 0..MODES.len(),
    ) {
        let input: Vec<u8> = atoms.iter().flat_map(|&i| ATOMS[i].iter().copied()).collect();
        let mode = MODES[mode];
        let want = sequential(mode, &input);
        let (got, _) = parallel(mode, &input, workers, chunk);
        proptest::prop_assert!(
            got == want,
            "{:?} -j {} chunk {}: {:?} vs {:?}",
            mode, workers, chunk,
            String::from_utf8_lossy(&got), String::from_utf8_lossy(&want)
        );
    }
}

// ---- The binary: -j, bench, stats JSON and faults ----

mod binary {
    use std::io::{Read, Write};
    use std::process::{Child, Command, Output, Stdio};
    use std::time::Duration;

    use super::super::common::*;

    fn bin() -> Command {
        Command::new(env!("CARGO_BIN_EXE_tokstream"))
    }

    fn data(name: &str) -> String {
        data_dir().join(format!("{name}.txt")).display().to_string()
    }

    fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("tokstream-pl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    /// The output of `child` (stdout and stderr are drained while it runs), waiting at most
    /// `secs` seconds: a hang fails the test instead of blocking it.
    fn wait(child: Child, secs: u64) -> Output {
        let pid = child.id().to_string();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(child.wait_with_output().unwrap()));
        match rx.recv_timeout(Duration::from_secs(secs)) {
            Ok(out) => out,
            Err(_) => {
                let _ = Command::new("kill").args(["-9", &pid]).status();
                panic!("the binary did not end within {secs} s");
            }
        }
    }

    fn run(args: &[&str]) -> Output {
        let child = bin()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait(child, 120)
    }

    #[test]
    fn every_worker_count_gives_the_same_bytes() {
        for (cmd, format) in [("encode", "jsonl"), ("encode", "u32"), ("split", "text")] {
            let want = run(&[
                cmd,
                "--format",
                format,
                "-j",
                "1",
                &data("mixed"),
                &data("ja"),
            ]);
            assert!(want.status.success());
            for j in ["2", "3", "8"] {
                for chunk in ["100", "65536"] {
                    let args = [cmd, "--format", format, "-j", j, "--chunk-size", chunk];
                    let got = run(&[&args[..], &[&data("mixed"), &data("ja")]].concat());
                    assert!(got.status.success(), "{args:?}");
                    assert!(got.stdout == want.stdout, "{args:?}: output differs");
                }
            }
        }
        // -j must be a positive number.
        assert_eq!(
            run(&["encode", "-j", "0", &data("en")]).status.code(),
            Some(2)
        );
    }

    #[test]
    fn a_worker_panic_exits_1_with_a_message_and_no_hang() {
        for j in ["1", "2", "4"] {
            let child = bin()
                .args(["encode", "-j", j, "--chunk-size", "4096", &data("en")])
                .env("TOKSTREAM_TEST_PANIC_AT_CHUNK", "3")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let out = wait(child, 60);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "-j {j}: {err}");
            assert!(
                err.contains("tokstream: error:") && err.contains("panicked"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_closed_output_pipe_ends_quietly_with_every_worker_count() {
        for j in ["1", "2", "4"] {
            let mut child = bin()
                .args([
                    "encode",
                    "-j",
                    j,
                    "--chunk-size",
                    "1000",
                    &data("en"),
                    &data("zh"),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut so = child.stdout.take().unwrap();
            let mut buf = [0u8; 10];
            so.read_exact(&mut buf).unwrap();
            drop(so);
            let out = wait(child, 60);
            assert_eq!(out.status.code(), Some(0), "-j {j}");
            assert!(
                out.stderr.is_empty(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn an_unwritable_output_file_is_an_error() {
        let out = run(&["encode", "-j", "2", "-o", "/dev/full", &data("en")]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("error"));
    }

    #[test]
    fn stats_json_has_counts_rates_and_the_per_second_series() {
        let path = tmp("stats.json");
        let out = run(&[
            "encode",
            "--format",
            "none",
            "-j",
            "2",
            "--stats-json",
            path.to_str().unwrap(),
            &data("zh"),
        ]);
        assert!(out.status.success());
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["tokens"], golden_tokens("zh").len() as u64);
        assert_eq!(v["bytes"], text("zh").len() as u64);
        assert_eq!(v["workers"], 2);
        assert!(v["per_second"].is_array() && v["cpu_seconds"].is_number());
        for k in [
            "wall_seconds",
            "mb_per_s",
            "simd",
            "sustained_median_per_s",
            "unk",
        ] {
            assert!(v.get(k).is_some(), "no {k} in {v}");
        }
    }

    #[test]
    fn bench_streams_a_repeated_corpus_and_prints_the_summary() {
        let out = run(&["bench", "--size", "3MB", "-j", "2", "--json", &data("en")]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["bytes"], 3_000_000);
        assert!(v["tokens"].as_u64().unwrap() > 500_000);
        assert_eq!(v["input_size"], 3_000_000);
        // A rule set alone counts pieces; the text summary names the sustained rate.
        let out = run(&["bench", "--rules", "bert-cased", "-j", "1", &data("ja")]);
        assert!(out.status.success());
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(s.contains("sustained") && s.contains("cpu-seconds"), "{s}");
        assert_eq!(
            run(&["bench", "--size", "lots", &data("en")]).status.code(),
            Some(2)
        );
        assert_eq!(run(&["bench"]).status.code(), Some(2));
    }

    #[test]
    fn ctrl_c_prints_the_summary_so_far_and_exits_130() {
        let mut child = bin()
            .args([
                "encode",
                "--format",
                "none",
                "-j",
                "2",
                "--chunk-size",
                "4096",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Some input, then none: the reader waits on an open pipe when the signal comes.
        let mut si = child.stdin.take().unwrap();
        si.write_all(&text("en")[..100_000]).unwrap();
        std::thread::sleep(Duration::from_millis(700));
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        let out = wait(child, 30);
        drop(si);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{err}");
        assert!(
            err.contains("tokens") && err.contains("interrupted"),
            "{err}"
        );
    }
}

/// The GPT rules hold their last piece until they see what follows it, so a worker whose chunk
/// ends at a safe cut must finish its engine there (found by the GPT work; this guards it).
#[test]
fn gpt_output_is_byte_identical_for_every_worker_count_and_chunk_size() {
    let model = tokstream::cli::load_model("cl100k_base").unwrap();
    let opts = StreamOptions::default();
    for name in ["en", "code", "mixed", "hard_cases"] {
        let full = text(name);
        let input = slice(&full, 64 * 1024);
        let mut w = TokenWriter::new(Vec::new(), Format::Jsonl, model.vocab_size()).unwrap();
        pipeline::encode_stream(input, &model, &opts, &mut w).unwrap();
        let want = w.finish().unwrap();
        let mut w = PieceWriter::new(Vec::new(), Format::Jsonl).unwrap();
        pipeline::split_stream(input, RuleSet::Cl100k, &opts, &mut w).unwrap();
        let want_split = w.finish().unwrap();
        for chunk in [64, 4096, DEFAULT_CHUNK_SIZE] {
            for workers in [1, 2, 4] {
                let p = PipelineBuilder::new()
                    .workers(workers)
                    .chunk_size(chunk)
                    .build()
                    .unwrap();
                let label = format!("{name} cl100k -j {workers} chunk {chunk}");
                let mut got = Vec::new();
                p.write_encoded(&model, input, Format::Jsonl, &mut got, &mut ())
                    .unwrap();
                assert_bytes_eq(&format!("{label} encode"), &want, &got);
                let mut got = Vec::new();
                p.write_split(RuleSet::Cl100k, input, Format::Jsonl, &mut got, &mut ())
                    .unwrap();
                assert_bytes_eq(&format!("{label} split"), &want_split, &got);
            }
        }
    }
}
