//! Shared inputs and helpers for the criterion suites.
//!
//! * [`corpora`]: one text per corpus name (used by `benches/bert.rs`).
//! * [`inputs`]: every corpus at three sizes: `tiny` (< 100 B), `small` (~1 KiB) and `large`
//!   (the first `TOKSTREAM_BENCH_BYTES`, default 8 MiB, of `$TOKSTREAM_CORPUS/<name>.txt` when
//!   `TOKSTREAM_CORPUS` is set, else the sample committed in tests/data), each cut at a
//!   character boundary (at a line end when one is close) and placed at a 64-byte aligned
//!   address.
//! * [`misaligned`]: the large inputs again, starting 1 byte past a 64-byte boundary.
//! * [`worst_cases`]: one giant word, all punctuation, a flood of emoji (4-byte characters) and
//!   multi-MB whitespace runs ([`worst_len`] each: 3 MiB, 1.25 MiB in test mode).
//! * [`timing`]: the measurement settings for an input of a given length (short, so that a
//!   whole suite runs in minutes; `cargo test --benches` runs every bench once).
//! * Counting sinks for pieces and tokens.

#![allow(dead_code)]

use std::cell::Cell;
use std::path::PathBuf;
use std::time::Duration;

use criterion::measurement::Measurement;
use criterion::{BenchmarkGroup, SamplingMode};
use tokstream::pipeline::{Token, TokenSink};
use tokstream::rules::{AsciiBatch, Piece, PieceRun, PieceSink};

/// Every corpus, in the order the suites report them.
pub const NAMES: [&str; 6] = ["en", "zh", "ja", "ko", "code", "mixed"];

/// Most bytes of a `tiny` input.
pub const TINY: usize = 96;
/// Most bytes of a `small` input.
pub const SMALL: usize = 1024;

/// A named benchmark input.
pub struct Corpus {
    pub name: &'static str,
    pub text: Vec<u8>,
}

/// The large text of a corpus: the first `TOKSTREAM_BENCH_BYTES` (default 8 MiB) of
/// `$TOKSTREAM_CORPUS/<name>.txt`, cut by [`cut`], or the committed sample in tests/data.
pub fn large_text(name: &str) -> Vec<u8> {
    let limit: usize = std::env::var("TOKSTREAM_BENCH_BYTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8 << 20);
    let big =
        std::env::var_os("TOKSTREAM_CORPUS").map(|d| PathBuf::from(d).join(format!("{name}.txt")));
    match big.and_then(|p| std::fs::read(p).ok()) {
        Some(t) => {
            let n = cut(&t, limit).len();
            let mut t = t;
            t.truncate(n);
            t
        }
        None => {
            let p =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/{name}.txt"));
            std::fs::read(p).expect("tests/data sample")
        }
    }
}

/// Bench inputs for the given names (en, zh, ja, ko, code, mixed): the large text of each.
pub fn corpora(names: &[&'static str]) -> Vec<Corpus> {
    names
        .iter()
        .map(|&name| Corpus {
            name,
            text: large_text(name),
        })
        .collect()
}

/// The longest prefix of `text` of at most `max` bytes that ends at a character boundary:
/// at a line end if one ends in the second half of the allowed length, else at the last
/// character boundary.
pub fn cut(text: &[u8], max: usize) -> &[u8] {
    if text.len() <= max {
        return text;
    }
    if let Some(i) = text[..max].iter().rposition(|&b| b == b'\n')
        && i + 1 >= max / 2
    {
        return &text[..i + 1];
    }
    let mut end = max;
    while end > 0 && (text[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    &text[..end]
}

/// Where the tiny and small inputs of a corpus start in its large text: the first line start
/// at or after the middle whose next kilobyte is typical of the corpus (mostly CJK or Hangul
/// for zh/ja/ko, mostly ASCII for en/code; any for mixed), so that "Korean tiny" is Korean (the
/// corpus files start with English front matter). Falls back to the middle.
fn typical_start(name: &str, text: &[u8]) -> usize {
    let share = |w: &[u8], f: fn(u8) -> bool| {
        w.iter().filter(|&&b| f(b)).count() as f64 / w.len().max(1) as f64
    };
    let want = |w: &[u8]| match name {
        // Lead bytes of U+3000..U+DFFF (CJK, kana, Hangul; not box drawing): 3 bytes each.
        "zh" | "ja" | "ko" => 3.0 * share(w, |b| (0xE3..=0xED).contains(&b)) >= 0.5,
        "en" | "code" => share(w, |b| b >= 0x80) < 0.02,
        _ => true,
    };
    let mid = text.len() / 2;
    let line_starts = std::iter::once(0)
        .chain(memchr::memchr_iter(b'\n', text).map(|i| i + 1))
        .filter(|&i| i < text.len());
    let (after, before): (Vec<usize>, Vec<usize>) = line_starts.partition(|&i| i >= mid);
    after
        .into_iter()
        .chain(before)
        .find(|&i| {
            let w = &text[i..text.len().min(i + SMALL)];
            w.len() >= TINY && w[0] != b'\n' && want(w)
        })
        .unwrap_or(mid)
}

/// Bytes placed at a chosen offset from a 64-byte aligned address (the buffer never moves).
pub struct Placed {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl Placed {
    /// `text` starting `offset` bytes (0..64) after a 64-byte boundary.
    pub fn new(text: &[u8], offset: usize) -> Placed {
        assert!(offset < 64);
        let mut buf = vec![0u8; text.len() + 128];
        let pad = (64 - buf.as_ptr() as usize % 64) % 64;
        let start = pad + offset;
        buf[start..start + text.len()].copy_from_slice(text);
        let p = Placed {
            buf,
            start,
            len: text.len(),
        };
        assert_eq!(p.bytes().as_ptr() as usize % 64, offset);
        p
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    /// Offset of the first byte from the previous 64-byte boundary.
    pub fn offset(&self) -> usize {
        self.bytes().as_ptr() as usize % 64
    }
}

/// One bench input: a corpus at one size (or a worst case), placed in memory.
pub struct Input {
    /// Corpus name (en, zh, ...) or worst-case name.
    pub corpus: &'static str,
    /// `tiny`, `small`, `large` or `worst`.
    pub size: &'static str,
    pub text: Placed,
}

impl Input {
    /// The bench parameter: `en-tiny`, `zh-large`, `ko-large+1` (misaligned), `punct`.
    pub fn id(&self) -> String {
        let off = self.text.offset();
        let base = if self.size == "worst" {
            self.corpus.to_string()
        } else {
            format!("{}-{}", self.corpus, self.size)
        };
        if off == 0 {
            base
        } else {
            format!("{base}+{off}")
        }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        self.text.bytes()
    }
}

/// Every named corpus at the sizes tiny, small and large, 64-byte aligned, in that order per
/// corpus.
pub fn inputs(names: &[&'static str]) -> Vec<Input> {
    let mut out = Vec::new();
    for &name in names {
        let large = large_text(name);
        let at = typical_start(name, &large);
        let tail = &large[at..];
        for (size, text) in [
            ("tiny", cut(tail, TINY)),
            ("small", cut(tail, SMALL)),
            ("large", &large[..]),
        ] {
            assert!(
                !text.is_empty() && std::str::from_utf8(text).is_ok(),
                "{name}-{size}"
            );
            out.push(Input {
                corpus: name,
                size,
                text: Placed::new(text, 0),
            });
        }
    }
    out
}

/// The large inputs among `inputs`, copied to start 1 byte after a 64-byte boundary.
pub fn misaligned(inputs: &[Input]) -> Vec<Input> {
    inputs
        .iter()
        .filter(|i| i.size == "large")
        .map(|i| Input {
            corpus: i.corpus,
            size: i.size,
            text: Placed::new(i.bytes(), 1),
        })
        .collect()
}

/// True when criterion runs each bench once as a test (`cargo test --benches`: no `--bench`
/// argument, or `--test`).
pub fn test_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--test")
}

/// Bytes of each worst-case input: `TOKSTREAM_WORST_BYTES`, default 3 MiB, or 1.25 MiB under
/// `cargo test --benches` (still over the GPT rules' 1 MiB piece limit, so long pieces are
/// cut; BPE on such pieces runs at about 1 MB/s).
pub fn worst_len() -> usize {
    std::env::var("TOKSTREAM_WORST_BYTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if test_mode() { 1_310_720 } else { 3 << 20 })
}

fn cycle(unit: &[u8], n: usize) -> Vec<u8> {
    unit.iter().copied().cycle().take(n).collect()
}

/// The worst cases, each [`worst_len`] bytes (valid UTF-8), 64-byte aligned:
///
/// * `giant-word`: `abcdefghij` repeated, no whitespace (one word of several MB);
/// * `punct`: the 32 ASCII punctuation characters repeated (one piece each for BERT, one
///   giant symbol run for the GPT patterns);
/// * `emoji`: U+1F600..U+1F64F repeated (4-byte characters only);
/// * `spaces`: `a`, half the length in spaces, `b\n`, the rest in alternating space and tab,
///   `c\n` (two multi-MB whitespace runs, the second after a newline).
pub fn worst_cases() -> Vec<Input> {
    let n = worst_len();
    let emoji: Vec<u8> = (0x1F600u32..0x1F650)
        .flat_map(|c| {
            let mut b = [0u8; 4];
            char::from_u32(c).unwrap().encode_utf8(&mut b);
            b
        })
        .collect();
    let mut spaces = b"a".to_vec();
    spaces.extend(cycle(b" ", n / 2));
    spaces.extend_from_slice(b"b\n");
    spaces.extend(cycle(b" \t", n.saturating_sub(spaces.len() + 2)));
    spaces.extend_from_slice(b"c\n");
    let cases: [(&'static str, Vec<u8>); 4] = [
        ("giant-word", cycle(b"abcdefghij", n)),
        ("punct", cycle(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", n)),
        ("emoji", cycle(&emoji, n / 4 * 4)),
        ("spaces", spaces),
    ];
    cases
        .into_iter()
        .map(|(name, text)| {
            assert!(std::str::from_utf8(&text).is_ok(), "{name}");
            Input {
                corpus: name,
                size: "worst",
                text: Placed::new(&text, 0),
            }
        })
        .collect()
}

/// Measurement settings for an input of `len` bytes: flat sampling, 10 samples, 0.2 s of
/// warm-up and 0.5 s of measurement below 64 KiB, 0.3 s and 1.5 s above. Set before each
/// bench of a group (criterion applies group settings to the benches that follow).
pub fn timing<M: Measurement>(g: &mut BenchmarkGroup<'_, M>, len: usize) {
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    if len < 64 << 10 {
        g.warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(500));
    } else {
        g.warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(1500));
    }
}

/// Counts pieces (a batch of ASCII pieces is counted without building each piece).
#[derive(Default)]
pub struct CountPieces(pub u64);

impl PieceSink for CountPieces {
    #[inline]
    fn piece(&mut self, _p: &Piece<'_>) -> tokstream::Result<()> {
        self.0 += 1;
        Ok(())
    }

    #[inline]
    fn ascii_batch(&mut self, batch: &AsciiBatch<'_>) -> tokstream::Result<()> {
        self.0 += (batch.len() - batch.line_ends) as u64;
        Ok(())
    }

    #[inline]
    fn piece_run(&mut self, run: &PieceRun<'_>) -> tokstream::Result<()> {
        self.0 += run.len() as u64;
        Ok(())
    }
}

/// Counts tokens into a shared cell (so the count can be read while an `EncodeSink` owns the
/// counter).
pub struct CountTokens<'a>(pub &'a Cell<u64>);

impl TokenSink for CountTokens<'_> {
    #[inline]
    fn token(&mut self, _t: Token) -> tokstream::Result<()> {
        self.0.set(self.0.get() + 1);
        Ok(())
    }
    #[inline]
    fn tokens(&mut self, ts: &[Token]) -> tokstream::Result<()> {
        self.0.set(self.0.get() + ts.len() as u64);
        Ok(())
    }
}
