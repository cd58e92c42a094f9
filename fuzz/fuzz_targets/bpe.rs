//! Byte-level BPE (r50k_base, cl100k_base, o200k_base) on any bytes:
//!
//! * round trip: `decode(encode(x)) == x` through the whole encoder (`encode_bytes`: rules +
//!   BPE), and the token offsets partition the input;
//! * each piece the rules produce, and (if short) the whole input as one piece, encodes to the
//!   ids of a naive tiktoken merge loop (`tokstream_fuzz::bpe_ref`), so both the small-array
//!   scan and the heap path (pieces over 64 bytes) are checked.
//!
//! Input: the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokstream::pipeline::encode_bytes;
use tokstream::rules::gpt;
use tokstream_fuzz::*;

/// Longest piece given to the (quadratic) naive loop.
const NAIVE_MAX: usize = 300;

fuzz_target!(|data: &[u8]| {
    for name in BPE_MODELS {
        let model = bpe_model(name);
        let b = bpe(name);
        let tokens = encode_bytes(model, data).unwrap();
        let ids: Vec<u32> = tokens.iter().map(|t| t.id).collect();
        let mut back = Vec::new();
        b.decode_into(&ids, &mut back)
            .unwrap_or_else(|id| panic!("{name}: id {id} does not decode"));
        assert!(
            back == data,
            "MISMATCH {name}: decode(encode(x)) != x\n  x:    {data:?}\n  back: {back:?}"
        );
        let mut at = 0;
        for t in &tokens {
            assert_eq!(
                t.start, at,
                "{name}: token offsets do not partition the input"
            );
            assert_eq!(
                t.end - t.start,
                b.vocab().token(t.id).unwrap().len() as u64,
                "{name}: token length"
            );
            at = t.end;
        }
        assert_eq!(
            at,
            data.len() as u64,
            "{name}: token offsets do not cover the input"
        );

        let ranks = bpe_ref::ranks(name);
        let mut pieces: Vec<&[u8]> = gpt::pieces(b.pattern(), data)
            .into_iter()
            .map(|(s, e)| &data[s..e])
            .collect();
        pieces.push(data);
        for piece in pieces {
            if piece.len() > NAIVE_MAX {
                continue;
            }
            let want = bpe_ref::encode(ranks, piece);
            let mut got = Vec::new();
            b.encode_piece(piece, &mut got);
            let got_ids: Vec<u32> = got.iter().map(|t| t.0).collect();
            assert!(
                want == got_ids,
                "MISMATCH {name}: piece {piece:?} ({:?})\n  want {want:?}\n  got  {got_ids:?}",
                String::from_utf8_lossy(piece)
            );
            let lens: u32 = got.iter().map(|t| t.1).sum();
            assert_eq!(
                lens as usize,
                piece.len(),
                "{name}: token lengths do not add up"
            );
        }
    }
});
