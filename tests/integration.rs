//! Integration tests: one test binary (see STYLE.md).
