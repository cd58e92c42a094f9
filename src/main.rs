//! The `tokstream` command: argument parsing and exit codes live in `tokstream::cli`.

// mimalloc: the pipeline allocates and frees chunk-sized buffers and many small vectors from
// several threads; mimalloc's thread-local free lists are measurably faster than glibc malloc
// for that pattern and keep RSS flat.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(tokstream::cli::main());
}
