//! WordPiece (HF `models::WordPiece`): greedy longest-match-first from the left; pieces after
//! the first are looked up with the continuation prefix (`##`); a word with an unmatched
//! position or more than `max_input_chars_per_word` characters is one `[UNK]` (SPEC.md §2).
//!
//! Lookups take `&[u8]` slices of the normalized word: the continuation tokens live in their
//! own map with the prefix already stripped, so no candidate string is ever built. The maps
//! ([`KeyMap`]) compare short keys as two integers, and a candidate is never longer than the
//! longest token, so a word of n bytes costs at most n × (longest token) probes: linear in n.

use std::path::Path;

use rustc_hash::FxHashMap;

use crate::error::Error;
use crate::pipeline::{Token, TokenSink};
use crate::rules::BertConfig;
use crate::rules::{ASCII_BUF, AsciiBatch};
use crate::scan::utf8::sequence_len;
use crate::stats::Stats;
use crate::subword::Vocab;
use crate::subword::keymap::{INLINE, KeyMap, PREFIX_MASKS, Packed, SlotRef};

/// Settings of a WordPiece model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WordPieceConfig {
    /// The unknown token, `[UNK]`.
    pub unk_token: String,
    /// Prefix of non-initial pieces, `##`.
    pub continuing_subword_prefix: String,
    /// Longer words (in normalized characters) are `[UNK]`.
    pub max_input_chars_per_word: usize,
}

impl Default for WordPieceConfig {
    fn default() -> Self {
        WordPieceConfig {
            unk_token: "[UNK]".into(),
            continuing_subword_prefix: "##".into(),
            max_input_chars_per_word: 100,
        }
    }
}

/// A token produced by [`WordPiece::encode_word`]: its id and its byte range in the
/// normalized word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubToken {
    /// Token id.
    pub id: u32,
    /// Start byte in the normalized word.
    pub start: usize,
    /// End byte in the normalized word.
    pub end: usize,
}

/// A loaded WordPiece model together with the normalizer settings it was trained with.
#[derive(Clone, Debug)]
pub struct WordPiece {
    vocab: Vocab,
    initial: KeyMap,
    continuation: KeyMap,
    /// Which token lengths can start with a given three bytes, for each map (see
    /// [`LengthFilter`]).
    initial_lens: LengthFilter,
    continuation_lens: LengthFilter,
    /// The id of each CJK ideograph U+4E00..=U+9FFF as a whole word ([`CJK_UNK`] if it is
    /// `[UNK]`): the
    /// batch encoder's lookup for Chinese, with no hashing and no branch on the outcome.
    cjk_ids: Box<[u32]>,
    /// The ids of the tokens of one BMP character beyond ASCII, for the matcher.
    char_ids: CharIds,
    unk_id: u32,
    cfg: WordPieceConfig,
    normalizer: BertConfig,
}

/// The bert-base-uncased vocabulary embedded in the binary (see models/PROVENANCE.md).
pub const BERT_BASE_UNCASED_VOCAB: &[u8] =
    include_bytes!("../../models/bert-base-uncased-vocab.txt");

impl WordPiece {
    /// Build from `(token, id)` pairs. Later pairs win for a repeated token, as in HF.
    pub fn new<'a>(
        entries: impl IntoIterator<Item = (&'a [u8], u32)>,
        cfg: WordPieceConfig,
        normalizer: BertConfig,
    ) -> Result<Self, String> {
        let mut initial: FxHashMap<&[u8], u32> = FxHashMap::default();
        let mut by_id: Vec<Option<&[u8]>> = Vec::new();
        for (tok, id) in entries {
            initial.insert(tok, id);
            let i = id as usize;
            if i >= by_id.len() {
                by_id.resize(i + 1, None);
            }
            by_id[i] = Some(tok);
        }
        if initial.is_empty() {
            return Err("the vocabulary is empty".into());
        }
        // Each token once with its final id, in id order: frequent tokens first (see
        // `KeyMap::new`). Two tokens may share an id (a tokenizer.json can say so); both stay.
        let mut ordered: Vec<(&[u8], u32)> = initial.iter().map(|(&t, &id)| (t, id)).collect();
        ordered.sort_unstable_by_key(|&(t, id)| (id, t));
        let prefix = cfg.continuing_subword_prefix.as_bytes();
        let continued = || {
            ordered
                .iter()
                .filter_map(|&(t, id)| Some((t.strip_prefix(prefix)?, id)))
        };
        let continuation = KeyMap::new(continued());
        let Some(&unk_id) = initial.get(cfg.unk_token.as_bytes()) else {
            return Err(format!(
                "the unknown token '{}' is not in the vocabulary",
                cfg.unk_token
            ));
        };
        let initial_lens = LengthFilter::new(ordered.iter().map(|&(t, _)| t));
        let continuation_lens = LengthFilter::new(continued().map(|(t, _)| t));
        let initial = KeyMap::new(ordered.iter().copied());
        let vocab = Vocab::from_tokens(by_id);
        // A one-character word is [UNK] when the character is not a token, and when words
        // may have no characters at all (max_input_chars_per_word = 0).
        let cjk_ids = (CJK_FIRST..=CJK_LAST)
            .map(|cp| {
                let mut b = [0; 4];
                let c = char::from_u32(cp).expect("the CJK block has no surrogates");
                let id = initial.get(c.encode_utf8(&mut b).as_bytes());
                id.filter(|_| cfg.max_input_chars_per_word >= 1)
                    .unwrap_or(CJK_UNK)
            })
            .collect();
        let char_ids = CharIds::new(
            ordered
                .iter()
                .map(|&(t, _)| t)
                .chain(continued().map(|(t, _)| t)),
            &initial,
            &continuation,
        );
        Ok(WordPiece {
            vocab,
            initial,
            continuation,
            initial_lens,
            continuation_lens,
            cjk_ids,
            char_ids,
            unk_id,
            cfg,
            normalizer,
        })
    }

    /// Parse a `vocab.txt`: one token per line, id = line number (HF trims trailing
    /// whitespace of each line).
    pub fn from_vocab_txt(
        data: &[u8],
        cfg: WordPieceConfig,
        normalizer: BertConfig,
    ) -> Result<Self, String> {
        let text = std::str::from_utf8(data).map_err(|e| {
            format!(
                "not UTF-8 at byte offset {} (a vocab.txt is UTF-8 text)",
                e.valid_up_to()
            )
        })?;
        let mut lines: Vec<&str> = text.split('\n').collect();
        if lines.last() == Some(&"") {
            lines.pop();
        }
        let entries = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (l.trim_end().as_bytes(), i as u32));
        WordPiece::new(entries, cfg, normalizer)
    }

    /// Parse a Hugging Face `tokenizer.json` with a WordPiece model, a `BertNormalizer` (or
    /// none) and a `BertPreTokenizer`.
    pub fn from_tokenizer_json(data: &[u8]) -> Result<Self, String> {
        let j: serde_json::Value =
            serde_json::from_slice(data).map_err(|e| format!("invalid JSON: {e}"))?;
        let model = j.get("model").ok_or("no \"model\" object")?;
        let ty = model.get("type").and_then(|t| t.as_str()).unwrap_or("");
        if ty != "WordPiece" {
            return Err(format!("model type is '{ty}', expected 'WordPiece'"));
        }
        let mut cfg = WordPieceConfig::default();
        if let Some(u) = model.get("unk_token").and_then(|v| v.as_str()) {
            cfg.unk_token = u.to_string();
        }
        if let Some(p) = model
            .get("continuing_subword_prefix")
            .and_then(|v| v.as_str())
        {
            cfg.continuing_subword_prefix = p.to_string();
        }
        if let Some(m) = model
            .get("max_input_chars_per_word")
            .and_then(|v| v.as_u64())
        {
            cfg.max_input_chars_per_word = m as usize;
        }
        let normalizer = match j.get("normalizer") {
            None | Some(serde_json::Value::Null) => BertConfig {
                clean_text: false,
                handle_chinese_chars: false,
                strip_accents: false,
                lowercase: false,
                ..BertConfig::uncased()
            },
            Some(n) => {
                let nty = n.get("type").and_then(|t| t.as_str()).unwrap_or("");
                if nty != "BertNormalizer" {
                    return Err(format!(
                        "normalizer '{nty}' is not supported (BertNormalizer is)"
                    ));
                }
                let flag = |k: &str, d: bool| n.get(k).and_then(|v| v.as_bool()).unwrap_or(d);
                let lowercase = flag("lowercase", true);
                BertConfig {
                    clean_text: flag("clean_text", true),
                    handle_chinese_chars: flag("handle_chinese_chars", true),
                    // strip_accents: null follows lowercase.
                    strip_accents: flag("strip_accents", lowercase),
                    lowercase,
                    ..BertConfig::uncased()
                }
            }
        };
        match j
            .get("pre_tokenizer")
            .and_then(|p| p.get("type"))
            .and_then(|t| t.as_str())
        {
            Some("BertPreTokenizer") => {}
            other => {
                return Err(format!(
                    "pre_tokenizer '{}' is not supported (BertPreTokenizer is)",
                    other.unwrap_or("none")
                ));
            }
        }
        let vocab = model
            .get("vocab")
            .and_then(|v| v.as_object())
            .ok_or("no model.vocab map")?;
        let mut entries = Vec::with_capacity(vocab.len());
        for (tok, id) in vocab {
            let id = id
                .as_u64()
                .filter(|&i| i <= u32::MAX as u64)
                .ok_or_else(|| format!("model.vocab['{tok}'] is not a token id"))?;
            entries.push((tok.as_bytes(), id as u32));
        }
        WordPiece::new(entries, cfg, normalizer)
    }

    /// Load a model file: `*.json` as a `tokenizer.json`, anything else as a `vocab.txt`
    /// (uncased BERT normalizer unless the file name contains "cased" but not "uncased").
    pub fn from_path(path: &Path) -> crate::Result<Self> {
        let data = std::fs::read(path).map_err(|e| Error::from(e).with_path(path))?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let res = if is_json {
            WordPiece::from_tokenizer_json(&data)
        } else {
            let name = path.to_string_lossy().to_ascii_lowercase();
            let cased = name.contains("cased") && !name.contains("uncased");
            let norm = if cased {
                BertConfig::cased()
            } else {
                BertConfig::uncased()
            };
            WordPiece::from_vocab_txt(&data, WordPieceConfig::default(), norm)
        };
        res.map_err(|m| Error::bad_model(path, m))
    }

    /// The embedded bert-base-uncased model.
    pub fn bert_base_uncased() -> Self {
        WordPiece::from_vocab_txt(
            BERT_BASE_UNCASED_VOCAB,
            WordPieceConfig::default(),
            BertConfig::uncased(),
        )
        .expect("the embedded vocabulary is valid (tested)")
    }

    /// Token strings by id.
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// The id of `[UNK]`.
    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }

    /// The model settings.
    pub fn config(&self) -> &WordPieceConfig {
        &self.cfg
    }

    /// The normalizer this model expects.
    pub fn normalizer(&self) -> BertConfig {
        self.normalizer
    }

    /// The id of a whole token, if it is in the vocabulary.
    pub fn token_to_id(&self, token: &[u8]) -> Option<u32> {
        self.initial.get(token)
    }

    /// Split one normalized word (UTF-8 bytes) of `chars` characters into tokens appended to
    /// `out`. Returns false (and appends one `[UNK]` spanning the word) when the word cannot be
    /// split.
    pub fn encode_word(&self, word: &[u8], chars: usize, out: &mut Vec<SubToken>) -> bool {
        let unk = SubToken {
            id: self.unk_id,
            start: 0,
            end: word.len(),
        };
        if chars > self.cfg.max_input_chars_per_word {
            out.push(unk);
            return false;
        }
        let mark = out.len();
        let n = word.len();
        let mut start = 0;
        while start < n {
            let (map, filter) = if start == 0 {
                (&self.initial, &self.initial_lens)
            } else {
                (&self.continuation, &self.continuation_lens)
            };
            // Candidates from the longest down: no token is longer than max_len; lengths of 32
            // bytes and more (rare vocabularies) one character at a time, shorter ones only
            // where the length filter allows, on character boundaries.
            let longest = (n - start).min(map.max_len());
            let b0 = word[start];
            if (0xC2..0xF0).contains(&b0) && longest < 32 {
                // A character of two or three bytes (the BMP beyond ASCII): when no token
                // longer than the character starts with its bytes, the character is the one
                // candidate, and its id comes from the code-point table (most characters of
                // CJK, kana and other non-Latin words).
                let clen = sequence_len(b0);
                let longer = filter.lengths_of(&word[start..]) & ((2u64 << longest) - 1) as u32;
                if clen <= n - start && longer >> (clen + 1) == 0 {
                    let id = self.char_ids.get(&word[start..start + clen], start > 0);
                    if id == NO_ID {
                        out.truncate(mark);
                        out.push(unk);
                        return false;
                    }
                    out.push(SubToken {
                        id,
                        start,
                        end: start + clen,
                    });
                    start += clen;
                    continue;
                }
            }
            let probe = |end: usize| {
                let cand = &word[start..end];
                if cand.len() <= INLINE {
                    map.get_packed(Packed::new(cand))
                } else {
                    map.get(cand)
                }
            };
            let mut found = None;
            let mut end = start + longest;
            while end - start >= 32 {
                if is_char_boundary(word, end)
                    && let Some(id) = probe(end)
                {
                    found = Some((id, end));
                    break;
                }
                end -= 1;
            }
            if found.is_none() {
                let below = (end - start).min(31);
                let mut lens = filter.lengths_of(&word[start..]) & ((2u64 << below) - 2) as u32;
                while lens != 0 {
                    let len = 31 - lens.leading_zeros() as usize;
                    lens &= !(1 << len);
                    if is_char_boundary(word, start + len)
                        && let Some(id) = probe(start + len)
                    {
                        found = Some((id, start + len));
                        break;
                    }
                }
            }
            let found = found.map(|(id, e)| {
                end = e;
                id
            });
            match found {
                Some(id) => out.push(SubToken { id, start, end }),
                None => {
                    out.truncate(mark);
                    out.push(unk);
                    return false;
                }
            }
            start = end;
        }
        true
    }
}

/// For each triple of first bytes (hashed to 4096 buckets: 16 KiB), the set of byte lengths (bit `l`
/// for `l`, 3 to 31) of the tokens that start with a triple in that bucket.
///
/// The greedy matcher tries candidates from the longest down; most lengths have no token with
/// the candidate's first three bytes, and the filter skips their probes (for a run of kana,
/// every length but one character's). Lengths 1 and 2 and lengths from 32 up are always
/// tried, and a bucket shared by several triples only lets more lengths through, so the
/// result cannot change.
#[derive(Clone, Debug)]
struct LengthFilter(Box<[u32; LENGTH_BUCKETS]>);

/// Buckets of a [`LengthFilter`] (a power of two).
const LENGTH_BUCKETS: usize = 1 << 12;

impl LengthFilter {
    /// Lengths the filter never rules out: 1 and 2.
    const ALWAYS: u32 = 0b110;

    fn new<'a>(tokens: impl Iterator<Item = &'a [u8]>) -> Self {
        let mut f = LengthFilter(Box::new([0; LENGTH_BUCKETS]));
        for t in tokens {
            if (3..32).contains(&t.len()) {
                f.0[Self::bucket(t[0], t[1], t[2])] |= 1 << t.len();
            }
        }
        f
    }

    #[inline(always)]
    fn bucket(b0: u8, b1: u8, b2: u8) -> usize {
        let x = u32::from(b0) | u32::from(b1) << 8 | u32::from(b2) << 16;
        (x.wrapping_mul(0x9E37_79B1) >> (32 - LENGTH_BUCKETS.trailing_zeros())) as usize
    }

    /// The lengths below 32 worth probing for a candidate starting with `b0 b1 b2` (the
    /// bytes after the end of the text may be anything: only lengths 1 and 2 depend on
    /// fewer than three bytes).
    #[inline(always)]
    fn lengths(&self, b0: u8, b1: u8, b2: u8) -> u32 {
        self.0[Self::bucket(b0, b1, b2)] | Self::ALWAYS
    }

    /// [`LengthFilter::lengths`] for the candidates starting at `rest[0]`.
    #[inline(always)]
    fn lengths_of(&self, rest: &[u8]) -> u32 {
        match rest {
            [b0, b1, b2, ..] => self.lengths(*b0, *b1, *b2),
            _ => Self::ALWAYS,
        }
    }
}

/// `KEY_MASKS[n]`: [`PREFIX_MASKS`], with all 16 bytes for `n = INLINE + 1` (a long word's
/// unmatchable key).
const KEY_MASKS: [[u64; 2]; INLINE + 2] = {
    let mut m = [[u64::MAX; 2]; INLINE + 2];
    let mut n = 0;
    while n <= INLINE {
        m[n] = PREFIX_MASKS[n];
        n += 1;
    }
    m
};

impl WordPiece {
    /// [`WordPiece::encode_word`] for an ASCII word of 1 to [`INLINE`] bytes given as its
    /// packed key: the same tokens, with every candidate cut from the key in registers and
    /// only the candidate lengths the [`LengthFilter`] lets through probed.
    fn encode_short_ascii(&self, word: Packed, out: &mut Vec<SubToken>) -> bool {
        debug_assert!(!word.is_empty() && word.len() <= INLINE);
        let n = word.len();
        let (lo, hi) = word.words();
        let w = u128::from(lo) | u128::from(hi) << 64;
        let mark = out.len();
        let mut start = 0;
        while start < n {
            let (map, filter) = if start == 0 {
                (&self.initial, &self.initial_lens)
            } else {
                (&self.continuation, &self.continuation_lens)
            };
            let rest = w >> (8 * start);
            let (rest_lo, rest_hi) = (rest as u64, (rest >> 64) as u64);
            // Lengths 1..=n - start.
            let mut lens = filter.lengths(rest as u8, (rest >> 8) as u8, (rest >> 16) as u8)
                & ((2 << (n - start)) - 2);
            // The candidates' probes depend on nothing but the word: start them all (each is
            // likely a cache miss) before resolving the first.
            // (Each candidate is its key, cut from `rest` with a mask from a table, and its
            // home slot.)
            let mut cands = [(Packed::new(&[]), 0usize); INLINE];
            let mut m = 0;
            while lens != 0 {
                let len = 31 - lens.leading_zeros() as usize;
                lens &= !(1 << len);
                let [mask_lo, mask_hi] = PREFIX_MASKS[len];
                let cand = Packed::from_parts(rest_lo & mask_lo, rest_hi & mask_hi, len);
                cands[m] = (cand, map.start(cand));
                m += 1;
            }
            let found = cands[..m]
                .iter()
                .find_map(|&(cand, home)| Some((map.get_from(cand, home)?, cand.len())));
            let Some((id, len)) = found else {
                out.truncate(mark);
                out.push(SubToken {
                    id: self.unk_id,
                    start: 0,
                    end: n,
                });
                return false;
            };
            out.push(SubToken {
                id,
                start,
                end: start + len,
            });
            start += len;
        }
        true
    }
}

/// Most tokens a cached word may have.
const CACHE_TOKENS: usize = 4;
/// Cache entries (a power of two): 4096 × 56 bytes = 224 KiB, within L2 next to the vocabulary.
const CACHE_ENTRIES: usize = 4096;

#[derive(Clone, Copy, Default)]
struct CacheEntry {
    /// `None` for an empty entry.
    key: Option<Packed>,
    n: u8,
    ok: bool,
    ends: [u8; CACHE_TOKENS],
    ids: [u32; CACHE_TOKENS],
}

/// A bounded per-worker cache from a normalized word (at most 16 bytes) to its tokens.
///
/// Word frequencies are Zipfian: a few thousand words make up most of any text, and the cache
/// keeps their splits in L1/L2 so a repeated word costs one probe instead of one per candidate.
/// Direct-mapped: a new word evicts whatever shared its slot. Memory is fixed (224 KiB).
pub struct WordCache {
    entries: Box<[CacheEntry]>,
    /// The batch encoder's lowercased copy of a batch's text.
    lowered: Vec<u8>,
    /// The batch encoder's token buffer (see [`GroupTokens`]): [`GROUP_TOKENS`] entries once
    /// used.
    toks: Vec<Token>,
}

impl WordCache {
    /// The entry of `key`, if cached.
    #[inline(always)]
    fn get(&self, key: Packed) -> Option<&CacheEntry> {
        let e = &self.entries[key.slot(CACHE_ENTRIES)];
        (e.key == Some(key)).then_some(e)
    }
}

impl Default for WordCache {
    fn default() -> Self {
        WordCache {
            entries: vec![CacheEntry::default(); CACHE_ENTRIES].into_boxed_slice(),
            lowered: Vec::new(),
            toks: Vec::new(),
        }
    }
}

impl WordPiece {
    /// [`WordPiece::encode_word`] through a [`WordCache`]: same result, faster on repeats.
    ///
    /// The whole word is looked up first (it is the greedy algorithm's first candidate, and
    /// most words are a single token); the cache only holds words of several tokens.
    #[inline]
    pub fn encode_word_cached(
        &self,
        word: &[u8],
        chars: usize,
        cache: &mut WordCache,
        out: &mut Vec<SubToken>,
    ) -> bool {
        if word.is_empty() || word.len() > INLINE || chars > self.cfg.max_input_chars_per_word {
            return self.encode_word(word, chars, out);
        }
        let key = Packed::new(word);
        if let Some(id) = self.initial.get_packed(key) {
            out.push(SubToken {
                id,
                start: 0,
                end: word.len(),
            });
            return true;
        }
        self.encode_multi_cached(word, chars, key, cache, out)
    }

    /// The rest of [`WordPiece::encode_word_cached`] once the whole word (packed as `key`) is
    /// known not to be one token.
    #[inline]
    fn encode_multi_cached(
        &self,
        word: &[u8],
        chars: usize,
        key: Packed,
        cache: &mut WordCache,
        out: &mut Vec<SubToken>,
    ) -> bool {
        let slot = &mut cache.entries[key.slot(CACHE_ENTRIES)];
        if slot.key == Some(key) {
            let mut start = 0;
            for k in 0..slot.n as usize {
                let end = slot.ends[k] as usize;
                out.push(SubToken {
                    id: slot.ids[k],
                    start,
                    end,
                });
                start = end;
            }
            return slot.ok;
        }
        let mark = out.len();
        let (lo, hi) = key.words();
        let ok = if (lo | hi) & 0x8080_8080_8080_8080 == 0 {
            self.encode_short_ascii(key, out)
        } else {
            self.encode_word(word, chars, out)
        };
        let new = &out[mark..];
        if new.len() <= CACHE_TOKENS {
            let mut e = CacheEntry {
                key: Some(key),
                n: new.len() as u8,
                ok,
                ..Default::default()
            };
            for (k, t) in new.iter().enumerate() {
                e.ends[k] = t.end as u8;
                e.ids[k] = t.id;
            }
            *slot = e;
        }
        ok
    }
}

/// [`CharIds`] entry of a character that is not a token.
const NO_ID: u32 = u32::MAX;

/// The ids of the one-character tokens of the BMP beyond ASCII (U+0080..U+FFFF), as a word
/// start and as a continuation: the lookups of [`KeyMap`] for those candidates, by code point.
/// Two levels: pages of 256 code points (2 KiB), only where some token is.
#[derive(Clone, Debug)]
struct CharIds {
    /// Page of each block of 256 code points; page 0 has no token.
    index: Box<[u16; 256]>,
    pages: Vec<[[u32; 2]; 256]>,
}

impl CharIds {
    /// From the tokens (whole-word and continuation, prefix stripped) and the two maps.
    fn new<'a>(
        tokens: impl Iterator<Item = &'a [u8]>,
        initial: &KeyMap,
        continuation: &KeyMap,
    ) -> Self {
        let mut t = CharIds {
            index: Box::new([0; 256]),
            pages: vec![[[NO_ID; 2]; 256]],
        };
        for tok in tokens {
            // (Two or three bytes, the first a lead byte: most tokens are ASCII.)
            if !(2..=3).contains(&tok.len()) || tok[0] < 0xC2 {
                continue;
            }
            let Ok(s) = std::str::from_utf8(tok) else {
                continue;
            };
            let mut cs = s.chars();
            let (Some(c), None) = (cs.next(), cs.next()) else {
                continue;
            };
            let cp = c as usize;
            if !(0x80..0x1_0000).contains(&cp) {
                continue;
            }
            if t.index[cp >> 8] == 0 {
                t.index[cp >> 8] = u16::try_from(t.pages.len()).expect("at most 256 pages");
                t.pages.push([[NO_ID; 2]; 256]);
            }
            let page = t.index[cp >> 8] as usize;
            t.pages[page][cp & 255] = [
                initial.get(tok).unwrap_or(NO_ID),
                continuation.get(tok).unwrap_or(NO_ID),
            ];
        }
        t
    }

    /// The id of the character `c` (its 2 or 3 UTF-8 bytes) as a continuation or not, or
    /// [`NO_ID`].
    #[inline(always)]
    fn get(&self, c: &[u8], continued: bool) -> u32 {
        let cp = match *c {
            [a, b] => usize::from(a & 0x1F) << 6 | usize::from(b & 0x3F),
            [a, b, c] => {
                usize::from(a & 0x0F) << 12 | usize::from(b & 0x3F) << 6 | usize::from(c & 0x3F)
            }
            _ => return NO_ID,
        };
        self.pages[self.index[cp >> 8] as usize][cp & 255][usize::from(continued)]
    }
}

/// The CJK block of [`WordPiece::cjk_ids`] (its lead bytes are E4 B8 .. E9 BF).
const CJK_FIRST: u32 = 0x4E00;
/// [`WordPiece::cjk_ids`] entry of an ideograph whose word is `[UNK]` (not an id: the unknown
/// token itself may be an ideograph, and then it is a token found, not an `[UNK]` counted).
const CJK_UNK: u32 = u32::MAX;
const CJK_LAST: u32 = 0x9FFF;

/// Pieces whose vocabulary probes are issued together (enough to cover memory latency, few
/// enough to stay in registers and L1); the tokens of a group go to the sink as one run.
const PROBE_GROUP: usize = 32;

/// Room of pass 2's token buffer: every piece of a group writes at most [`CACHE_TOKENS`]
/// tokens there (a word of more tokens goes to the run itself).
const GROUP_TOKENS: usize = PROBE_GROUP * CACHE_TOKENS;

/// Pass 2 of [`WordPiece::encode_ascii_batch`] writes the tokens of a group to this buffer
/// (kept in the [`WordCache`]) with a count kept in a register, so that a one-token piece
/// costs three stores and no `Vec` length or capacity reload. The buffer goes to the sink
/// directly at a line end and at the end of the group, or to the run first if the run
/// already holds tokens (of a word with more than [`CACHE_TOKENS`]).
type GroupTokens = [Token; GROUP_TOKENS];

/// Hand `run` to `out` (one call per run: see [`TokenSink::tokens`]) and count it.
#[inline(always)]
fn flush<T: TokenSink + ?Sized>(
    run: &mut Vec<Token>,
    out: &mut T,
    stats: &mut Stats,
) -> crate::Result<()> {
    if !run.is_empty() {
        stats.tokens += run.len() as u64;
        out.tokens(run)?;
        run.clear();
    }
    Ok(())
}

impl WordPiece {
    /// Encode a batch of pieces from the vector scanner (see [`AsciiBatch`]): same tokens as
    /// encoding each piece with [`WordPiece::encode_word_cached`], faster.
    ///
    /// Most pieces are one token. For a group of pieces, pass 1 packs each (one masked
    /// 16-byte load, lowercased in registers) and touches its vocabulary slot, so the cache
    /// misses of the whole group are in flight at once; pass 2 looks them up, now mostly in
    /// cache, and appends the hits to a run of tokens that goes to the sink in one call.
    /// Pieces that are not one token go the general way (the word cache, then the matcher).
    #[allow(clippy::too_many_arguments)]
    pub fn encode_ascii_batch<T: TokenSink + ?Sized>(
        &self,
        batch: &AsciiBatch<'_>,
        cache: &mut WordCache,
        subs: &mut Vec<SubToken>,
        run: &mut Vec<Token>,
        out: &mut T,
        stats: &mut Stats,
    ) -> crate::Result<()> {
        let n = batch.len();
        // The keys come from a lowercased copy of the batch's text (the vectorized loop costs
        // far less than lowercasing each key), with 16 bytes of padding so that every key is
        // one masked load.
        let used = batch.ends.last().map_or(0, |&e| e as usize);
        let lowered = &mut cache.lowered;
        lowered.clear();
        lowered.extend_from_slice(&batch.text[..used]);
        if batch.lowercase {
            lowered.iter_mut().for_each(|b| *b = b.to_ascii_lowercase());
        }
        lowered.extend_from_slice(&[0; INLINE]);
        let lowered = std::mem::take(lowered);
        let text = &lowered[..];
        let mut buf = Vec::new();
        let mut toks_buf = std::mem::take(&mut cache.toks);
        if toks_buf.len() != GROUP_TOKENS {
            toks_buf = vec![
                Token {
                    id: 0,
                    start: 0,
                    end: 0,
                };
                GROUP_TOKENS
            ];
        }
        let toks: &mut GroupTokens = (&mut toks_buf[..]).try_into().unwrap();
        let mut keys = [Packed::new(&[]); PROBE_GROUP];
        let mut homes = [(0usize, SlotRef::empty()); PROBE_GROUP];
        run.clear();
        let limit = INLINE.min(self.cfg.max_input_chars_per_word);
        let mut g0 = 0;
        while g0 < n {
            let g1 = (g0 + PROBE_GROUP).min(n);
            let (starts, ends) = (&batch.starts[g0..g1], &batch.ends[g0..g1]);
            let lead_or = if limit == INLINE {
                self.pack_group::<true>(text, starts, ends, limit, &mut keys, &mut homes)
            } else {
                self.pack_group::<false>(text, starts, ends, limit, &mut keys, &mut homes)
            };
            // The CJK table lookup costs English text a few percent: only groups with a
            // piece that may be an ideograph get the loop that has it.
            let group = (g0, &keys[..g1 - g0], &homes[..g1 - g0]);
            let res = if lead_or >= 0xE4 {
                self.resolve_group_cjk(batch, group, cache, subs, &mut buf, toks, run, out, stats)
            } else {
                self.resolve_group::<false, T>(
                    batch, group, cache, subs, &mut buf, toks, run, out, stats,
                )
            };
            if let Err(e) = res.and_then(|()| flush(run, out, stats)) {
                cache.lowered = lowered;
                cache.toks = toks_buf;
                return Err(e);
            }
            g0 = g1;
        }
        cache.lowered = lowered;
        cache.toks = toks_buf;
        stats.pieces += (n - batch.line_ends) as u64;
        Ok(())
    }

    /// Pass 1 of [`Self::encode_ascii_batch`] for the pieces `starts`/`ends` of the lowered
    /// text `text`: their keys and prefetched home slots; returns the OR of their first
    /// bytes. `FULL`: `limit` is [`INLINE`], so that one table entry gives both the mask
    /// and the unmatchable length of a long word.
    #[inline(always)]
    fn pack_group<'a, const FULL: bool>(
        &'a self,
        text: &[u8],
        starts: &[u32],
        ends: &[u32],
        limit: usize,
        keys: &mut [Packed; PROBE_GROUP],
        homes: &mut [(usize, SlotRef<'a>); PROBE_GROUP],
    ) -> u8 {
        let mut lead_or = 0;
        let spans = starts.iter().zip(ends);
        for ((&s, &e), (key_out, home_out)) in spans.zip(keys.iter_mut().zip(homes)) {
            let (s, len) = (s as usize, (e - s) as usize);
            // Every entry gets a key (line ends and long words too, never looked up):
            // no branch here.
            // A word of at most `limit` bytes has at most `limit` characters: its whole
            // key is the greedy algorithm's first candidate. Longer words (and line
            // ends: never looked up) get a key that matches nothing.
            let key = if FULL {
                // (The text has 16 bytes of padding after the last piece.)
                let w = &text[s..s + INLINE];
                let n = len.min(INLINE + 1);
                let [m_lo, m_hi] = KEY_MASKS[n];
                let lo = u64::from_le_bytes(w[..8].try_into().unwrap()) & m_lo;
                let hi = u64::from_le_bytes(w[8..].try_into().unwrap()) & m_hi;
                Packed::from_parts_or_unmatchable(lo, hi, n)
            } else {
                Packed::at(text, s, len.min(INLINE)).unmatchable_if(len > limit)
            };
            // The first byte (lowercasing leaves bytes >= 0x80 alone).
            lead_or |= key.words().0 as u8;
            *key_out = key;
            *home_out = self.initial.start_ref(key);
        }
        lead_or
    }

    /// [`Self::resolve_group`] with the CJK table, out of line so that the ASCII loop stays
    /// small.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn resolve_group_cjk<T: TokenSink + ?Sized>(
        &self,
        batch: &AsciiBatch<'_>,
        group: (usize, &[Packed], &[(usize, SlotRef<'_>)]),
        cache: &mut WordCache,
        subs: &mut Vec<SubToken>,
        buf: &mut Vec<u8>,
        toks: &mut GroupTokens,
        run: &mut Vec<Token>,
        out: &mut T,
        stats: &mut Stats,
    ) -> crate::Result<()> {
        self.resolve_group::<true, T>(batch, group, cache, subs, buf, toks, run, out, stats)
    }

    /// Pass 2 of [`Self::encode_ascii_batch`] for the group of pieces from `group.0` with
    /// their keys and home slots; `CJK`: some piece may be a CJK ideograph.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    // (`emit!` and `drain!` reset the count, whether or not it is used again.)
    #[allow(unused_assignments)]
    fn resolve_group<const CJK: bool, T: TokenSink + ?Sized>(
        &self,
        batch: &AsciiBatch<'_>,
        group: (usize, &[Packed], &[(usize, SlotRef<'_>)]),
        cache: &mut WordCache,
        subs: &mut Vec<SubToken>,
        buf: &mut Vec<u8>,
        toks: &mut GroupTokens,
        run: &mut Vec<Token>,
        out: &mut T,
        stats: &mut Stats,
    ) -> crate::Result<()> {
        let (g0, keys, homes) = group;
        // `toks[..nt]`: the tokens not yet in `run`.
        let mut nt = 0;
        macro_rules! push {
            ($t:expr) => {{
                toks[nt] = $t;
                nt += 1;
            }};
        }
        macro_rules! drain {
            () => {{
                run.extend_from_slice(&toks[..nt]);
                nt = 0;
            }};
        }
        // Hand everything so far to the sink: `toks` directly when the run is empty (the
        // common case: no copy).
        macro_rules! emit {
            () => {{
                if run.is_empty() {
                    if nt > 0 {
                        stats.tokens += nt as u64;
                        out.tokens(&toks[..nt])?;
                    }
                } else {
                    drain!();
                    flush(run, out, stats)?;
                }
                nt = 0;
            }};
        }
        let text = batch.text;
        let g1 = g0 + keys.len();
        let spans = batch.starts[g0..g1].iter().zip(&batch.ends[g0..g1]);
        for (i, ((&s, &e), (&key, &(home, slot)))) in spans.zip(keys.iter().zip(homes)).enumerate()
        {
            let (s, e) = (s as usize, e as usize);
            // (The key's first byte is the piece's.)
            if key.words().0 as u8 == b'\n' {
                emit!();
                out.line_end()?;
                continue;
            }
            let (start, end) = (batch.abs + s as u64, batch.abs + e as u64);
            if CJK && e - s == 3 && (0xE4..=0xE9).contains(&text[s]) {
                // A three-byte character with a CJK lead (the batch's sequences are
                // valid UTF-8): straight from the table when it is in the block.
                let cp = u32::from(text[s] & 0x0F) << 12
                    | u32::from(text[s + 1] & 0x3F) << 6
                    | u32::from(text[s + 2] & 0x3F);
                if let Some(&id) = self.cjk_ids.get(cp.wrapping_sub(CJK_FIRST) as usize) {
                    let unk = id == CJK_UNK;
                    stats.unk += u64::from(unk);
                    let id = if unk { self.unk_id } else { id };
                    push!(Token { id, start, end });
                    continue;
                }
            }
            // (Words longer than `limit` have an unmatchable key: see pass 1.)
            // Most pieces are a token of at most 8 bytes in its home slot: checked first,
            // with no index arithmetic (a longer key's `slot` is empty).
            if let Some(id) = slot.id_of(key) {
                push!(Token { id, start, end });
                continue;
            }
            if let Some(id) = self.initial.get_from(key, home) {
                push!(Token { id, start, end });
                continue;
            }
            let has_key = key.len() <= INLINE;
            if has_key {
                // One character that is not a token: no shorter candidate exists, so the
                // word is [UNK] (most often an ideograph missing from the vocabulary).
                if e - s == sequence_len(text[s]) {
                    stats.unk += 1;
                    push!(Token {
                        id: self.unk_id,
                        start,
                        end,
                    });
                    continue;
                }
            }
            // A multi-token word seen before: straight from the word cache (inline: a cache
            // hit is the common case of the words that get this far).
            if has_key && let Some(hit) = cache.get(key) {
                if hit.ok {
                    let mut from = start;
                    for (&e, &id) in hit.ends.iter().zip(&hit.ids).take(hit.n as usize) {
                        let to = start + u64::from(e);
                        push!(Token {
                            id,
                            start: from,
                            end: to,
                        });
                        from = to;
                    }
                } else {
                    stats.unk += 1;
                    push!(Token {
                        id: self.unk_id,
                        start,
                        end,
                    });
                }
                continue;
            }
            let key = has_key.then_some(key);
            if !self.encode_batch_piece(batch, g0 + i, key, cache, subs, buf, stats) {
                push!(Token {
                    id: self.unk_id,
                    start,
                    end,
                });
                continue;
            }
            let tok = |t: &SubToken| Token {
                id: t.id,
                start: start + t.start as u64,
                end: start + t.end as u64,
            };
            if subs.len() <= CACHE_TOKENS {
                for t in subs.iter() {
                    push!(tok(t));
                }
            } else {
                drain!();
                run.extend(subs.iter().map(tok));
            }
        }
        emit!();
        Ok(())
    }

    /// Piece `k` of a batch that is not one whole-word token nor in the word cache: its
    /// tokens in `subs` (offsets from the piece's start), or false for `[UNK]` (counted).
    /// `key`: the packed word, if it fits one.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn encode_batch_piece(
        &self,
        batch: &AsciiBatch<'_>,
        k: usize,
        key: Option<Packed>,
        cache: &mut WordCache,
        subs: &mut Vec<SubToken>,
        buf: &mut Vec<u8>,
        stats: &mut Stats,
    ) -> bool {
        subs.clear();
        let ok = match key {
            Some(key) => {
                // A cache miss (the caller looked): the key holds the normalized word (the
                // batch's words normalize to their ASCII lowercase).
                let (bytes, len) = key.to_bytes();
                self.encode_multi_cached(&bytes[..len], batch.chars(k), key, cache, subs)
            }
            None => {
                let chars = batch.chars(k);
                if chars > self.cfg.max_input_chars_per_word {
                    stats.unk += 1;
                    return false;
                }
                if buf.capacity() == 0 {
                    buf.reserve(ASCII_BUF);
                }
                self.encode_word(batch.piece(k, buf).normalized, chars, subs)
            }
        };
        stats.unk += u64::from(!ok);
        ok
    }
}

/// True if `i` is the end of `b` or the first byte of a UTF-8 character.
#[inline]
fn is_char_boundary(b: &[u8], i: usize) -> bool {
    i >= b.len() || (b[i] & 0xC0) != 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(wp: &WordPiece, w: &str) -> Vec<u32> {
        let mut out = Vec::new();
        wp.encode_word(w.as_bytes(), w.chars().count(), &mut out);
        out.iter().map(|t| t.id).collect()
    }

    fn id(wp: &WordPiece, t: &str) -> u32 {
        wp.token_to_id(t.as_bytes()).unwrap()
    }

    #[test]
    fn embedded_vocab_loads() {
        let wp = WordPiece::bert_base_uncased();
        assert_eq!(wp.vocab().len(), 30522);
        assert_eq!(wp.unk_id(), 100);
        assert_eq!(wp.vocab().token(101), Some(&b"[CLS]"[..]));
    }

    #[test]
    fn greedy_longest_match_with_continuations() {
        let wp = WordPiece::bert_base_uncased();
        assert_eq!(ids(&wp, "hello"), [id(&wp, "hello")]);
        let d = ids(&wp, "tokenization");
        assert!(d.len() > 1, "{d:?}");
        assert_eq!(d[0], id(&wp, "token"));
        assert_eq!(d[1], id(&wp, "##ization"));
    }

    /// HF's greedy longest match, transcribed plainly (a new string per candidate, every
    /// length tried): `(ids, ok)` of an ASCII word under bert-base-uncased.
    fn plain_greedy(wp: &WordPiece, word: &[u8]) -> (Vec<u32>, bool) {
        let mut ids = Vec::new();
        let mut start = 0;
        while start < word.len() {
            let found = (start + 1..=word.len()).rev().find_map(|end| {
                let mut cand = if start > 0 {
                    b"##".to_vec()
                } else {
                    Vec::new()
                };
                cand.extend_from_slice(&word[start..end]);
                Some((wp.token_to_id(&cand)?, end))
            });
            let Some((id, end)) = found else {
                return (vec![wp.unk_id()], false);
            };
            ids.push(id);
            start = end;
        }
        (ids, true)
    }

    /// The register matcher for short ASCII words (with the length filter) equals HF's plain
    /// greedy match: on words glued from vocabulary pieces (so most split into several
    /// tokens), with characters that no token continues with, at every length up to the
    /// inline limit; and so does the general matcher.
    #[test]
    fn short_ascii_matcher_equals_the_plain_greedy_match() {
        let wp = WordPiece::bert_base_uncased();
        let pieces: Vec<&[u8]> = (0..wp.vocab().len() as u32)
            .filter_map(|id| wp.vocab().token(id))
            .map(|t| t.strip_prefix(b"##").unwrap_or(t))
            .filter(|t| !t.is_empty() && t.is_ascii() && t.len() <= 6)
            .collect();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..100_000 {
            let mut w = Vec::new();
            while w.len() < 1 + (i % INLINE) {
                let p = pieces[next() as usize % pieces.len()];
                w.extend_from_slice(p);
                if next() % 16 == 0 {
                    w.push(b"!q~z\x01"[next() as usize % 5]);
                }
            }
            w.truncate(INLINE);
            let want = plain_greedy(&wp, &w);
            let (mut fast, mut general) = (Vec::new(), Vec::new());
            let ok = wp.encode_short_ascii(Packed::new(&w), &mut fast);
            let ok2 = wp.encode_word(&w, w.len(), &mut general);
            let ids = |v: &[SubToken]| v.iter().map(|t| t.id).collect::<Vec<_>>();
            let word = String::from_utf8_lossy(&w);
            assert_eq!((ids(&fast), ok), want, "{word:?}");
            assert_eq!((ids(&general), ok2), want, "{word:?}");
            assert_eq!(fast, general, "{word:?}");
        }
    }

    /// The code-point table path of the matcher (characters of two and three bytes) equals the
    /// plain greedy match on a vocabulary of its own: one-character tokens of both lengths as
    /// word starts and continuations, tokens of several non-ASCII characters (the length
    /// filter must send those to the general candidates), tokens sharing an id, characters
    /// missing from the vocabulary; with the `##` prefix and with an empty one.
    #[test]
    fn character_table_matcher_equals_the_plain_greedy_match() {
        let alphabet = [
            "が", "か", "é", "ж", "中", "a", "ガ", "€", "\u{7ff}", "\u{800}", "ß",
        ];
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for prefix in ["##", ""] {
            for round in 0..20 {
                let mut toks: Vec<String> = vec!["[UNK]".into()];
                for _ in 0..30 {
                    let len = 1 + next(3) * next(2);
                    let t: String = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
                    let cont = next(2) == 0;
                    toks.push(if cont { format!("{prefix}{t}") } else { t });
                }
                // Some tokens share an id.
                let pairs: Vec<(&[u8], u32)> = toks
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (t.as_bytes(), if i > 0 && i % 7 == 0 { 1 } else { i as u32 }))
                    .collect();
                let cfg = WordPieceConfig {
                    continuing_subword_prefix: prefix.into(),
                    ..WordPieceConfig::default()
                };
                let wp = WordPiece::new(pairs, cfg, BertConfig::uncased()).unwrap();
                for _ in 0..300 {
                    let w: String = (0..1 + next(8))
                        .map(|_| alphabet[next(alphabet.len())])
                        .collect();
                    let w = w.as_bytes();
                    let mut ids = Vec::new();
                    let mut start = 0;
                    let mut ok = true;
                    while start < w.len() {
                        let found = (start + 1..=w.len()).rev().find_map(|end| {
                            let mut cand = if start > 0 {
                                prefix.as_bytes().to_vec()
                            } else {
                                Vec::new()
                            };
                            cand.extend_from_slice(&w[start..end]);
                            Some((wp.token_to_id(&cand)?, end))
                        });
                        let Some((id, end)) = found else {
                            ok = false;
                            break;
                        };
                        ids.push(id);
                        start = end;
                    }
                    let want = if ok { ids } else { vec![wp.unk_id()] };
                    let mut got = Vec::new();
                    let chars = std::str::from_utf8(w).unwrap().chars().count();
                    assert_eq!(wp.encode_word(w, chars, &mut got), ok);
                    let got: Vec<u32> = got.iter().map(|t| t.id).collect();
                    let word = String::from_utf8_lossy(w);
                    assert_eq!(got, want, "round {round} prefix {prefix:?} word {word:?}");
                }
            }
        }
    }

    /// Two tokens may share an id (a tokenizer.json may say so): both are tokens.
    #[test]
    fn tokens_sharing_an_id_are_both_found() {
        let pairs: [(&[u8], u32); 4] = [(b"[UNK]", 0), (b"a", 1), (b"b", 1), (b"##c", 1)];
        let wp = WordPiece::new(pairs, WordPieceConfig::default(), BertConfig::uncased()).unwrap();
        assert_eq!(wp.token_to_id(b"a"), Some(1));
        assert_eq!(wp.token_to_id(b"b"), Some(1));
        assert_eq!(ids(&wp, "bc"), [1, 1]);
    }

    /// A token listed twice keeps its later id, in the whole-word map and the continuation
    /// map alike, as in HF.
    #[test]
    fn a_repeated_token_keeps_its_later_id() {
        let pairs: [(&[u8], u32); 6] = [
            (b"a", 0),
            (b"##b", 1),
            (b"a", 2),
            (b"[UNK]", 3),
            (b"##b", 4),
            (b"ab", 5),
        ];
        let wp = WordPiece::new(pairs, WordPieceConfig::default(), BertConfig::uncased()).unwrap();
        assert_eq!(wp.token_to_id(b"a"), Some(2));
        assert_eq!(ids(&wp, "ab"), [5]);
        assert_eq!(ids(&wp, "abb"), [5, 4]);
        assert_eq!(ids(&wp, "abx"), [3]);
    }

    #[test]
    fn unknown_char_or_long_word_is_one_unk() {
        let wp = WordPiece::bert_base_uncased();
        assert_eq!(ids(&wp, "a\u{2603}b"), [100]);
        let long = "a".repeat(101);
        assert_eq!(ids(&wp, &long), [100]);
        assert_ne!(ids(&wp, &long[..100]), [100]);
    }
}
