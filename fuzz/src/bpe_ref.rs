//! tiktoken's byte-pair encoding, the naive way: whole piece first; else start from single
//! bytes and repeatedly merge the adjacent pair whose concatenated bytes have the lowest rank
//! (leftmost on ties) until no adjacent pair is a token. Ranks come from a plain
//! `HashMap<Vec<u8>, u32>` built from the model's id → bytes table (rank = id).

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::{BPE_MODELS, bpe};

/// Token bytes → rank of a built-in model (built once per model).
pub fn ranks(name: &str) -> &'static HashMap<Vec<u8>, u32> {
    static R: OnceLock<Vec<HashMap<Vec<u8>, u32>>> = OnceLock::new();
    let all = R.get_or_init(|| {
        BPE_MODELS
            .iter()
            .map(|n| {
                let v = bpe(n).vocab();
                (0..v.len() as u32)
                    .filter_map(|id| {
                        v.token(id)
                            .filter(|t| !t.is_empty())
                            .map(|t| (t.to_vec(), id))
                    })
                    .collect()
            })
            .collect()
    });
    &all[BPE_MODELS
        .iter()
        .position(|n| *n == name)
        .expect("known model")]
}

/// The ids of `piece`.
pub fn encode(ranks: &HashMap<Vec<u8>, u32>, piece: &[u8]) -> Vec<u32> {
    if piece.is_empty() {
        return Vec::new();
    }
    if let Some(&id) = ranks.get(piece) {
        return vec![id];
    }
    let mut parts: Vec<Vec<u8>> = piece.iter().map(|&b| vec![b]).collect();
    loop {
        let mut best: Option<(u32, usize)> = None;
        for i in 0..parts.len().saturating_sub(1) {
            let cat = [parts[i].as_slice(), parts[i + 1].as_slice()].concat();
            if let Some(&r) = ranks.get(&cat) {
                if best.is_none_or(|(br, _)| r < br) {
                    best = Some((r, i));
                }
            }
        }
        let Some((_, i)) = best else { break };
        let right = parts.remove(i + 1);
        parts[i].extend_from_slice(&right);
    }
    parts.iter().map(|p| ranks[p]).collect()
}
