//! The binary, run as a user would: formats, files, exit codes, messages, pipes, memory.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::common::*;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tokstream"))
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = bin()
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
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "the binary panicked: {err}");
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tokstream-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn data(name: &str) -> String {
    data_dir().join(format!("{name}.txt")).display().to_string()
}

#[test]
fn encode_text_format_matches_golden_ids_line_by_line() {
    let input = text("en");
    let out = run(&["encode", &data("en")], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let want = golden_tokens("en");
    let got: Vec<u32> = String::from_utf8(out.stdout.clone())
        .unwrap()
        .split_ascii_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    let want_ids: Vec<u32> = want.iter().map(|t| t.id).collect();
    assert_same("en: CLI text ids", &input, &want_ids, &got, |_| 0);
    // One output line per input line.
    let in_lines = input.split(|&b| b == b'\n').count() - usize::from(input.ends_with(b"\n"));
    assert_eq!(out.stdout.iter().filter(|&&b| b == b'\n').count(), in_lines);
}

#[test]
fn stdin_and_file_give_the_same_output_and_u32_u16_are_le_ids() {
    let input = text("ja");
    let want: Vec<u32> = golden_tokens("ja").iter().map(|t| t.id).collect();
    let u32_out = run(&["encode", "--format", "u32"], &input);
    assert!(u32_out.status.success());
    let got: Vec<u32> = u32_out
        .stdout
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(got, want);
    let path = tmp("ids16.bin");
    let u16_out = run(
        &[
            "encode",
            "--format",
            "u16",
            "-o",
            path.to_str().unwrap(),
            &data("ja"),
        ],
        b"",
    );
    assert!(u16_out.status.success() && u16_out.stdout.is_empty());
    let bytes = std::fs::read(&path).unwrap();
    let got16: Vec<u32> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]) as u32)
        .collect();
    assert_eq!(got16, want);
}

#[test]
fn jsonl_has_one_object_per_line_with_absolute_offsets() {
    // Two files as one stream: offsets of the second continue after the first.
    let a = data("hard_cases");
    let b = data("ko");
    let out = run(&["encode", "--format", "jsonl", &a, &b], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let mut stream = text("hard_cases");
    stream.extend(text("ko"));
    let mut want = golden_tokens("hard_cases");
    let shift = text("hard_cases").len() as u64;
    // hard_cases.txt ends without '\n', so its last line runs into ko.txt's first line:
    // compare against a fresh encode of the concatenation instead of shifting goldens blindly.
    let whole = encode(&stream, 1 << 20);
    want.retain(|t| t.end < shift - 200);
    assert_eq!(&whole[..want.len()], &want[..]);
    let mut got = Vec::new();
    let mut objects = 0;
    for line in out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        objects += 1;
        for t in v["tokens"].as_array().unwrap() {
            let t = t.as_array().unwrap();
            got.push(tokstream::pipeline::Token {
                id: t[0].as_u64().unwrap() as u32,
                start: t[1].as_u64().unwrap(),
                end: t[2].as_u64().unwrap(),
            });
        }
    }
    assert_eq!(got, whole);
    let lines = stream.split(|&b| b == b'\n').count() - usize::from(stream.ends_with(b"\n"));
    assert_eq!(objects, lines);
}

#[test]
fn split_text_and_jsonl_print_original_bytes() {
    let out = run(&["split"], "Héllo, 世界!\n\nA\u{200B}B ≠ c\n".as_bytes());
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Héllo , 世 界 !\n\nA\u{200B}B ≠ c\n"
    );
    let out = run(
        &["split", "--format", "jsonl", "--rules", "bert-cased"],
        b"Hi, you\n",
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"pieces\":[[\"Hi\",0,2],[\",\",2,3],[\"you\",4,7]]}\n"
    );
}

#[test]
fn stats_report_counts_on_stderr() {
    let out = run(&["encode", "--format", "none", "--stats", &data("zh")], b"");
    assert!(out.status.success() && out.stdout.is_empty());
    let err = stderr(&out);
    let want = golden_tokens("zh");
    let unk = want.iter().filter(|t| t.id == 100).count();
    let field = |name: &str| -> String {
        err.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in {err}"))
            .split_whitespace()
            .last()
            .unwrap()
            .replace(',', "")
    };
    assert_eq!(field("tokens"), want.len().to_string());
    assert_eq!(field("[UNK]"), unk.to_string());
    assert_eq!(field("bytes"), text("zh").len().to_string());
    for name in ["lines", "pieces", "replaced", "seconds", "MB/s", "tokens/s"] {
        field(name);
    }
}

#[test]
fn invalid_utf8_is_replaced_and_counted_by_default() {
    let out = run(&["encode", "--stats"], b"ab\xFFcd ok \xE2\x82 x\n");
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(err.contains("warning: replaced 2 invalid UTF-8"), "{err}");
    assert!(err.contains("byte offset 2"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("replaced") && l.ends_with(" 2")),
        "{err}"
    );
    // U+FFFD is deleted by BERT's clean_text: "ab\xFFcd" encodes like "abcd".
    let clean = run(&["encode"], b"abcd ok  x\n");
    assert_eq!(out.stdout, clean.stdout);
}

#[test]
fn strict_mode_names_the_file_and_offset_of_the_first_bad_byte() {
    let good = tmp("good.txt");
    let bad = tmp("bad.txt");
    std::fs::write(&good, b"fine text\n").unwrap();
    std::fs::write(&bad, b"ok \xC3\x28 more").unwrap();
    let out = run(
        &[
            "encode",
            "--strict",
            good.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(bad.to_str().unwrap()) && err.contains("byte offset 3"),
        "{err}"
    );
    assert!(err.contains("invalid UTF-8"), "{err}");
    // Truncated input: a character cut by the end of the stream.
    let out = run(&["split", "--strict"], b"abc \xE4\xB8");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("<stdin>: byte offset 4"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unreadable_inputs_and_bad_models_exit_1_naming_the_file() {
    let missing = tmp("does-not-exist.txt");
    let out = run(&["encode", missing.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(missing.to_str().unwrap()));
    let dir = std::env::temp_dir();
    let out = run(&["split", dir.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is a directory"), "{}", stderr(&out));

    let bad_json = tmp("tokenizer.json");
    std::fs::write(&bad_json, b"{\"model\": {\"type\": \"WordPiece\", ").unwrap();
    let out = run(&["encode", "--model", bad_json.to_str().unwrap()], b"hi");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(bad_json.to_str().unwrap()) && err.contains("bad model file"),
        "{err}"
    );

    let no_unk = tmp("vocab.txt");
    std::fs::write(&no_unk, b"a\nb\n##c\n").unwrap();
    let out = run(&["encode", "--model", no_unk.to_str().unwrap()], b"hi");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("[UNK]"), "{}", stderr(&out));

    let out = run(&["encode", "-o", "/nonexistent-dir/out.txt"], b"hi");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("/nonexistent-dir/out.txt"));
}

#[test]
fn loads_vocab_txt_and_tokenizer_json_by_path() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let input = text("mixed");
    let builtin = run(&["encode", &data("mixed")], b"").stdout;
    for f in [
        "bert-base-uncased-vocab.txt",
        "bert-base-uncased-tokenizer.json",
    ] {
        let p = models.join(f);
        let out = run(
            &["encode", "--model", p.to_str().unwrap(), &data("mixed")],
            b"",
        );
        assert!(out.status.success(), "{f}: {}", stderr(&out));
        assert!(out.stdout == builtin, "{f} gives other ids");
    }
    assert!(!input.is_empty());
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["encode", "--bogus"], b"").status.code(), Some(2));
    assert_eq!(
        run(&["encode", "--format", "xml"], b"").status.code(),
        Some(2)
    );
    assert_eq!(
        run(&["split", "--rules", "nope"], b"").status.code(),
        Some(2)
    );
    assert_eq!(
        run(&["split", "--format", "u32"], b"").status.code(),
        Some(2)
    );
    assert_eq!(
        run(&["encode", "--chunk-size", "0"], b"").status.code(),
        Some(2)
    );
    assert_eq!(
        run(&["encode", "--model", "no-such-model"], b"")
            .status
            .code(),
        Some(2)
    );
    assert_eq!(run(&[], b"").status.code(), Some(2));
    // A vocabulary over 65,536 ids cannot be written as u16.
    let big = tmp("big-vocab.txt");
    let mut v = String::from("[UNK]\n");
    for i in 0..70_000 {
        v.push_str(&format!("t{i}\n"));
    }
    std::fs::write(&big, v).unwrap();
    let out = run(
        &[
            "encode",
            "--model",
            big.to_str().unwrap(),
            "--format",
            "u16",
        ],
        b"hi",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("65,536"), "{}", stderr(&out));
    let help = run(&["--help"], b"");
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("Examples:"));
}

#[test]
fn closed_stdout_ends_quietly_with_0() {
    // `tokstream encode big | head -c 10`: read a little, close the pipe, expect exit 0.
    let mut child = bin()
        .args([
            "encode",
            &data("en"),
            &data("zh"),
            &data("ja"),
            &data("code"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut so = child.stdout.take().unwrap();
    let mut buf = [0u8; 10];
    so.read_exact(&mut buf).unwrap();
    drop(so);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

/// Peak resident memory of a child fed `total` bytes of `pattern` on stdin, in KiB.
fn peak_rss_kib(args: &[&str], pattern: &[u8], total: usize) -> u64 {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut si = child.stdin.take().unwrap();
    let block: Vec<u8> = pattern.iter().copied().cycle().take(1 << 20).collect();
    let feeder = std::thread::spawn(move || {
        let mut left = total;
        while left > 0 {
            let n = left.min(block.len());
            si.write_all(&block[..n]).unwrap();
            left -= n;
        }
        // The kernel's peak (VmHWM) just before closing stdin covers the whole run.
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
    assert!(out.status.success(), "{}", stderr(&out));
    peak
}

#[test]
fn a_gigabyte_without_whitespace_runs_in_bounded_memory() {
    const GIB: usize = 1 << 30;
    // One giant word: encode gives one [UNK]; split streams the piece's bytes.
    let encode = peak_rss_kib(&["encode", "--format", "none"], b"abcdefghij", GIB);
    let split = peak_rss_kib(&["split"], "ｘ한국".as_bytes(), GIB / 4);
    for (what, kib) in [("encode", encode), ("split", split)] {
        assert!(
            kib < 64 * 1024,
            "{what}: peak RSS {kib} KiB for a giant word"
        );
    }
}

#[test]
fn version_names_the_simd_level_and_tokstream_simd_forces_one() {
    let out = bin().arg("--version").output().unwrap();
    let v = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && v.contains("SIMD: "), "{v}");
    let out = bin()
        .arg("--version")
        .env("TOKSTREAM_SIMD", "scalar")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("SIMD: scalar"));
    // A forced level gives the same ids as the detected one.
    let forced = bin()
        .args(["encode", &data("hard_cases")])
        .env("TOKSTREAM_SIMD", "reference")
        .output()
        .unwrap();
    let detected = bin()
        .args(["encode", &data("hard_cases")])
        .output()
        .unwrap();
    assert!(forced.status.success() && forced.stdout == detected.stdout);
}
