//! Shared helpers: the golden corpus, golden files, and first-difference reports.

use std::fmt::Debug;
use std::path::PathBuf;

use tokstream::output::{Format, PieceWriter};
use tokstream::pipeline::{self, StreamOptions, Token};
use tokstream::rules::{Piece, PieceSink, RuleSet};
use tokstream::scan::{Level, Scanner};
use tokstream::subword::{Model, WordPiece};

/// The golden corpus: real text samples plus the hand-picked hard cases.
pub const CORPUS: &[&str] = &["en", "zh", "ja", "ko", "code", "mixed", "hard_cases"];

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

pub fn text(name: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(format!("{name}.txt"))).unwrap()
}

/// Records of a golden file: whitespace-separated unsigned integers per line.
pub fn golden(rel: &str) -> Vec<Vec<u64>> {
    let path = data_dir().join("golden").join(rel);
    let s = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    s.lines()
        .map(|l| l.split('\t').map(|f| f.parse().unwrap()).collect())
        .collect()
}

pub fn golden_tokens(name: &str) -> Vec<Token> {
    golden(&format!("bert-base-uncased/{name}.tokens"))
        .into_iter()
        .map(|r| Token {
            id: r[0] as u32,
            start: r[1],
            end: r[2],
        })
        .collect()
}

pub fn golden_pieces(rules: RuleSet, name: &str) -> Vec<(u64, u64)> {
    golden(&format!("{}/{name}.pieces", rules.name()))
        .into_iter()
        .map(|r| (r[0], r[1]))
        .collect()
}

/// Collects piece offsets, checking on the way that raw bytes equal `input[start..end]`.
pub struct PieceCollector<'a> {
    pub input: &'a [u8],
    pub pieces: Vec<(u64, u64)>,
    fragment: Vec<u8>,
}

impl<'a> PieceCollector<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        PieceCollector {
            input,
            pieces: Vec::new(),
            fragment: Vec::new(),
        }
    }
}

impl PieceSink for PieceCollector<'_> {
    fn raw_fragment(&mut self, _start: u64, bytes: &[u8]) -> tokstream::Result<()> {
        self.fragment.extend_from_slice(bytes);
        Ok(())
    }

    fn piece(&mut self, p: &Piece<'_>) -> tokstream::Result<()> {
        self.fragment.extend_from_slice(p.raw);
        let want = &self.input[p.start as usize..p.end as usize];
        assert!(
            self.fragment == want,
            "raw bytes of piece {}..{} differ from the input",
            p.start,
            p.end
        );
        self.fragment.clear();
        self.pieces.push((p.start, p.end));
        Ok(())
    }
}

pub fn model() -> &'static Model {
    static MODEL: std::sync::OnceLock<Model> = std::sync::OnceLock::new();
    MODEL.get_or_init(|| Model::WordPiece(WordPiece::bert_base_uncased()))
}

pub fn encode(input: &[u8], chunk_size: usize) -> Vec<Token> {
    encode_with(input, chunk_size, None)
}

/// Encode with a forced scanner level (`None`: the detected one).
pub fn encode_with(input: &[u8], chunk_size: usize, scanner: Option<Scanner>) -> Vec<Token> {
    let mut out = Vec::new();
    let opts = StreamOptions {
        chunk_size,
        strict_utf8: false,
        scanner,
    };
    pipeline::encode_stream(input, model(), &opts, &mut out).unwrap();
    out
}

pub fn split(input: &[u8], rules: RuleSet, chunk_size: usize) -> Vec<(u64, u64)> {
    split_with(input, rules, chunk_size, None)
}

/// Split with a forced scanner level (`None`: the detected one).
pub fn split_with(
    input: &[u8],
    rules: RuleSet,
    chunk_size: usize,
    scanner: Option<Scanner>,
) -> Vec<(u64, u64)> {
    let mut c = PieceCollector::new(input);
    let mut splitter = tokstream::rules::Splitter::for_split(rules, false);
    if let Some(s) = scanner {
        splitter = splitter.with_scanner(s);
    }
    pipeline::run_rules(input, splitter, chunk_size, &mut c).unwrap();
    c.pieces
}

/// The jsonl output of `split` (raw text and offsets), as the CLI writes it.
pub fn split_jsonl(input: &[u8], rules: RuleSet, chunk_size: usize) -> Vec<u8> {
    let mut w = PieceWriter::new(Vec::new(), Format::Jsonl).unwrap();
    let opts = StreamOptions {
        chunk_size,
        ..Default::default()
    };
    pipeline::split_stream(input, rules, &opts, &mut w).unwrap();
    w.finish().unwrap()
}

/// Show `input` around byte `at`, escaped.
pub fn context(input: &[u8], at: u64) -> String {
    let at = (at as usize).min(input.len());
    let a = at.saturating_sub(60);
    let b = (at + 60).min(input.len());
    format!(
        "{:?} >>>HERE>>> {:?}",
        String::from_utf8_lossy(&input[a..at]),
        String::from_utf8_lossy(&input[at..b])
    )
}

/// Panics with the first difference between two sequences, with neighbours and input context.
pub fn assert_same<T: PartialEq + Debug>(
    label: &str,
    input: &[u8],
    want: &[T],
    got: &[T],
    offset_of: impl Fn(&T) -> u64,
) {
    let first = want.iter().zip(got).position(|(w, g)| w != g);
    let Some(i) = first.or((want.len() != got.len()).then_some(want.len().min(got.len()))) else {
        return;
    };
    let lo = i.saturating_sub(3);
    let at = want.get(i).or(got.get(i)).map(&offset_of).unwrap_or(0);
    panic!(
        "{label}: first difference at record {i} (want {} records, got {})\n  want[{lo}..]: {:?}\n  got [{lo}..]: {:?}\n  input: {}",
        want.len(),
        got.len(),
        &want[lo..(i + 4).min(want.len())],
        &got[lo..(i + 4).min(got.len())],
        context(input, at)
    );
}

/// Every scanner level this CPU runs (all of them equal the reference).
pub fn levels() -> Vec<Scanner> {
    Level::available()
        .into_iter()
        .filter_map(Scanner::with_level)
        .collect()
}
