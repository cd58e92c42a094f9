//! A flat vocabulary: all token bytes in one buffer, `u32` starts, id = index.

/// Token strings by id, stored flat (one byte buffer plus `u32` start offsets).
#[derive(Clone, Debug, Default)]
pub struct Vocab {
    bytes: Vec<u8>,
    starts: Vec<u32>,
}

impl Vocab {
    /// Build from tokens in id order. `None` marks an id with no token (a gap in the file).
    pub fn from_tokens<'a>(tokens: impl IntoIterator<Item = Option<&'a [u8]>>) -> Self {
        let mut v = Vocab {
            bytes: Vec::new(),
            starts: vec![0],
        };
        for t in tokens {
            v.bytes.extend_from_slice(t.unwrap_or_default());
            v.starts.push(v.bytes.len() as u32);
        }
        v
    }

    /// Number of ids (the largest id + 1).
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// True when there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of token `id`, if it exists.
    pub fn token(&self, id: u32) -> Option<&[u8]> {
        let i = id as usize;
        if i >= self.len() {
            return None;
        }
        Some(&self.bytes[self.starts[i] as usize..self.starts[i + 1] as usize])
    }
}
