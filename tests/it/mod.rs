mod cli;
mod common;
mod golden;
mod gpt;
mod streaming;
