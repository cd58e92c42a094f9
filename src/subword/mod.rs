//! Subword models: turn one normalized piece into token ids.

pub mod vocab;
pub mod wordpiece;

pub use vocab::Vocab;
pub use wordpiece::{WordPiece, WordPieceConfig};
