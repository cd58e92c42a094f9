//! Hugging Face's WordPiece, transcribed: `HashMap<String, u32>`, a new `String` per candidate
//! (prefix + substring), greedy longest match from the left, stepping back one char at a time;
//! one position without a match, or more than `max_input_chars_per_word` chars, makes the whole
//! word one `[UNK]` spanning it. Quadratic per word, on purpose.

use std::collections::HashMap;

/// A reference WordPiece model.
pub struct RefWordPiece {
    /// Token → id; a repeated token keeps the LAST id (HF reads vocab.txt into a map in order).
    pub vocab: HashMap<String, u32>,
    /// `[UNK]`'s id.
    pub unk_id: u32,
    /// `##`.
    pub prefix: String,
    /// 100.
    pub max_chars: usize,
}

impl RefWordPiece {
    /// From `(token, id)` pairs in file order.
    pub fn new(
        tokens: &[(String, u32)],
        unk: &str,
        prefix: &str,
        max_chars: usize,
    ) -> Option<Self> {
        let mut vocab = HashMap::new();
        for (t, id) in tokens {
            vocab.insert(t.clone(), *id);
        }
        let unk_id = *vocab.get(unk)?;
        Some(RefWordPiece {
            vocab,
            unk_id,
            prefix: prefix.to_string(),
            max_chars,
        })
    }

    /// `(id, start, end)` of each token, byte offsets in `word`.
    pub fn tokenize(&self, word: &str) -> Vec<(u32, usize, usize)> {
        let unk = vec![(self.unk_id, 0, word.len())];
        if word.chars().count() > self.max_chars {
            return unk;
        }
        let mut out = Vec::new();
        let mut start = 0;
        while start < word.len() {
            let mut end = word.len();
            let mut cur = None;
            while start < end {
                let mut substr = word[start..end].to_string();
                if start > 0 {
                    substr = format!("{}{}", self.prefix, substr);
                }
                if let Some(&id) = self.vocab.get(&substr) {
                    cur = Some((id, start, end));
                    break;
                }
                end -= substr.chars().last().map_or(1, |c| c.len_utf8());
            }
            match cur {
                None => return unk,
                Some(t) => {
                    out.push(t);
                    start = t.2;
                }
            }
        }
        out
    }
}
