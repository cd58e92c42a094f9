//! Subword models: turn one pre-token piece into token ids.

pub mod bpe;
pub mod keymap;
mod pairs;
pub mod vocab;
pub mod wordpiece;

pub use bpe::{Bpe, BpeCache};
pub use vocab::Vocab;
pub use wordpiece::{WordCache, WordPiece, WordPieceConfig};

use crate::pipeline::{Token, TokenSink};
use crate::rules::{
    AsciiBatch, BertConfig, BertSplitter, GptConfig, GptSplitter, Piece, PieceRun, Splitter,
};
use crate::stats::Stats;
use wordpiece::SubToken;

/// Per-worker scratch space of [`Model::encode_piece`]: reused buffers and bounded caches.
#[derive(Default)]
pub struct EncodeScratch {
    subs: Vec<SubToken>,
    /// A run of tokens on its way to the sink.
    run: Vec<Token>,
    words: WordCache,
    pieces: BpeCache,
}

/// Any subword model, with the rules engine it expects in front of it.
#[derive(Clone, Debug)]
pub enum Model {
    /// BERT-style WordPiece.
    WordPiece(WordPiece),
    /// Byte-level BPE (tiktoken ranks, GPT-2 encoder.json) behind a GPT pattern.
    Bpe(Bpe),
}

impl Model {
    /// A Hugging Face `tokenizer.json`: byte-level BPE ([`Bpe::from_tokenizer_json`]) or
    /// WordPiece ([`WordPiece::from_tokenizer_json`]) by its `model.type`. Errors name the file.
    pub fn from_tokenizer_json_path(path: &std::path::Path) -> crate::Result<Model> {
        let data = std::fs::read(path).map_err(|e| crate::Error::from(e).with_path(path))?;
        let j: serde_json::Value = serde_json::from_slice(&data)
            .map_err(|e| crate::Error::bad_model(path, format!("invalid JSON: {e}")))?;
        let res = match j.pointer("/model/type").and_then(|t| t.as_str()) {
            Some("BPE") => {
                let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("bpe");
                Bpe::from_tokenizer_json(&j, name).map(Model::Bpe)
            }
            _ => WordPiece::from_tokenizer_json(&data).map(Model::WordPiece),
        };
        res.map_err(|m| crate::Error::bad_model(path, m))
    }

    /// Number of ids (the largest id + 1).
    pub fn vocab_size(&self) -> usize {
        match self {
            Model::WordPiece(w) => w.vocab().len(),
            Model::Bpe(b) => b.vocab().len(),
        }
    }

    /// The bytes of token `id`.
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        match self {
            Model::WordPiece(w) => w.vocab().token(id),
            Model::Bpe(b) => b.vocab().token(id),
        }
    }

    /// A fresh rules engine producing the pieces this model encodes.
    pub fn splitter(&self, strict_utf8: bool) -> Splitter {
        match self {
            Model::WordPiece(w) => Splitter::Bert(BertSplitter::new(BertConfig {
                norm_cap: w.config().max_input_chars_per_word,
                strict_utf8,
                ..w.normalizer()
            })),
            // Long pieces reach BPE in parts of at most about 1 MiB (see rules::gpt).
            Model::Bpe(b) => Splitter::Gpt(GptSplitter::new(GptConfig {
                strict_utf8,
                split_long: true,
                ..GptConfig::new(b.pattern())
            })),
        }
    }

    /// Encode a batch of ASCII pieces from the vector scanner: same result as
    /// [`Model::encode_piece`] on each.
    #[inline]
    pub fn encode_ascii_batch<T: TokenSink + ?Sized>(
        &self,
        batch: &AsciiBatch<'_>,
        scratch: &mut EncodeScratch,
        out: &mut T,
        stats: &mut Stats,
    ) -> crate::Result<()> {
        match self {
            Model::WordPiece(w) => w.encode_ascii_batch(
                batch,
                &mut scratch.words,
                &mut scratch.subs,
                &mut scratch.run,
                out,
                stats,
            ),
            #[allow(unreachable_patterns)]
            _ => {
                let mut buf = Vec::with_capacity(crate::rules::ASCII_BUF);
                for k in 0..batch.len() {
                    if batch.is_line_end(k) {
                        out.line_end()?;
                    } else {
                        self.encode_piece(&batch.piece(k, &mut buf), scratch, out, stats)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// [`Model::encode_piece`] for BPE.
    #[inline(always)]
    fn encode_bpe_piece<T: TokenSink + ?Sized>(
        b: &Bpe,
        p: &Piece<'_>,
        scratch: &mut EncodeScratch,
        out: &mut T,
        stats: &mut Stats,
    ) -> crate::Result<()> {
        // Offsets from the token bytes: BPE tokens partition the piece's raw bytes.
        let mut at = p.start;
        let mut n = 0u64;
        let res = b.encode_each_cached(p.raw, &mut scratch.pieces, |id, len| {
            n += 1;
            let start = at;
            at += u64::from(len);
            out.token(Token { id, start, end: at })
        });
        stats.tokens += n;
        res
    }

    /// Encode the pieces of one window of the GPT finder with BPE: the same tokens and line
    /// ends as [`Model::encode_piece`] on each piece, handed to `out` as one token run per
    /// line (no call per piece or per token).
    #[inline]
    pub(crate) fn encode_bpe_run<T: TokenSink + ?Sized>(
        b: &Bpe,
        run: &PieceRun<'_>,
        scratch: &mut EncodeScratch,
        out: &mut T,
        stats: &mut Stats,
    ) -> crate::Result<()> {
        let tokens = &mut scratch.run;
        tokens.clear();
        stats.pieces += run.len() as u64;
        stats.tokens += if out.needs_line_ends() {
            b.encode_run::<true, _>(run, &mut scratch.pieces, tokens, |tokens| {
                if !tokens.is_empty() {
                    out.tokens(tokens)?;
                    tokens.clear();
                }
                out.line_end()
            })?
        } else {
            b.encode_run::<false, _>(run, &mut scratch.pieces, tokens, |tokens| {
                out.tokens(tokens)?;
                tokens.clear();
                Ok::<(), crate::Error>(())
            })?
        };
        if !tokens.is_empty() {
            out.tokens(tokens)?;
        }
        Ok(())
    }

    /// Encode one piece: its tokens (absolute offsets) go to `out`, counts to `stats`.
    /// `scratch` is reused between calls (one per worker).
    #[inline]
    pub fn encode_piece<T: TokenSink + ?Sized>(
        &self,
        p: &Piece<'_>,
        scratch: &mut EncodeScratch,
        out: &mut T,
        stats: &mut Stats,
    ) -> crate::Result<()> {
        stats.pieces += 1;
        match self {
            Model::Bpe(b) => Self::encode_bpe_piece(b, p, scratch, out, stats),
            Model::WordPiece(w) => {
                let subs = &mut scratch.subs;
                subs.clear();
                let ok = w.encode_word_cached(p.normalized, p.chars, &mut scratch.words, subs);
                stats.tokens += subs.len() as u64;
                if !ok {
                    stats.unk += 1;
                    return out.token(Token {
                        id: w.unk_id(),
                        start: p.start,
                        end: p.end,
                    });
                }
                if p.align.is_empty() {
                    // Identity alignment: normalized byte i is original byte start + i.
                    for t in subs.iter() {
                        let (start, end) = (p.start + t.start as u64, p.start + t.end as u64);
                        out.token(Token {
                            id: t.id,
                            start,
                            end,
                        })?;
                    }
                } else {
                    for t in subs.iter() {
                        // Map normalized bytes back to the original characters they came from.
                        let start = p.align[t.start].0;
                        let end = p.align[t.end - 1].1;
                        out.token(Token {
                            id: t.id,
                            start,
                            end,
                        })?;
                    }
                }
                Ok(())
            }
        }
    }
}
