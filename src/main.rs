//! The `simba-run` binary: everything is in the library (`simba_run::cli`).

/// mimalloc instead of glibc's malloc: a run makes many small, short-lived
/// allocations across tokio's worker threads (request bodies, HTTP buffers,
/// prompts), where glibc's allocator cost about a sixth of the CPU of a run
/// against a local server. The binary only: the library leaves the choice
/// to whoever embeds it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(simba_run::cli::main());
}
