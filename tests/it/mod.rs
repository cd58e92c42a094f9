mod cli;
mod common;
mod golden;
mod gpt;
mod levels;
mod pipeline;
mod streaming;
mod wordpiece;
