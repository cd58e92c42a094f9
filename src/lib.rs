//! # tokstream
//!
//! A streaming tokenizer front end: it cuts text into pre-token pieces (words, punctuation,
//! CJK characters) and subword token ids, exactly as the reference programs do (Hugging Face
//! `tokenizers` for BERT WordPiece), on streams of any size in bounded memory.
//!
//! ## Example
//!
//! ```
//! use tokstream::pipeline::encode_bytes;
//! use tokstream::subword::{Model, WordPiece};
//!
//! let model = Model::WordPiece(WordPiece::bert_base_uncased()); // embedded, nothing to fetch
//! let tokens = encode_bytes(&model, "Debugging tokenizers".as_bytes())?;
//! let pieces: Vec<&[u8]> = tokens.iter().map(|t| model.token_bytes(t.id).unwrap()).collect();
//! assert_eq!(pieces, [&b"de"[..], b"##bu", b"##gging", b"token", b"##izer", b"##s"]);
//! # Ok::<(), tokstream::Error>(())
//! ```
//!
//! ## Pipeline
//!
//! ```text
//! Read (stdin | files | &[u8])
//!   → pipeline::ChunkReader   fixed-size chunks cut after the last whitespace byte
//!   → rules::BertSplitter     normalize + pre-tokenize per character, resumable across cuts
//!   → pipeline::EncodeSink    subword::WordPiece per piece, offsets mapped to the original
//!   → output::{PieceWriter, TokenWriter}   text | jsonl | u32 | u16 | none
//!   → stats::Stats            bytes, lines, pieces, tokens, [UNK], replaced, seconds
//! ```
//!
//! Offsets are always byte offsets (`u64`) into the original stream. Output never depends on
//! the chunk size.
//!
//! ## Invalid UTF-8
//!
//! By default each maximal invalid sequence is replaced by U+FFFD exactly as
//! `String::from_utf8_lossy` does, and counted ([`Stats::replaced`]); BERT's clean_text then
//! deletes it. With `strict_utf8` the first one is an error carrying its byte offset.
//!
//! ## Safety
//!
//! The crate denies `unsafe` code; vectorized scanners will confine it to `scan/`'s
//! per-architecture modules, each block with a `// SAFETY:` comment.

#![deny(missing_docs)]

pub mod cli;
pub mod error;
pub mod output;
pub mod pipeline;
pub mod rules;
pub mod scan;
pub mod stats;
pub mod subword;
pub mod unicode;

pub use error::{Error, ErrorKind, Result};
pub use stats::Stats;
