//! Byte-level BPE exactly as tiktoken encodes (SPEC.md section 4).
//!
//! tiktoken encodes a piece by (1) emitting its id if the whole piece is a token, else (2)
//! starting from single bytes and repeatedly merging the adjacent pair whose concatenation is
//! the token of lowest rank (the leftmost on ties) until no adjacent pair is a token. Its loop
//! rescans the whole piece per merge (O(n²), the "long inputs" trap of SPEC.md section 5).
//!
//! Here the same merge order comes from a min-heap of `(rank, position)` over a doubly linked
//! list of parts, with stale entries skipped: O(n log n) per piece, identical results (the
//! heap pops the lowest rank and, among equal ranks, the lowest position, i.e. the leftmost;
//! a popped entry is used only if the pair at that position still concatenates to that rank).
//! Short pieces (the common case) use a plain scan over a small array, like tiktoken.
//!
//! "Concatenation is a token" is looked up as a pair table `(left id, right id) → (rank, merged
//! id)` built once from every split of every token into two tokens, so the hot loop hashes two
//! u32s rather than byte strings. The rank of a token is its id (true of every tiktoken file).
//!
//! # Hugging Face `tokenizer.json` (byte-level BPE)
//!
//! Hugging Face's `BPE` model merges the adjacent pair that comes first in its `merges` list
//! (rank = index in the list; leftmost on ties) and only pairs listed there, which is the same
//! loop with a different pair table: `(left, right) → (merge index, id of left + right)`
//! ([`Bpe::from_tokenizer_json`]). It looks the whole piece up first only with
//! `ignore_merges: true`; otherwise a token is emitted whole only if merging its own bytes
//! gives exactly it, so the whole-piece lookup (kept for speed) is restricted at load time to
//! the tokens for which that holds. Vocabulary strings are GPT-2's byte-to-unicode stand-ins
//! (`bytes_to_unicode`), mapped back to bytes with [`byte_decoder`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;

use rustc_hash::FxHashMap;

use crate::error::Error;
use crate::pipeline::Token;
use crate::rules::{GptPattern, PieceRun};
use crate::subword::Vocab;
use crate::subword::keymap::{INLINE, KeyMap, Packed};
use crate::subword::pairs::{NO_MERGE, PairTable};

/// [`Bpe::encode_run`] without line ends hands its tokens over in runs of about this many
/// (3 KiB: the whole `PieceRun` at once left 0.47 L1 misses per input byte instead of 0.28,
/// runs of 1,024 tokens 0.36).
pub const RUN_HAND_OVER: usize = 128;

/// Pieces up to this many bytes are merged by a linear scan; longer ones use the heap.
const SCAN_MAX: usize = 64;

/// A byte-level BPE model: token bytes by id, and how to merge them.
#[derive(Clone, Debug)]
pub struct Bpe {
    name: String,
    pattern: GptPattern,
    vocab: Vocab,
    /// Whole pieces emitted as one token without merging: every token for tiktoken models;
    /// for Hugging Face models the tokens that merging their own bytes gives (all of them with
    /// `ignore_merges`).
    whole: KeyMap,
    /// `(left, right)` → `rank << 32 | id` of their merge, when they merge: one packed `u64`
    /// per slot, half of hashbrown's footprint (see [`PairTable`]).
    pairs: PairTable,
    /// Id of each single byte.
    byte_ids: Box<[u32; 256]>,
    /// Every rank is below 2^25, so [`Bpe::merge_lanes`] can pack rank and lane in an i32.
    lane_keys: bool,
    /// [`Bpe::merge`] of the tokens of bytes `x` and `y` at `x << 8 | y` (512 KiB): a merge
    /// starts from single bytes, so the first round of pair lookups, a third of them or more,
    /// is an array read instead of a probe of the megabytes-large pair table.
    byte_pairs: Box<[u64]>,
}

/// The embedded rank files.
static R50K: &[u8] = include_bytes!("../../models/r50k_base.tiktoken");
static CL100K: &[u8] = include_bytes!("../../models/cl100k_base.tiktoken");
static O200K: &[u8] = include_bytes!("../../models/o200k_base.tiktoken");

impl Bpe {
    /// A built-in model by name: `gpt2` / `r50k_base`, `cl100k_base`, `o200k_base`.
    pub fn builtin(name: &str) -> Option<Bpe> {
        let (data, pattern) = match name {
            "gpt2" | "r50k_base" => (R50K, GptPattern::Gpt2),
            "cl100k_base" => (CL100K, GptPattern::Cl100k),
            "o200k_base" => (O200K, GptPattern::O200k),
            _ => return None,
        };
        let ranks = parse_tiktoken(data).ok()?;
        Bpe::from_ranks(name, pattern, ranks).ok()
    }

    /// A model from a `.tiktoken` file (`base64(token) rank` a line). The pattern is guessed
    /// from the file name (`cl100k`, `o200k`, else gpt2) unless given.
    pub fn from_tiktoken_path(path: &Path, pattern: Option<GptPattern>) -> crate::Result<Bpe> {
        let data = std::fs::read(path).map_err(|e| Error::from(e).with_path(path))?;
        let ranks = parse_tiktoken(&data).map_err(|m| Error::bad_model(path, m))?;
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("bpe");
        let pattern = pattern.unwrap_or(if name.contains("o200k") {
            GptPattern::O200k
        } else if name.contains("cl100k") {
            GptPattern::Cl100k
        } else {
            GptPattern::Gpt2
        });
        Bpe::from_ranks(name, pattern, ranks).map_err(|m| Error::bad_model(path, m))
    }

    /// A GPT-2 model from `encoder.json` (byte-level unicode strings → ids; tiktoken derives
    /// the same ranks from `vocab.bpe`, and they equal these ids for GPT-2).
    pub fn from_encoder_json(path: &Path) -> crate::Result<Bpe> {
        let data = std::fs::read(path).map_err(|e| Error::from(e).with_path(path))?;
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&data)
            .map_err(|e| Error::bad_model(path, format!("not a JSON object: {e}")))?;
        let decoder = byte_decoder();
        let mut ranks = Vec::with_capacity(map.len());
        for (k, v) in &map {
            let id = v
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| Error::bad_model(path, format!("bad id for {k:?}")))?;
            let mut bytes = Vec::with_capacity(k.len());
            for c in k.chars() {
                match decoder.get(&c) {
                    Some(&b) => bytes.push(b),
                    None => {
                        return Err(Error::bad_model(
                            path,
                            format!("{k:?} is not a byte-level token"),
                        ));
                    }
                }
            }
            ranks.push((bytes, id));
        }
        // Special tokens such as <|endoftext|> are not BPE tokens: keep only what is mergeable.
        ranks.retain(|(b, _)| !b.starts_with(b"<|"));
        Bpe::from_ranks("gpt2", GptPattern::Gpt2, ranks).map_err(|m| Error::bad_model(path, m))
    }

    /// A model from a Hugging Face `tokenizer.json` whose model is byte-level BPE (see the
    /// module docs and [`Bpe::from_tokenizer_json`]); errors name the file.
    pub fn from_tokenizer_json_path(path: &Path) -> crate::Result<Bpe> {
        let data = std::fs::read(path).map_err(|e| Error::from(e).with_path(path))?;
        let j: serde_json::Value = serde_json::from_slice(&data)
            .map_err(|e| Error::bad_model(path, format!("invalid JSON: {e}")))?;
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("bpe");
        Bpe::from_tokenizer_json(&j, name).map_err(|m| Error::bad_model(path, m))
    }

    /// A model from a parsed Hugging Face `tokenizer.json`. Accepted: `model.type` "BPE" with a
    /// byte-level `vocab` and `merges` (either `"a b"` strings or `["a", "b"]` pairs), no
    /// dropout, no subword prefix or suffix; no normalizer; as pre-tokenizer either `ByteLevel`
    /// with `use_regex` (GPT-2's pattern) or a `Sequence` of a `Split` on one of the known
    /// patterns ([`GptPattern::regex`], or the GPT-2 pattern as Hugging Face spells it) with
    /// behavior `Isolated`, then `ByteLevel` without `use_regex`; never `add_prefix_space`.
    /// Added tokens, the post-processor and the decoder are ignored: text is encoded as plain
    /// text, as with `encode_ordinary`.
    pub fn from_tokenizer_json(j: &serde_json::Value, name: &str) -> Result<Bpe, String> {
        let model = j.get("model").ok_or("no \"model\" object")?;
        let ty = model.get("type").and_then(|t| t.as_str()).unwrap_or("");
        if ty != "BPE" {
            return Err(format!("model type is '{ty}', expected 'BPE'"));
        }
        for key in ["dropout", "continuing_subword_prefix", "end_of_word_suffix"] {
            match model.get(key) {
                None | Some(serde_json::Value::Null) => {}
                Some(serde_json::Value::String(s)) if s.is_empty() => {}
                Some(v) => return Err(format!("model.{key} = {v} is not supported")),
            }
        }
        if let Some(n) = j.get("normalizer").filter(|n| !n.is_null()) {
            let nty = n.get("type").and_then(|t| t.as_str()).unwrap_or("?");
            return Err(format!(
                "normalizer '{nty}' is not supported (byte-level BPE takes none)"
            ));
        }
        let pattern = hf_pattern(j.get("pre_tokenizer"))?;
        let decoder = byte_decoder();
        let to_bytes =
            |s: &str| -> Option<Vec<u8>> { s.chars().map(|c| decoder.get(&c).copied()).collect() };
        let specials: std::collections::HashSet<&str> = j
            .get("added_tokens")
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.get("content").and_then(|c| c.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let vocab = model
            .get("vocab")
            .and_then(|v| v.as_object())
            .ok_or("no model.vocab map")?;
        let mut ranks = Vec::with_capacity(vocab.len());
        for (tok, id) in vocab {
            let id = id
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| format!("model.vocab[{tok:?}] is not a token id"))?;
            match to_bytes(tok) {
                Some(b) => ranks.push((b, id)),
                // An added token kept in the vocabulary: never produced by merging.
                None if specials.contains(tok.as_str()) => {}
                None => {
                    return Err(format!(
                        "model.vocab[{tok:?}] is not a byte-level token (not made of \
                         bytes_to_unicode characters)"
                    ));
                }
            }
        }
        let list = model
            .get("merges")
            .and_then(|v| v.as_array())
            .ok_or("no model.merges list")?;
        let mut merges = Vec::with_capacity(list.len());
        for (i, m) in list.iter().enumerate() {
            let pair = match m {
                serde_json::Value::String(s) => s.split_once(' ').filter(|(_, r)| !r.contains(' ')),
                serde_json::Value::Array(a) if a.len() == 2 => a[0].as_str().zip(a[1].as_str()),
                _ => None,
            };
            let bad = || format!("model.merges[{i}] = {m} is not a pair of byte-level tokens");
            let (l, r) = pair.ok_or_else(bad)?;
            merges.push((to_bytes(l).ok_or_else(bad)?, to_bytes(r).ok_or_else(bad)?));
        }
        let ignore_merges = model
            .get("ignore_merges")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        Bpe::build(
            name,
            pattern,
            ranks,
            Some(HfMerges {
                merges,
                ignore_merges,
            }),
        )
    }

    /// Build from `(token bytes, rank)` pairs; rank = id.
    pub fn from_ranks(
        name: &str,
        pattern: GptPattern,
        ranks: Vec<(Vec<u8>, u32)>,
    ) -> Result<Bpe, String> {
        Bpe::build(name, pattern, ranks, None)
    }

    /// Build from tokens and, for a Hugging Face model, its merges (`None`: tiktoken's rule,
    /// every split of a token into two tokens merges with the token's rank).
    fn build(
        name: &str,
        pattern: GptPattern,
        mut ranks: Vec<(Vec<u8>, u32)>,
        merges: Option<HfMerges>,
    ) -> Result<Bpe, String> {
        if !ranks.is_sorted_by_key(|r| r.1) {
            ranks.sort_by_key(|r| r.1);
        }
        let n = ranks.last().map_or(0, |r| r.1 as usize + 1);
        let mut by_id: Vec<Option<&[u8]>> = vec![None; n];
        let mut ids = FxHashMap::default();
        ids.reserve(ranks.len());
        for (bytes, id) in &ranks {
            if bytes.is_empty() {
                return Err(format!("empty token for id {id}"));
            }
            if by_id[*id as usize].replace(bytes).is_some() {
                return Err(format!("id {id} appears twice"));
            }
            if ids.insert(bytes.clone().into_boxed_slice(), *id).is_some() {
                return Err(format!("token {bytes:?} appears twice"));
            }
        }
        let mut byte_ids = Box::new([0u32; 256]);
        for b in 0..=255u8 {
            byte_ids[b as usize] = *ids
                .get(&[b][..])
                .ok_or_else(|| format!("byte {b:#04x} is not a token: not a byte-level BPE"))?;
        }
        // (left, right, rank, merged id) of every merge.
        let mut pairs: Vec<(u32, u32, u32, u32)> = Vec::new();
        let hf = merges.is_some();
        let mut ignore_merges = false;
        // Without merges every token is looked up whole: the table is built once, here, and
        // also answers the split lookups below (inline keys: no `memcmp`, about half of the
        // start-up time with the boxed-slice map).
        // (From `ranks`, in id order: the table inserts lowest ids first and then sorts a
        // sorted list, which costs one pass instead of a sort of the map's random order.)
        let all = (!hf).then(|| KeyMap::new(ranks.iter().map(|(b, id)| (&b[..], *id))));
        match (merges, &all) {
            (None, Some(all)) => {
                pairs.reserve(ranks.len() * 5 / 2);
                for (bytes, id) in &ranks {
                    for k in 1..bytes.len() {
                        // The suffix only when the prefix is a token (half the lookups).
                        if let Some(a) = all.get(&bytes[..k])
                            && let Some(b) = all.get(&bytes[k..])
                        {
                            pairs.push((a, b, *id, *id));
                        }
                    }
                }
            }
            (None, None) => unreachable!("no merges: the table is built"),
            (Some(m), _) => {
                ignore_merges = m.ignore_merges;
                pairs.reserve(m.merges.len());
                let mut joined = Vec::new();
                for (rank, (l, r)) in m.merges.iter().enumerate() {
                    let get = |t: &[u8]| {
                        ids.get(t).copied().ok_or_else(|| {
                            format!(
                                "merge {} ({:?} + {:?}): {:?} is not in the vocabulary",
                                rank + 1,
                                String::from_utf8_lossy(l),
                                String::from_utf8_lossy(r),
                                String::from_utf8_lossy(t)
                            )
                        })
                    };
                    let (a, b) = (get(l)?, get(r)?);
                    joined.clear();
                    joined.extend_from_slice(l);
                    joined.extend_from_slice(r);
                    let id = get(&joined)?;
                    // A repeated pair keeps its last rank, as Hugging Face's map does
                    // (`PairTable::new`).
                    pairs.push((a, b, rank as u32, id));
                }
            }
        }
        let lane_keys = pairs.iter().all(|m| m.2 < 1 << 25);
        let pairs = PairTable::new(&pairs, n);
        let mut bpe = Bpe {
            name: name.to_string(),
            pattern,
            vocab: Vocab::from_tokens(by_id),
            whole: KeyMap::new([]),
            pairs,
            byte_ids,
            lane_keys,
            byte_pairs: Box::default(),
        };
        bpe.byte_pairs = (0..1usize << 16)
            .map(|xy| bpe.merge(bpe.byte_ids[xy >> 8], bpe.byte_ids[xy & 255]))
            .collect();
        if let Some(all) = all {
            bpe.whole = all;
            return Ok(bpe);
        }
        let mut whole: Vec<(&[u8], u32)> = ranks.iter().map(|(b, id)| (&b[..], *id)).collect();
        if !ignore_merges {
            // Whole-piece lookup only where merging gives the same single token.
            let mut out = Vec::new();
            whole.retain(|&(bytes, id)| {
                out.clear();
                let _ = bpe.merge_parts(bytes, |i, _| {
                    out.push(i);
                    Ok::<(), ()>(())
                });
                out[..] == [id]
            });
        }
        bpe.whole = KeyMap::new(whole);
        Ok(bpe)
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pre-tokenizer pattern this model is used with.
    pub fn pattern(&self) -> GptPattern {
        self.pattern
    }

    /// Token bytes by id.
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// Id of the token with exactly these bytes.
    #[inline]
    pub fn token_id(&self, bytes: &[u8]) -> Option<u32> {
        self.whole.get(bytes)
    }

    /// `rank << 32 | id` of the merge of `a` and `b`, or [`NO_MERGE`].
    #[inline(always)]
    fn merge(&self, a: u32, b: u32) -> u64 {
        self.pairs.get(a, b)
    }

    /// Encode one piece, appending `(id, byte length)` of each token to `out`.
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<(u32, u32)>) {
        let _ = self.encode_each(piece, |id, len| {
            out.push((id, len));
            Ok::<(), ()>(())
        });
    }

    /// Encode one piece, calling `f(id, byte length)` for each token in order.
    #[inline]
    pub fn encode_each<E>(
        &self,
        piece: &[u8],
        mut f: impl FnMut(u32, u32) -> Result<(), E>,
    ) -> Result<(), E> {
        if piece.is_empty() {
            return Ok(());
        }
        if let Some(id) = self.token_id(piece) {
            return f(id, piece.len() as u32);
        }
        self.merge_parts(piece, f)
    }

    /// [`Bpe::encode_each`] through a per-worker [`BpeCache`]: a piece of at most
    /// [`CACHE_HUGE_PIECE`] bytes that is not one token (whole-piece lookup first) is looked up
    /// in the cache; on a miss it is merged and stored if it has few enough tokens
    /// ([`CACHE_MAX_IDS`], or [`CACHE_LONG_IDS`] for pieces over [`CACHE_SHORT_PIECE`] bytes).
    /// Same tokens as without the cache.
    #[inline]
    pub fn encode_each_cached<E>(
        &self,
        piece: &[u8],
        cache: &mut BpeCache,
        f: impl FnMut(u32, u32) -> Result<(), E>,
    ) -> Result<(), E> {
        let n = piece.len();
        if n > CACHE_SHORT_PIECE || n == 0 {
            if n <= CACHE_MAX_PIECE && n > 0 {
                return self.encode_long_cached(piece, cache, f);
            }
            if n <= CACHE_HUGE_PIECE && n > 0 {
                return self.encode_huge_cached(piece, cache, f);
            }
            return self.encode_uncached(piece, f);
        }
        self.encode_short_cached(piece, Packed::new(piece), cache, f)
    }

    /// [`Bpe::encode_each_cached`] for a piece of 1 to [`CACHE_SHORT_PIECE`] bytes, packed
    /// as `key`: whole-piece lookup, then the cache's main table, then merging.
    #[inline(always)]
    fn encode_short_cached<E>(
        &self,
        piece: &[u8],
        key: Packed,
        cache: &mut BpeCache,
        mut f: impl FnMut(u32, u32) -> Result<(), E>,
    ) -> Result<(), E> {
        if let Some(id) = self.whole.get_packed(key) {
            return f(id, piece.len() as u32);
        }
        let slot = cache.slot(key);
        if slot.key == key && slot.n != 0 {
            let s = *slot;
            f(s.ids[0], u32::from(s.lens[0]))?;
            for k in 1..s.n as usize {
                f(s.ids[k], u32::from(s.lens[k]))?;
            }
            return Ok(());
        }
        self.encode_miss(piece, key, slot, f)
    }

    /// Encode the piece `text[s..e]` (non-empty) through `cache`, appending its tokens to
    /// `out` with stream offsets (`abs` is the offset of `text[0]`): the same tokens as
    /// [`Bpe::encode_each_cached`]; the key comes from one masked load of the text.
    #[inline(always)]
    fn encode_into(
        &self,
        text: &[u8],
        (s, e): (usize, usize),
        abs: u64,
        cache: &mut BpeCache,
        out: &mut Vec<Token>,
    ) {
        let n = e - s;
        debug_assert!(n > 0);
        let mut at = abs + s as u64;
        let push = |id: u32, len: u32| {
            let start = at;
            at += u64::from(len);
            out.push(Token { id, start, end: at });
            Ok::<(), ()>(())
        };
        let _ = if n > CACHE_SHORT_PIECE {
            self.encode_each_cached(&text[s..e], cache, push)
        } else {
            self.encode_short_cached(&text[s..e], Packed::at(text, s, n), cache, push)
        };
    }

    /// Encode the pieces of `run` (windows of the GPT finder) through `cache`, appending
    /// their tokens to `out`. With `LINES`, `hand_over(out)` is called after the tokens of
    /// each piece holding a `\n`, once per `\n`, so that the caller can hand over the tokens
    /// and then report the line end. Without, the run's newline flags are not looked at (a
    /// branch per piece that mispredicts on every line end) and `hand_over(out)` is called
    /// whenever `out` holds [`RUN_HAND_OVER`] tokens or more, so that it stays in the L1
    /// cache. Returns the number of tokens appended in all. (Starting the probes of a group
    /// of pieces before resolving them, as WordPiece does, was measured: more instructions
    /// and no gain here; docs/performance.md.)
    #[inline]
    pub fn encode_run<const LINES: bool, E>(
        &self,
        run: &PieceRun<'_>,
        cache: &mut BpeCache,
        out: &mut Vec<Token>,
        mut hand_over: impl FnMut(&mut Vec<Token>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let text = run.text;
        let mut tokens = 0u64;
        let mut before = out.len();
        let mut s = 0;
        for &v in run.ends {
            let e = (v & PieceRun::END) as usize;
            self.encode_into(text, (s, e), run.abs, cache, out);
            if LINES && v & PieceRun::NEWLINE != 0 {
                tokens += (out.len() - before) as u64;
                // Short pieces: a plain loop costs less than setting up `memchr`.
                for &b in &text[s..e] {
                    if b == b'\n' {
                        hand_over(out)?;
                    }
                }
                // `hand_over` may have cleared `out`.
                before = out.len();
            } else if !LINES && out.len() >= RUN_HAND_OVER {
                tokens += (out.len() - before) as u64;
                hand_over(out)?;
                before = out.len();
            }
            s = e;
        }
        Ok(tokens + (out.len() - before) as u64)
    }

    /// [`Bpe::encode_each_cached`] for pieces of 17 to [`CACHE_MAX_PIECE`] bytes (runs of
    /// symbols such as `-----`, long words, CJK runs): the cache's second table.
    #[inline(never)]
    fn encode_long_cached<E>(
        &self,
        piece: &[u8],
        cache: &mut BpeCache,
        mut f: impl FnMut(u32, u32) -> Result<(), E>,
    ) -> Result<(), E> {
        if let Some(id) = self.whole.get(piece) {
            return f(id, piece.len() as u32);
        }
        let slot = cache.long_slot(piece);
        let n = piece.len();
        if usize::from(slot.len) == n && slot.bytes[..n] == *piece {
            for k in 0..slot.n as usize {
                f(slot.ids[k], u32::from(slot.lens[k]))?;
            }
            return Ok(());
        }
        let mut ids = [0u32; CACHE_MAX_PIECE];
        let mut lens = [0u8; CACHE_MAX_PIECE];
        let mut k = 0;
        let _ = self.merge_parts(piece, |id, len| {
            ids[k] = id;
            lens[k] = len as u8;
            k += 1;
            Ok::<(), ()>(())
        });
        if k <= CACHE_LONG_IDS {
            slot.len = n as u8;
            slot.n = k as u8;
            slot.bytes[..n].copy_from_slice(piece);
            slot.ids.copy_from_slice(&ids[..CACHE_LONG_IDS]);
            slot.lens.copy_from_slice(&lens[..CACHE_LONG_IDS]);
        }
        for j in 0..k {
            f(ids[j], u32::from(lens[j]))?;
        }
        Ok(())
    }

    /// [`Bpe::encode_each_cached`] for pieces of more than [`CACHE_MAX_PIECE`] bytes, up to
    /// [`CACHE_HUGE_PIECE`]: table borders and rules (`+-----+----+`, `=====`), which cost
    /// tens of thousands of instructions each to merge and recur verbatim in a document.
    #[cold]
    #[inline(never)]
    fn encode_huge_cached<E>(
        &self,
        piece: &[u8],
        cache: &mut BpeCache,
        mut f: impl FnMut(u32, u32) -> Result<(), E>,
    ) -> Result<(), E> {
        let slot = cache.huge_slot(piece);
        if slot.bytes != piece {
            slot.bytes.clear();
            slot.tokens.clear();
            let _ = self.encode_each(piece, |id, len| {
                slot.tokens.push((id, len));
                Ok::<(), ()>(())
            });
            slot.bytes.extend_from_slice(piece);
        }
        for &(id, len) in &slot.tokens {
            f(id, len)?;
        }
        Ok(())
    }

    /// [`Bpe::encode_each`] out of line: the rare pieces too long for the cache (kept out of
    /// the per-piece path so that it stays small).
    #[cold]
    #[inline(never)]
    fn encode_uncached<E>(
        &self,
        piece: &[u8],
        f: impl FnMut(u32, u32) -> Result<(), E>,
    ) -> Result<(), E> {
        self.encode_each(piece, f)
    }

    /// A cache miss of [`Bpe::encode_each_cached`]: merge and store.
    #[inline(never)]
    fn encode_miss<E>(
        &self,
        piece: &[u8],
        key: Packed,
        slot: &mut CacheSlot,
        mut f: impl FnMut(u32, u32) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut ids = [0u32; CACHE_SHORT_PIECE];
        let mut lens = [0u8; CACHE_SHORT_PIECE];
        let mut k = 0;
        let _ = self.merge_parts(piece, |id, len| {
            ids[k] = id;
            lens[k] = len as u8;
            k += 1;
            Ok::<(), ()>(())
        });
        if k <= CACHE_MAX_IDS {
            *slot = CacheSlot {
                key,
                n: k as u8,
                lens: [lens[0], lens[1], lens[2], lens[3]],
                ids: [ids[0], ids[1], ids[2], ids[3]],
            };
        }
        for j in 0..k {
            f(ids[j], u32::from(lens[j]))?;
        }
        Ok(())
    }

    /// Merge a non-empty piece from its bytes (no whole-piece lookup).
    #[inline]
    fn merge_parts<E>(
        &self,
        piece: &[u8],
        f: impl FnMut(u32, u32) -> Result<(), E>,
    ) -> Result<(), E> {
        if piece.len() <= 16 && self.lane_keys {
            self.merge_lanes::<16, E>(piece, f)
        } else if piece.len() <= SCAN_MAX && self.lane_keys {
            self.merge_lanes::<SCAN_MAX, E>(piece, f)
        } else if piece.len() <= 16 {
            self.merge_scan::<16, E>(piece, f)
        } else if piece.len() <= SCAN_MAX {
            self.merge_scan::<SCAN_MAX, E>(piece, f)
        } else {
            self.merge_heap(piece, f)
        }
    }

    /// [`Bpe::merge_scan`] for pieces of at most `N` bytes (16 or 64: the cache misses of
    /// real text, and CJK runs) without moving anything: parts stay in the lane of their first
    /// byte, a bit mask says which lanes still start a part, and each lane's key is
    /// `rank << 6 | lane`, so the minimum over all lanes (kept per group of eight lanes) is
    /// both the lowest rank and, among equal ranks, the leftmost pair. No scan with a data-dependent trip count and no `memmove` per merge. Needs ranks
    /// below 2^25 (checked at load: `lane_keys`).
    fn merge_lanes<const N: usize, E>(
        &self,
        piece: &[u8],
        mut f: impl FnMut(u32, u32) -> Result<(), E>,
    ) -> Result<(), E> {
        const NONE: i32 = i32::MAX;
        debug_assert!((8..=64).contains(&N) && N.is_power_of_two());
        let n0 = piece.len();
        debug_assert!((1..=N).contains(&n0));
        let mut toks = [0u32; N];
        let mut lens = [1u32; N];
        // keys[i]: rank << 6 | i of merging the part at lane i with the next part (NONE if
        // they do not merge, or lane i holds no part or the last one); merged[i]: its id.
        let mut keys = [NONE; N];
        let mut merged = [0u32; N];
        for (i, &b) in piece.iter().enumerate() {
            toks[i] = self.byte_ids[b as usize];
        }
        // (key, merged id) of lane i from a `merge` result.
        let pack = |i: usize, m: u64| {
            if m == NO_MERGE {
                (NONE, 0)
            } else {
                (((m >> 32) as i32) << 6 | i as i32, m as u32)
            }
        };
        let key = |i: usize, a: u32, b: u32| pack(i, self.merge(a, b));
        for i in 0..n0 - 1 {
            let xy = usize::from(piece[i]) << 8 | usize::from(piece[i + 1]);
            (keys[i], merged[i]) = pack(i, self.byte_pairs[xy]);
        }
        // Lanes that start a part.
        let mut alive: u64 = u64::MAX >> (64 - n0);
        // The lowest key of each group of eight lanes: a merge changes at most three keys, so
        // only their groups are recomputed, and the best key is the minimum of the N / 8 group
        // minimums. (On Chinese, 18 % faster than a tree over all 64 lanes per merge, which the
        // compiler vectorized but which is a long chain of dependent minimums.)
        let mut groups = [NONE; 8];
        let min8 = |k: &[i32]| {
            k[0].min(k[4])
                .min(k[1].min(k[5]))
                .min(k[2].min(k[6]).min(k[3].min(k[7])))
        };
        for g in 0..N / 8 {
            groups[g] = min8(&keys[g * 8..g * 8 + 8]);
        }
        loop {
            count_op();
            let best = if N == 16 {
                groups[0].min(groups[1])
            } else {
                min8(&groups)
            };
            if best == NONE {
                break;
            }
            let at = (best & 63) as usize;
            // Lanes above `at` (none when `at` is lane 63).
            let above = |alive: u64| alive & (u64::MAX << at) & !(1u64 << at);
            let j = above(alive).trailing_zeros() as usize;
            alive &= !(1 << j);
            keys[j] = NONE;
            toks[at] = merged[at];
            lens[at] += lens[j];
            let k = above(alive).trailing_zeros() as usize;
            (keys[at], merged[at]) = if k < N {
                key(at, toks[at], toks[k])
            } else {
                (NONE, 0)
            };
            let below = alive & ((1 << at) - 1);
            let p = if below != 0 {
                let p = 63 - below.leading_zeros() as usize;
                (keys[p], merged[p]) = key(p, toks[p], toks[at]);
                p
            } else {
                at
            };
            for lane in [j, at, p] {
                let g = lane / 8;
                groups[g] = min8(&keys[g * 8..g * 8 + 8]);
            }
        }
        while alive != 0 {
            let i = alive.trailing_zeros() as usize;
            alive &= alive - 1;
            f(toks[i], lens[i])?;
        }
        Ok(())
    }

    /// tiktoken's loop on a small array: find the lowest-rank pair (leftmost), merge, repeat.
    /// `N` (at least the piece length) sizes the arrays: 16 for the common short pieces, so
    /// that setting them up costs little.
    fn merge_scan<const N: usize, E>(
        &self,
        piece: &[u8],
        mut f: impl FnMut(u32, u32) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut toks = [0u32; N];
        let mut lens = [1u32; N];
        let mut ranks = [NO_MERGE; N];
        let n0 = piece.len();
        debug_assert!(n0 <= N);
        for (t, &b) in toks.iter_mut().zip(piece) {
            *t = self.byte_ids[b as usize];
        }
        for i in 0..n0 - 1 {
            ranks[i] = self.merge(toks[i], toks[i + 1]);
        }
        let mut n = n0;
        while n > 1 {
            count_op();
            let mut best = NO_MERGE;
            let mut at = 0;
            for (i, &r) in ranks[..n - 1].iter().enumerate() {
                // Conditional moves: which pair ranks lowest is not predictable.
                let lower = r < best;
                best = std::hint::select_unpredictable(lower, r, best);
                at = std::hint::select_unpredictable(lower, i, at);
            }
            if best == NO_MERGE {
                break;
            }
            toks[at] = best as u32;
            lens[at] += lens[at + 1];
            // Close the gap at at + 1. (An element loop here takes fewer instructions than
            // three memmove calls but mispredicts its variable trip count: slower on CJK.)
            toks.copy_within(at + 2..n, at + 1);
            lens.copy_within(at + 2..n, at + 1);
            ranks.copy_within(at + 2..n, at + 1);
            n -= 1;
            ranks[n - 1] = NO_MERGE;
            if at + 1 < n {
                ranks[at] = self.merge(toks[at], toks[at + 1]);
            }
            if at > 0 {
                ranks[at - 1] = self.merge(toks[at - 1], toks[at]);
            }
        }
        for i in 0..n {
            f(toks[i], lens[i])?;
        }
        Ok(())
    }

    /// The same merge order with a heap: O(n log n) for long pieces.
    fn merge_heap<E>(
        &self,
        piece: &[u8],
        mut f: impl FnMut(u32, u32) -> Result<(), E>,
    ) -> Result<(), E> {
        let n = piece.len();
        let mut tok: Vec<u32> = piece.iter().map(|&b| self.byte_ids[b as usize]).collect();
        let mut len = vec![1u32; n];
        // Linked list over positions; usize::MAX = none.
        let mut next: Vec<usize> = (1..=n).collect();
        next[n - 1] = usize::MAX;
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n];
        let mut heap = BinaryHeap::with_capacity(n);
        for i in 0..n - 1 {
            let r = self.merge(tok[i], tok[i + 1]);
            if r != NO_MERGE {
                heap.push(Reverse((r, i)));
            }
        }
        while let Some(Reverse((r, i))) = heap.pop() {
            count_op();
            let j = next[i];
            if !alive[i] || j == usize::MAX || self.merge(tok[i], tok[j]) != r {
                continue; // stale
            }
            tok[i] = r as u32;
            len[i] += len[j];
            alive[j] = false;
            let k = next[j];
            next[i] = k;
            if k != usize::MAX {
                prev[k] = i;
                let r2 = self.merge(tok[i], tok[k]);
                if r2 != NO_MERGE {
                    heap.push(Reverse((r2, i)));
                }
            }
            let p = prev[i];
            if p != usize::MAX {
                let r0 = self.merge(tok[p], tok[i]);
                if r0 != NO_MERGE {
                    heap.push(Reverse((r0, p)));
                }
            }
        }
        let mut i = 0;
        while i != usize::MAX {
            f(tok[i], len[i])?;
            i = next[i];
        }
        Ok(())
    }

    /// Append the bytes of `ids` to `out`; returns the first id that is not a token, if any.
    pub fn decode_into(&self, ids: &[u32], out: &mut Vec<u8>) -> Result<(), u32> {
        for &id in ids {
            match self.vocab.token(id) {
                Some(b) if !b.is_empty() => out.extend_from_slice(b),
                _ => return Err(id),
            }
        }
        Ok(())
    }
}

/// Longest piece of the [`BpeCache`]'s main table, in bytes (keys packed inline).
pub const CACHE_SHORT_PIECE: usize = INLINE;
/// Most tokens of a piece in the main table.
pub const CACHE_MAX_IDS: usize = 4;
/// Default number of main-table slots (48 bytes each: 192 KiB, most of an L2 cache). (On 32
/// MB of English, 558,000 multi-token pieces, 100,000 distinct, a direct-mapped table of
/// 4,096 slots misses 172,700 times, of 65,536 slots 118,000 times, and yet runs no faster:
/// a hit then comes from L3; docs/performance.md.)
pub const CACHE_SLOTS: usize = 4096;
/// Longest piece of the [`BpeCache`]'s second table, in bytes.
pub const CACHE_MAX_PIECE: usize = 64;
/// Longest piece the [`BpeCache`] holds (in its third table), in bytes.
pub const CACHE_HUGE_PIECE: usize = 1024;
/// Most third-table slots (each holds at most [`CACHE_HUGE_PIECE`] bytes and as many
/// tokens: at most 576 KiB in all, and only as much as the long pieces seen need).
pub const CACHE_HUGE_SLOTS: usize = 64;
/// Most tokens of a piece in the second table.
pub const CACHE_LONG_IDS: usize = 16;
/// Most second-table slots (148 bytes each: 148 KiB).
pub const CACHE_LONG_SLOTS: usize = 1024;

/// A cached piece of 17 to [`CACHE_MAX_PIECE`] bytes.
#[derive(Clone, Copy, Debug)]
struct LongSlot {
    /// Piece length; 0 marks an empty slot.
    len: u8,
    n: u8,
    bytes: [u8; CACHE_MAX_PIECE],
    lens: [u8; CACHE_LONG_IDS],
    ids: [u32; CACHE_LONG_IDS],
}

const EMPTY_LONG: LongSlot = LongSlot {
    len: 0,
    n: 0,
    bytes: [0; CACHE_MAX_PIECE],
    lens: [0; CACHE_LONG_IDS],
    ids: [0; CACHE_LONG_IDS],
};

/// A cached piece of more than [`CACHE_MAX_PIECE`] bytes: its bytes and its tokens
/// (`(id, byte length)`), in buffers reused when the slot is replaced; empty = unused.
#[derive(Clone, Debug, Default)]
struct HugeSlot {
    bytes: Vec<u8>,
    tokens: Vec<(u32, u32)>,
}

/// Slot of a piece of more than 8 bytes in a table of `size` (a power of two, at most 2^24)
/// entries: its first and last 8 bytes and its length, multiplied and folded.
#[inline(always)]
fn long_index(piece: &[u8], size: usize) -> usize {
    let n = piece.len();
    let first = u64::from_le_bytes(piece[..8].try_into().unwrap_or_default());
    let last = u64::from_le_bytes(piece[n - 8..].try_into().unwrap_or_default());
    let h = first
        .wrapping_add(n as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ last.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    // High bits of a second multiply: every input bit reaches them.
    let h = (h ^ (h >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 40) as usize & (size - 1)
}

/// One cached piece: its bytes (packed), and its tokens' ids and byte lengths.
#[derive(Clone, Copy, Debug)]
struct CacheSlot {
    key: Packed,
    /// Number of tokens; 0 marks an empty slot.
    n: u8,
    lens: [u8; CACHE_MAX_IDS],
    ids: [u32; CACHE_MAX_IDS],
}

fn empty_slot() -> CacheSlot {
    CacheSlot {
        key: Packed::new(&[]),
        n: 0,
        lens: [0; CACHE_MAX_IDS],
        ids: [0; CACHE_MAX_IDS],
    }
}

/// A bounded per-worker cache of encoded pieces: piece bytes → token ids.
///
/// Direct-mapped (a piece has one slot, chosen by a hash of its bytes; a new piece evicts the
/// old one), fixed size, no allocation per piece: the piece's bytes and its ids are stored
/// inline. Three tables: pieces of at most [`CACHE_SHORT_PIECE`] bytes and [`CACHE_MAX_IDS`]
/// tokens (keys packed in two words, compared as integers); pieces of up to
/// [`CACHE_MAX_PIECE`] bytes and [`CACHE_LONG_IDS`] tokens (compared as bytes; on real text
/// these are runs of symbols such as `-----` lines, which cost hundreds of pair lookups each
/// to merge, and long words); and a few slots for pieces of up to [`CACHE_HUGE_PIECE`] bytes
/// (table borders), whose buffers are reused, so they allocate only while they grow. Longer
/// pieces, and short pieces of more tokens, bypass it. It sits behind the whole-piece lookup (most
/// pieces of English are one token) and in front of merging: frequent words of two to four
/// tokens cost tens of pair lookups each to merge, one probe here. (Probing it before the
/// vocabulary, for single-token pieces too, was measured: more instructions and more cache
/// misses, since a direct-mapped table of 4096 slots then thrashes on the many distinct
/// single-token words.)
#[derive(Clone, Debug)]
pub struct BpeCache {
    slots: Vec<CacheSlot>,
    size: usize,
    long: Vec<LongSlot>,
    long_size: usize,
    huge: Vec<HugeSlot>,
}

impl Default for BpeCache {
    fn default() -> Self {
        BpeCache::with_slots(CACHE_SLOTS)
    }
}

impl BpeCache {
    /// A cache of `slots` entries (rounded up to a power of two), allocated on first use.
    /// The second table (long pieces) has `slots / 4` entries, the third (pieces of more than
    /// [`CACHE_MAX_PIECE`] bytes) `slots / 64`, each at least one and at most
    /// [`CACHE_LONG_SLOTS`] and [`CACHE_HUGE_SLOTS`].
    pub fn with_slots(slots: usize) -> Self {
        let size = slots.max(1).next_power_of_two();
        BpeCache {
            slots: Vec::new(),
            size,
            long: Vec::new(),
            long_size: (size / 4).clamp(1, CACHE_LONG_SLOTS),
            huge: vec![HugeSlot::default(); (size / 64).clamp(1, CACHE_HUGE_SLOTS)],
        }
    }

    #[inline(always)]
    fn huge_slot(&mut self, piece: &[u8]) -> &mut HugeSlot {
        let i = long_index(piece, self.huge.len());
        &mut self.huge[i]
    }

    #[inline(always)]
    fn long_slot(&mut self, piece: &[u8]) -> &mut LongSlot {
        if self.long.is_empty() {
            self.long = vec![EMPTY_LONG; self.long_size];
        }
        let i = long_index(piece, self.long_size);
        &mut self.long[i]
    }

    #[inline(always)]
    fn slot(&mut self, key: Packed) -> &mut CacheSlot {
        if self.slots.is_empty() {
            self.slots = vec![empty_slot(); self.size];
        }
        let i = self.index(key);
        &mut self.slots[i]
    }

    /// The slot of `key` (`Packed::slot` needs at least two slots).
    #[inline(always)]
    fn index(&self, key: Packed) -> usize {
        key.slot(self.size.max(2)) & (self.size - 1)
    }

    /// Is `piece` in the cache?
    pub fn contains(&self, piece: &[u8]) -> bool {
        let n = piece.len();
        if n > CACHE_MAX_PIECE {
            let s = &self.huge[long_index(piece, self.huge.len())];
            return n <= CACHE_HUGE_PIECE && s.bytes == piece;
        }
        if n > CACHE_SHORT_PIECE {
            if self.long.is_empty() {
                return false;
            }
            let s = &self.long[long_index(piece, self.long_size)];
            return usize::from(s.len) == n && s.bytes[..n] == *piece;
        }
        if self.slots.is_empty() {
            return false;
        }
        let key = Packed::new(piece);
        let s = &self.slots[self.index(key)];
        s.n != 0 && s.key == key
    }

    /// Number of pieces held.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.n != 0).count()
            + self.long.iter().filter(|s| s.len != 0).count()
            + self.huge.iter().filter(|s| !s.bytes.is_empty()).count()
    }

    /// True when no piece is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

thread_local! {
    static OPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// One merge step (a scan round or a heap pop), counted for the linearity tests.
#[inline(always)]
fn count_op() {
    if cfg!(debug_assertions) {
        OPS.with(|c| c.set(c.get() + 1));
    }
}

/// Merge steps counted on this thread so far (only in debug builds, including tests): the
/// pathological-input tests bound work by this, not by wall time.
pub fn merge_ops() -> u64 {
    OPS.with(|c| c.get())
}

/// The merges of a Hugging Face BPE model, as bytes, in rank order.
struct HfMerges {
    merges: Vec<(Vec<u8>, Vec<u8>)>,
    ignore_merges: bool,
}

/// GPT-2's pattern as Hugging Face's `ByteLevel` pre-tokenizer spells it (the original
/// `encoder.py` one, without possessive quantifiers and `\s++$`). It gives the same pieces as
/// tiktoken's gpt2 pattern (`tests/it/gpt.rs` checks it with `fancy-regex`).
pub const HF_GPT2_REGEX: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// The rule set of a `tokenizer.json` pre-tokenizer (see [`Bpe::from_tokenizer_json`]).
fn hf_pattern(pre: Option<&serde_json::Value>) -> Result<GptPattern, String> {
    let ty = |v: &serde_json::Value| {
        v.get("type")
            .and_then(|t| t.as_str())
            .unwrap_or("?")
            .to_string()
    };
    let flag =
        |v: &serde_json::Value, k: &str, d: bool| v.get(k).and_then(|x| x.as_bool()).unwrap_or(d);
    let byte_level = |v: &serde_json::Value, regex: bool| -> Result<(), String> {
        if ty(v) != "ByteLevel" {
            return Err(format!(
                "pre_tokenizer '{}' is not supported here (ByteLevel is)",
                ty(v)
            ));
        }
        if flag(v, "add_prefix_space", false) {
            return Err("ByteLevel with add_prefix_space is not supported".into());
        }
        if flag(v, "use_regex", true) != regex {
            return Err(format!(
                "ByteLevel with use_regex {} is not supported here",
                !regex
            ));
        }
        Ok(())
    };
    let Some(pre) = pre.filter(|p| !p.is_null()) else {
        return Err(
            "no pre_tokenizer (byte-level BPE needs ByteLevel or Split + ByteLevel)".into(),
        );
    };
    if ty(pre) == "ByteLevel" {
        byte_level(pre, true)?;
        return Ok(GptPattern::Gpt2);
    }
    let steps = match pre.get("pretokenizers").and_then(|p| p.as_array()) {
        Some(s) if ty(pre) == "Sequence" && s.len() == 2 => s,
        _ => {
            return Err(format!(
                "pre_tokenizer '{}' is not supported (ByteLevel, or a Sequence of Split and \
                 ByteLevel, are)",
                ty(pre)
            ));
        }
    };
    let split = &steps[0];
    if ty(split) != "Split" {
        return Err(format!(
            "pre_tokenizer Sequence starts with '{}', not Split",
            ty(split)
        ));
    }
    let behavior = split
        .get("behavior")
        .and_then(|b| b.as_str())
        .unwrap_or("?");
    if behavior != "Isolated" || flag(split, "invert", false) {
        return Err(format!(
            "Split with behavior '{behavior}' (invert {}) is not supported (Isolated is)",
            flag(split, "invert", false)
        ));
    }
    let Some(regex) = split
        .get("pattern")
        .and_then(|p| p.get("Regex"))
        .and_then(|r| r.as_str())
    else {
        return Err("Split pattern is not a Regex".into());
    };
    byte_level(&steps[1], false)?;
    let known = [
        (GptPattern::Gpt2.regex(), GptPattern::Gpt2),
        (HF_GPT2_REGEX, GptPattern::Gpt2),
        (GptPattern::Cl100k.regex(), GptPattern::Cl100k),
        (GptPattern::O200k.regex(), GptPattern::O200k),
    ];
    known
        .iter()
        .find(|(r, _)| *r == regex)
        .map(|&(_, p)| p)
        .ok_or_else(|| {
            format!(
                "Split regex {regex:?} is not one of the known patterns (tiktoken's gpt2, \
                 cl100k_base, o200k_base, or Hugging Face's GPT-2 ByteLevel regex)"
            )
        })
}

/// Parse a `.tiktoken` file: `base64(token) rank` per line.
pub fn parse_tiktoken(data: &[u8]) -> Result<Vec<(Vec<u8>, u32)>, String> {
    let mut out = Vec::with_capacity(data.len() / 8);
    for (no, line) in data.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let sp = memchr::memchr(b' ', line).ok_or_else(|| format!("line {}: no space", no + 1))?;
        let token =
            base64_decode(&line[..sp]).ok_or_else(|| format!("line {}: bad base64", no + 1))?;
        let rank = parse_rank(line[sp + 1..].trim_ascii())
            .ok_or_else(|| format!("line {}: bad rank", no + 1))?;
        out.push((token, rank));
    }
    Ok(out)
}

/// A decimal `u32`, as `str::parse` takes it (digits, an optional leading `+`).
fn parse_rank(s: &[u8]) -> Option<u32> {
    let digits = s.strip_prefix(b"+").unwrap_or(s);
    if digits.is_empty() {
        return None;
    }
    let mut v = 0u32;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u32::from(d - b'0'))?;
    }
    Some(v)
}

/// Value of each base64 character, or [`NOT_BASE64`].
const BASE64: [u8; 256] = {
    let mut t = [NOT_BASE64; 256];
    let mut i = 0;
    while i < 64 {
        let c = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i];
        t[c as usize] = i as u8;
        i += 1;
    }
    t
};
const NOT_BASE64: u8 = 0xFF;

/// Standard base64 (with `=` padding, only at the end) decoding. A 256-entry table instead of
/// a `match` per character: model start-up decodes one string per token (o200k: 200,000).
pub fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let pad = s.iter().rev().take(2).take_while(|&&c| c == b'=').count();
    let body = &s[..s.len() - pad];
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut quads = body.chunks_exact(4);
    for q in &mut quads {
        let v = [
            BASE64[q[0] as usize],
            BASE64[q[1] as usize],
            BASE64[q[2] as usize],
            BASE64[q[3] as usize],
        ];
        if (v[0] | v[1] | v[2] | v[3]) > 63 {
            return None;
        }
        let acc =
            u32::from(v[0]) << 18 | u32::from(v[1]) << 12 | u32::from(v[2]) << 6 | u32::from(v[3]);
        out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
    }
    let rest = quads.remainder();
    if !rest.is_empty() {
        // The last quad without its padding: 2 or 3 characters for 1 or 2 bytes.
        let mut acc = 0u32;
        for &c in rest {
            let v = BASE64[c as usize];
            if v == NOT_BASE64 {
                return None;
            }
            acc = acc << 6 | u32::from(v);
        }
        acc <<= 6 * pad as u32;
        out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8][..3 - pad]);
    }
    Some(out)
}

/// GPT-2's `bytes_to_unicode` inverted: the printable stand-in char of each byte → the byte.
pub fn byte_decoder() -> FxHashMap<char, u8> {
    let mut m = FxHashMap::default();
    let mut n = 0u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let c = if printable {
            b as u32
        } else {
            n += 1;
            255 + n
        };
        if let Some(c) = char::from_u32(c) {
            m.insert(c, b);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        assert_eq!(base64_decode(b"IQ==").unwrap(), b"!");
        assert_eq!(base64_decode(b"IGhlbGxv").unwrap(), b" hello");
        assert_eq!(base64_decode(b"YWI=").unwrap(), b"ab");
        assert!(base64_decode(b"YWI").is_none());
        for (text, want) in [
            ("0", Some(0)),
            ("+7", Some(7)),
            ("007", Some(7)),
            ("4294967295", Some(u32::MAX)),
        ] {
            assert_eq!(parse_rank(text.as_bytes()), want, "{text}");
        }
        for text in ["", "+", "-1", "4294967296", "1a", " 1"] {
            assert_eq!(
                parse_rank(text.as_bytes()),
                text.parse::<u32>().ok(),
                "{text}"
            );
        }
        assert!(base64_decode(b"YW=I").is_none());
        assert!(
            base64_decode(b"YQ==YWJj").is_none(),
            "padding only at the end"
        );
        assert!(base64_decode(b"Y===").is_none());
        assert!(base64_decode(b"YW.j").is_none());
        assert_eq!(base64_decode(b"").unwrap(), b"");
        assert_eq!(base64_decode(b"/+/+").unwrap(), [0xFF, 0xEF, 0xFE]);
        // Every byte value through the encoder of Python's base64 module, by hand: 0..=255.
        let all: Vec<u8> = (0..=255).collect();
        let encoded = {
            const A: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut e = Vec::new();
            for c in all.chunks(3) {
                let n = c.len();
                let acc = u32::from(c[0]) << 16
                    | u32::from(*c.get(1).unwrap_or(&0)) << 8
                    | u32::from(*c.get(2).unwrap_or(&0));
                for k in 0..4 {
                    e.push(if k <= n {
                        A[(acc >> (18 - 6 * k)) as usize & 63]
                    } else {
                        b'='
                    });
                }
            }
            e
        };
        assert_eq!(base64_decode(&encoded).unwrap(), all);
    }

    /// `merge_lanes` (lanes, packed keys) against `merge_scan` (tiktoken's loop) on pieces of
    /// 1 to 64 bytes: random bytes, random letters and spaces, runs of one byte (ties between
    /// equal ranks everywhere) and random CJK characters, under both tiktoken models and a
    /// Hugging Face one (ranks that are not ids), with 16 and 64 lanes.
    #[test]
    fn lane_and_scan_merges_agree() {
        let mut models = vec![
            Bpe::builtin("cl100k_base").unwrap(),
            Bpe::builtin("o200k_base").unwrap(),
        ];
        let hf =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gpt2-tokenizer.json");
        models.push(Bpe::from_tokenizer_json_path(&hf).unwrap());
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for m in &models {
            assert!(m.lane_keys);
            for round in 0..20_000 {
                let n = 1 + (next() % if round % 2 == 0 { 16 } else { 64 }) as usize;
                let mut piece: Vec<u8> = Vec::new();
                while piece.len() < n {
                    match round % 4 {
                        0 => piece.push(next() as u8),
                        1 => piece.push(b" etaoinshrdlu"[(next() % 13) as usize]),
                        2 => piece.push(b"-= a"[(round / 4 % 4) as usize]),
                        _ => {
                            let c = char::from_u32(0x4E00 + (next() % 400) as u32).unwrap();
                            piece.extend_from_slice(c.to_string().as_bytes());
                        }
                    }
                }
                piece.truncate(n);
                let run = |lanes: bool| {
                    let mut v = Vec::new();
                    let push = |i, l| {
                        v.push((i, l));
                        Ok::<(), ()>(())
                    };
                    match (lanes, n <= 16) {
                        (true, true) => m.merge_lanes::<16, ()>(&piece, push),
                        (true, false) => m.merge_lanes::<64, ()>(&piece, push),
                        (false, true) => m.merge_scan::<16, ()>(&piece, push),
                        (false, false) => m.merge_scan::<64, ()>(&piece, push),
                    }
                    .unwrap();
                    v
                };
                assert_eq!(run(true), run(false), "{}: {piece:?}", m.name());
                if n <= 16 {
                    let mut v = Vec::new();
                    m.merge_lanes::<64, ()>(&piece, |i, l| {
                        v.push((i, l));
                        Ok(())
                    })
                    .unwrap();
                    assert_eq!(v, run(false), "64 lanes, {}: {piece:?}", m.name());
                }
            }
        }
    }

    #[test]
    fn scan_and_heap_agree() {
        let m = Bpe::builtin("cl100k_base").unwrap();
        let texts: [&[u8]; 4] = [
            b"hello world this is a test of the heap",
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "中文字符日本語のテキスト한국어".as_bytes(),
            b"\xFF\xFEabc\x80\x81zz",
        ];
        for t in texts {
            for short in t.chunks(16) {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                m.merge_lanes::<16, ()>(short, |i, l| {
                    a.push((i, l));
                    Ok(())
                })
                .unwrap();
                m.merge_scan::<16, ()>(short, |i, l| {
                    b.push((i, l));
                    Ok(())
                })
                .unwrap();
                assert_eq!(a, b, "{short:?}");
            }
            let (mut a, mut b) = (Vec::new(), Vec::new());
            m.merge_scan::<SCAN_MAX, ()>(t, |i, l| {
                a.push((i, l));
                Ok::<(), ()>(())
            })
            .unwrap();
            m.merge_heap(t, |i, l| {
                b.push((i, l));
                Ok::<(), ()>(())
            })
            .unwrap();
            assert_eq!(a, b, "{t:?}");
        }
    }
}

/// How `tokstream decode` reads ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdFormat {
    /// Decimal ids separated by whitespace (what `encode --format text` writes).
    Text,
    /// `{"tokens":[[id,start,end],...]}` lines (what `encode --format jsonl` writes).
    Jsonl,
    /// Raw little-endian u32.
    U32,
    /// Raw little-endian u16.
    U16,
}

/// `tokstream decode`: read ids in `format` from `input` and write the bytes of their tokens
/// to `out`, in order (line structure in text/jsonl is ignored: newlines live in the tokens).
/// Returns the number of ids decoded.
pub fn decode_stream<R: std::io::Read, W: std::io::Write>(
    bpe: &Bpe,
    mut input: R,
    format: IdFormat,
    out: &mut W,
) -> crate::Result<u64> {
    let mut buf = vec![0u8; 1 << 16];
    let mut carry: Vec<u8> = Vec::new();
    let mut ids: Vec<u32> = Vec::new();
    let mut bytes: Vec<u8> = Vec::new();
    let mut count = 0u64;
    let mut consumed = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        let eof = n == 0;
        carry.extend_from_slice(&buf[..n]);
        ids.clear();
        let used = match format {
            IdFormat::U32 | IdFormat::U16 => {
                let w = if format == IdFormat::U32 { 4 } else { 2 };
                let whole = carry.len() / w * w;
                ids.extend(carry[..whole].chunks_exact(w).map(|c| {
                    if w == 4 {
                        u32::from_le_bytes([c[0], c[1], c[2], c[3]])
                    } else {
                        u32::from(u16::from_le_bytes([c[0], c[1]]))
                    }
                }));
                if eof && whole != carry.len() {
                    return Err(Error::new(crate::ErrorKind::Config(format!(
                        "input ends inside an id ({} stray bytes)",
                        carry.len() - whole
                    )))
                    .with_offset(consumed + whole as u64));
                }
                whole
            }
            IdFormat::Text | IdFormat::Jsonl => {
                // Only complete lines (or everything at the end).
                let end = if eof {
                    carry.len()
                } else {
                    memchr::memrchr(b'\n', &carry).map_or(0, |i| i + 1)
                };
                parse_id_lines(&carry[..end], format, &mut ids).map_err(|(at, m)| {
                    Error::new(crate::ErrorKind::Config(m)).with_offset(consumed + at as u64)
                })?;
                end
            }
        };
        bytes.clear();
        if let Err(id) = bpe.decode_into(&ids, &mut bytes) {
            return Err(Error::config(format!(
                "id {id} is not a token of {} ({} ids)",
                bpe.name(),
                bpe.vocab().len()
            )));
        }
        out.write_all(&bytes)?;
        count += ids.len() as u64;
        carry.drain(..used);
        consumed += used as u64;
        if eof {
            return Ok(count);
        }
    }
}

/// Ids of complete text or jsonl lines. Errors carry the byte offset within `s`.
fn parse_id_lines(s: &[u8], format: IdFormat, ids: &mut Vec<u32>) -> Result<(), (usize, String)> {
    let mut line_start = 0;
    for line in s.split(|&b| b == b'\n') {
        let at = line_start;
        line_start += line.len() + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if format == IdFormat::Text {
            for w in line
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
            {
                let id = std::str::from_utf8(w)
                    .ok()
                    .and_then(|w| w.parse().ok())
                    .ok_or_else(|| (at, format!("not an id: {:?}", String::from_utf8_lossy(w))))?;
                ids.push(id);
            }
            continue;
        }
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_slice(line).map_err(|e| (at, format!("bad JSON line: {e}")))?;
        let toks = v
            .get("tokens")
            .and_then(|t| t.as_array())
            .ok_or_else(|| (at, "a jsonl line without \"tokens\"".to_string()))?;
        for t in toks {
            let id = t
                .get(0)
                .or(Some(t))
                .and_then(|x| x.as_u64())
                .and_then(|x| u32::try_from(x).ok())
                .ok_or_else(|| (at, format!("not a token: {t}")))?;
            ids.push(id);
        }
    }
    Ok(())
}
