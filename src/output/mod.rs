//! Output writers: what `split` and `encode` print, in each `--format`.
//!
//! Every writer streams: nothing is held per line or per piece beyond a few bytes, so a 50 GB
//! line with millions of pieces (or one giant piece) is written in bounded memory.

mod json;
mod pieces;
mod tokens;

use std::fmt;
use std::str::FromStr;

pub use pieces::PieceWriter;
pub use tokens::TokenWriter;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One output line per input line; pieces (or ids) separated by one space.
    Text,
    /// One JSON object per input line, with absolute byte offsets.
    Jsonl,
    /// Raw little-endian u32 ids (encode only).
    U32,
    /// Raw little-endian u16 ids (encode only; vocabularies of at most 65,536 tokens).
    U16,
    /// Nothing: count only (with `--stats`).
    None,
}

impl Format {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Jsonl => "jsonl",
            Format::U32 => "u32",
            Format::U16 => "u16",
            Format::None => "none",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            Format::Text,
            Format::Jsonl,
            Format::U32,
            Format::U16,
            Format::None,
        ]
        .into_iter()
        .find(|f| f.name() == s)
        .ok_or_else(|| format!("unknown format '{s}' (known: text, jsonl, u32, u16, none)"))
    }
}
