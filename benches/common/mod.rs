//! Corpora for the benchmarks: real text from the shared corpus when `TOKSTREAM_CORPUS` points
//! at it (the first `TOKSTREAM_BENCH_BYTES`, default 8 MiB, of each file), otherwise the
//! samples committed in tests/data (~360 KiB each, the same sources).

#![allow(dead_code)]

use std::path::PathBuf;

/// A named benchmark input.
pub struct Corpus {
    pub name: &'static str,
    pub text: Vec<u8>,
}

/// Bench inputs for the given names (en, zh, ja, ko, code, mixed).
pub fn corpora(names: &[&'static str]) -> Vec<Corpus> {
    let limit: usize = std::env::var("TOKSTREAM_BENCH_BYTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8 << 20);
    let dir = std::env::var("TOKSTREAM_CORPUS").ok().map(PathBuf::from);
    names
        .iter()
        .map(|&name| {
            let big = dir.as_ref().map(|d| d.join(format!("{name}.txt")));
            let text = match big.and_then(|p| std::fs::read(p).ok()) {
                Some(mut t) => {
                    // Cut at a line end so no character is split.
                    if t.len() > limit {
                        let cut = t[..limit]
                            .iter()
                            .rposition(|&b| b == b'\n')
                            .unwrap_or(limit);
                        t.truncate(cut + 1);
                    }
                    t
                }
                None => {
                    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                        .join(format!("tests/data/{name}.txt"));
                    std::fs::read(p).expect("tests/data sample")
                }
            };
            Corpus { name, text }
        })
        .collect()
}
