//! Generator for `src/unicode/bert_tables.rs`.
//!
//! Enumerates every `char` in `0..=0x10FFFF` and asks the exact crates that
//! Hugging Face `tokenizers` uses (`unicode_categories` 0.1.1 and
//! `unicode-normalization-alignments` 0.1.12) for the answers, then writes
//! compact sorted tables that `tokstream::unicode` searches at run time.
//!
//! Usage (from the repository root):
//!
//! ```text
//! CARGO_TARGET_DIR=/tmp/gen-unicode-target cargo run --release \
//!     --manifest-path scripts/gen-unicode-tables/Cargo.toml [-- --check] [OUTPUT]
//! ```
//!
//! Without `--check` the output file is (re)written. With `--check` nothing is
//! written; the program exits non-zero when the file on disk differs from what
//! would be generated. `OUTPUT` defaults to `src/unicode/bert_tables.rs` of the
//! repository containing this generator.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::UnicodeNormalization;
use unicode_normalization_alignments::char::canonical_combining_class;

/// Log2 of the block size used by the first-level bitmaps.
const BLOCK_SHIFT: u32 = 8;
/// Number of blocks covering `0..=0x10FFFF`.
const NUM_BLOCKS: usize = (0x11_0000 >> BLOCK_SHIFT) as usize;
/// Number of `u64` words in one block bitmap.
const BITMAP_WORDS: usize = NUM_BLOCKS.div_ceil(64);

const HANGUL_FIRST: u32 = 0xAC00;
const HANGUL_LAST: u32 = 0xD7A3;

fn all_chars() -> impl Iterator<Item = char> {
    (0u32..=0x10_FFFF).filter_map(char::from_u32)
}

/// NFD of a single char exactly as HF computes it (`str::nfd` of the
/// alignments crate, dropping the alignment deltas).
fn nfd(c: char) -> Vec<char> {
    c.to_string().nfd().map(|(ch, _)| ch).collect()
}

/// Turns a sorted set of code points into inclusive ranges. Surrogates are
/// not chars; a range may be merged across the surrogate gap so that the
/// table stays compact (`char` lookups can never hit a surrogate).
fn to_ranges(cps: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &cp in cps {
        match out.last_mut() {
            Some((_, hi)) if *hi + 1 == cp || (*hi == 0xD7FF && cp == 0xE000) => *hi = cp,
            _ => out.push((cp, cp)),
        }
    }
    out
}

fn block_bitmap_of_ranges(ranges: &[(u32, u32)]) -> [u64; BITMAP_WORDS] {
    let mut bm = [0u64; BITMAP_WORDS];
    for &(lo, hi) in ranges {
        for b in (lo >> BLOCK_SHIFT)..=(hi >> BLOCK_SHIFT) {
            bm[b as usize / 64] |= 1 << (b % 64);
        }
    }
    bm
}

fn hangul_jamo(s: u32) -> Vec<char> {
    const L_BASE: u32 = 0x1100;
    const V_BASE: u32 = 0x1161;
    const T_BASE: u32 = 0x11A7;
    const T_COUNT: u32 = 28;
    const N_COUNT: u32 = 21 * T_COUNT;
    let idx = s - HANGUL_FIRST;
    let mut v = vec![
        char::from_u32(L_BASE + idx / N_COUNT).unwrap(),
        char::from_u32(V_BASE + (idx % N_COUNT) / T_COUNT).unwrap(),
    ];
    if !idx.is_multiple_of(T_COUNT) {
        v.push(char::from_u32(T_BASE + idx % T_COUNT).unwrap());
    }
    v
}

fn escape_char(c: char) -> String {
    if c.is_ascii_alphanumeric() || c == ' ' {
        c.to_string()
    } else {
        format!("\\u{{{:X}}}", c as u32)
    }
}

fn write_ranges(out: &mut String, name: &str, doc: &str, ranges: &[(u32, u32)]) {
    for line in doc.lines() {
        writeln!(out, "///{}{line}", if line.is_empty() { "" } else { " " }).unwrap();
    }
    writeln!(out, "///").unwrap();
    writeln!(out, "/// {} ranges.", ranges.len()).unwrap();
    writeln!(out, "#[rustfmt::skip]").unwrap();
    writeln!(out, "pub static {name}: &[(u32, u32)] = &[").unwrap();
    for chunk in ranges.chunks(5) {
        let items: Vec<String> = chunk
            .iter()
            .map(|&(lo, hi)| format!("(0x{lo:05X}, 0x{hi:05X})"))
            .collect();
        writeln!(out, "    {},", items.join(", ")).unwrap();
    }
    writeln!(out, "];\n").unwrap();
}

fn write_bitmap(out: &mut String, name: &str, table: &str, bm: &[u64; BITMAP_WORDS]) {
    writeln!(
        out,
        "/// First-level filter for [`{table}`]: bit `b` (word `b / 64`, bit `b % 64`)\n\
         /// is set iff block `b` (code points `b << BLOCK_SHIFT ..` of size\n\
         /// `1 << BLOCK_SHIFT`) intersects the table."
    )
    .unwrap();
    writeln!(out, "#[rustfmt::skip]").unwrap();
    writeln!(out, "pub static {name}: [u64; BITMAP_WORDS] = [").unwrap();
    for chunk in bm.chunks(4) {
        let items: Vec<String> = chunk.iter().map(|w| format!("0x{w:016X}")).collect();
        writeln!(out, "    {},", items.join(", ")).unwrap();
    }
    writeln!(out, "];\n").unwrap();
}

struct Tables {
    control: Vec<(u32, u32)>,
    punct: Vec<(u32, u32)>,
    mn: Vec<(u32, u32)>,
    /// (char, replacement) for every non-Mn, non-Hangul char whose NFD
    /// minus Mn differs from itself.
    strip: Vec<(u32, String)>,
    /// (char, ccc) for every non-Mn char with non-zero canonical combining class.
    non_mn_ccc: Vec<(u32, u8)>,
}

fn compute() -> Tables {
    let mut control = Vec::new();
    let mut punct = Vec::new();
    let mut mn = Vec::new();
    let mut strip = Vec::new();
    let mut non_mn_ccc = Vec::new();

    for c in all_chars() {
        let cp = c as u32;
        // HF `is_control` minus the \t \n \r exception (the caller does that).
        if c.is_other() {
            control.push(cp);
        }
        // HF `is_bert_punc` = is_ascii_punctuation || is_punctuation; the
        // ASCII part is handled in code, the table is for c >= 0x80 only.
        if cp >= 0x80 && c.is_punctuation() {
            punct.push(cp);
        }
        let is_mn = c.is_mark_nonspacing();
        if is_mn {
            mn.push(cp);
        }
        let ccc = canonical_combining_class(c);
        if !is_mn && ccc != 0 {
            non_mn_ccc.push((cp, ccc));
        }

        let decomposed = nfd(c);
        if (HANGUL_FIRST..=HANGUL_LAST).contains(&cp) {
            // Handled algorithmically at run time: verify the algorithm and
            // that no jamo is Mn (so nothing would be stripped) or reorders.
            let jamo = hangul_jamo(cp);
            assert_eq!(decomposed, jamo, "Hangul NFD mismatch for U+{cp:04X}");
            for j in jamo {
                assert!(!j.is_mark_nonspacing(), "jamo U+{:04X} is Mn", j as u32);
                assert_eq!(canonical_combining_class(j), 0, "jamo ccc");
            }
            assert!(!is_mn);
            continue;
        }
        if is_mn {
            // Mn chars always map to nothing? Verify: NFD(Mn) minus Mn is empty.
            let rest: Vec<char> = decomposed
                .iter()
                .copied()
                .filter(|d| !d.is_mark_nonspacing())
                .collect();
            assert!(
                rest.is_empty(),
                "Mn char U+{cp:04X} leaves {rest:?} after stripping"
            );
            continue;
        }
        let stripped: String = decomposed
            .iter()
            .copied()
            .filter(|d| !d.is_mark_nonspacing())
            .collect();
        if stripped != c.to_string() {
            strip.push((cp, stripped));
        }
    }

    // ASCII never decomposes (the run-time fast path relies on it).
    assert!(strip.iter().all(|&(cp, _)| cp >= 0x80));
    assert!(mn.iter().all(|&cp| cp >= 0x80));

    Tables {
        control: to_ranges(&control),
        punct: to_ranges(&punct),
        mn: to_ranges(&mn),
        strip,
        non_mn_ccc,
    }
}

/// Builds a deduplicated pool: longer replacements first, shorter ones reuse
/// any existing occurrence.
fn build_pool(strip: &[(u32, String)]) -> (String, Vec<(u32, u16, u8)>) {
    let mut uniq: Vec<&str> = strip.iter().map(|(_, s)| s.as_str()).collect();
    uniq.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    uniq.dedup();
    let mut pool = String::new();
    for s in uniq {
        if !pool.contains(s) {
            pool.push_str(s);
        }
    }
    let entries = strip
        .iter()
        .map(|(cp, s)| {
            let start = if s.is_empty() {
                0
            } else {
                pool.find(s.as_str()).unwrap()
            };
            let start = u16::try_from(start).expect("pool exceeds u16 offsets");
            let len = u8::try_from(s.len()).expect("replacement exceeds 255 bytes");
            (*cp, start, len)
        })
        .collect();
    (pool, entries)
}

fn render(t: &Tables) -> String {
    let (pool, entries) = build_pool(&t.strip);
    let (uv0, uv1, uv2) = unicode_normalization_alignments::UNICODE_VERSION;

    let mut out = String::new();
    write!(
        out,
        "\
// @generated by scripts/gen-unicode-tables -- DO NOT EDIT BY HAND.
//
// Regenerate from the repository root with:
//     CARGO_TARGET_DIR=/tmp/gen-unicode-target cargo run --release \\
//         --manifest-path scripts/gen-unicode-tables/Cargo.toml
// (append `-- --check` to verify this file is up to date instead).
//
// Source crates, pinned to the versions Hugging Face `tokenizers` uses:
//   unicode_categories 0.1.1 (UnicodeCategories::{{is_other, is_punctuation,
//       is_mark_nonspacing}}; Unicode 8.0 data)
//   unicode-normalization-alignments 0.1.12 (NFD, canonical_combining_class;
//       UNICODE_VERSION = {uv0}.{uv1}.{uv2})

//! Generated Unicode tables reproducing Hugging Face `tokenizers`' BERT
//! normalizer / pre-tokenizer character classes.
//!
//! All range tables are sorted, non-overlapping, inclusive `(first, last)`
//! code point pairs (a range may span the surrogate gap, which no `char` can
//! hit). Each has a `*_BLOCKS` bitmap used as a first-level filter.

/// Log2 of the block size of the `*_BLOCKS` first-level bitmaps.
pub const BLOCK_SHIFT: u32 = {BLOCK_SHIFT};

/// Number of `u64` words in each `*_BLOCKS` bitmap (covers `0..=0x10FFFF`).
pub const BITMAP_WORDS: usize = {BITMAP_WORDS};

"
    )
    .unwrap();

    write_ranges(
        &mut out,
        "BERT_CONTROL",
        "Chars for which `unicode_categories::UnicodeCategories::is_other` is true\n\
         (Cc | Cf | Co). Includes `\\t`, `\\n`, `\\r`: HF's `is_control` excludes\n\
         those in code, and so does `is_bert_control`.",
        &t.control,
    );
    write_bitmap(
        &mut out,
        "BERT_CONTROL_BLOCKS",
        "BERT_CONTROL",
        &block_bitmap_of_ranges(&t.control),
    );
    write_ranges(
        &mut out,
        "BERT_PUNCT_NON_ASCII",
        "Chars `>= U+0080` for which `unicode_categories::UnicodeCategories::is_punctuation`\n\
         is true (Pc | Pd | Pe | Pf | Pi | Po | Ps). ASCII is handled by\n\
         `char::is_ascii_punctuation`, as in HF's `is_bert_punc`.",
        &t.punct,
    );
    write_bitmap(
        &mut out,
        "BERT_PUNCT_NON_ASCII_BLOCKS",
        "BERT_PUNCT_NON_ASCII",
        &block_bitmap_of_ranges(&t.punct),
    );
    write_ranges(
        &mut out,
        "MARK_NONSPACING",
        "Chars for which `unicode_categories::UnicodeCategories::is_mark_nonspacing`\n\
         is true (Mn). None is ASCII.",
        &t.mn,
    );
    write_bitmap(
        &mut out,
        "MARK_NONSPACING_BLOCKS",
        "MARK_NONSPACING",
        &block_bitmap_of_ranges(&t.mn),
    );

    // Accent stripping table.
    writeln!(
        out,
        "/// Accent stripping: `(c, start, len)` for every char `c` that is not Mn,\n\
         /// not a Hangul syllable (U+AC00..=U+D7A3, decomposed algorithmically) and\n\
         /// whose NFD (unicode-normalization-alignments) with all Mn chars removed\n\
         /// differs from `c`. The replacement is\n\
         /// `STRIP_ACCENTS_POOL[start as usize..start as usize + len as usize]`\n\
         /// (byte offsets; `len` may be 0). Sorted by `c`. None is ASCII.\n\
         ///\n\
         /// {} entries.",
        entries.len()
    )
    .unwrap();
    writeln!(out, "#[rustfmt::skip]").unwrap();
    writeln!(out, "pub static STRIP_ACCENTS: &[(u32, u16, u8)] = &[").unwrap();
    for chunk in entries.chunks(4) {
        let items: Vec<String> = chunk
            .iter()
            .map(|&(cp, s, l)| format!("(0x{cp:05X}, {s:4}, {l})"))
            .collect();
        writeln!(out, "    {},", items.join(", ")).unwrap();
    }
    writeln!(out, "];\n").unwrap();
    let strip_bm = {
        let mut bm = [0u64; BITMAP_WORDS];
        for &(cp, _, _) in &entries {
            let b = cp >> BLOCK_SHIFT;
            bm[b as usize / 64] |= 1 << (b % 64);
        }
        bm
    };
    write_bitmap(&mut out, "STRIP_ACCENTS_BLOCKS", "STRIP_ACCENTS", &strip_bm);

    writeln!(
        out,
        "/// Replacement text pool for [`STRIP_ACCENTS`] ({} bytes, {} chars).",
        pool.len(),
        pool.chars().count()
    )
    .unwrap();
    writeln!(out, "#[rustfmt::skip]").unwrap();
    writeln!(out, "pub static STRIP_ACCENTS_POOL: &str = concat!(").unwrap();
    let chars: Vec<char> = pool.chars().collect();
    for chunk in chars.chunks(12) {
        let s: String = chunk.iter().map(|&c| escape_char(c)).collect();
        writeln!(out, "    \"{s}\",").unwrap();
    }
    writeln!(out, ");\n").unwrap();

    writeln!(
        out,
        "/// `(c, ccc)` for every char that is NOT Mn but has a non-zero canonical\n\
         /// combining class (unicode-normalization-alignments). Whole-string NFD may\n\
         /// reorder such chars relative to each other (stable sort by ccc within a\n\
         /// run of non-starters), which a per-char `strip_accents` cannot see.\n\
         ///\n\
         /// {} entries.",
        t.non_mn_ccc.len()
    )
    .unwrap();
    writeln!(out, "#[rustfmt::skip]").unwrap();
    writeln!(out, "pub static NON_MN_NONZERO_CCC: &[(u32, u8)] = &[").unwrap();
    for chunk in t.non_mn_ccc.chunks(6) {
        let items: Vec<String> = chunk
            .iter()
            .map(|&(cp, ccc)| format!("(0x{cp:05X}, {ccc})"))
            .collect();
        writeln!(out, "    {},", items.join(", ")).unwrap();
    }
    writeln!(out, "];").unwrap();
    out
}

fn main() -> ExitCode {
    let mut check = false;
    let mut output: Option<PathBuf> = None;
    for arg in std::env::args().skip(1) {
        if arg == "--check" {
            check = true;
        } else if output.is_none() && !arg.starts_with('-') {
            output = Some(PathBuf::from(arg));
        } else {
            eprintln!("usage: gen-unicode-tables [--check] [OUTPUT]");
            return ExitCode::from(2);
        }
    }
    let output = output.unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../src/unicode/bert_tables.rs")
    });
    let output = match output.parent().map(std::fs::canonicalize) {
        Some(Ok(dir)) => dir.join(output.file_name().unwrap_or_default()),
        _ => output,
    };

    let tables = compute();
    let text = render(&tables);

    eprintln!(
        "BERT_CONTROL: {} ranges; BERT_PUNCT_NON_ASCII: {} ranges; MARK_NONSPACING: {} ranges; \
         STRIP_ACCENTS: {} entries; NON_MN_NONZERO_CCC: {} entries",
        tables.control.len(),
        tables.punct.len(),
        tables.mn.len(),
        tables.strip.len(),
        tables.non_mn_ccc.len()
    );

    if check {
        match std::fs::read_to_string(&output) {
            Ok(existing) if existing == text => {
                eprintln!("{} is up to date", output.display());
                ExitCode::SUCCESS
            }
            Ok(_) => {
                eprintln!("{} is OUT OF DATE; rerun without --check", output.display());
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("cannot read {}: {e}", output.display());
                ExitCode::FAILURE
            }
        }
    } else {
        if let Err(e) = std::fs::write(&output, text) {
            eprintln!("cannot write {}: {e}", output.display());
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {}", output.display());
        ExitCode::SUCCESS
    }
}
