//! Byte scanning: classification of input bytes and UTF-8 decoding.
//!
//! Today this holds the plain scalar reference (the byte-class table and a streaming-safe UTF-8
//! decoder). It is the oracle that every vectorized scanner must agree with; keep it obvious.

pub mod class;
pub mod utf8;
