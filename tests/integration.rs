//! Integration tests: one test binary (see STYLE.md).
//!
//! * `golden`: every piece, offset and id equals Hugging Face `tokenizers` on real text.
//! * `streaming`: output is identical for every chunk size; giant words stay bounded.
//! * `cli`: the binary's formats, exit codes and error messages.

mod it;
