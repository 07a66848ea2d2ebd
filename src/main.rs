//! The `debfleet` binary: parses arguments and hands over to [`cli`].

mod cli;

/// mimalloc instead of the system allocator: a full sync makes and frees
/// hundreds of thousands of small records and several 50 MB buffers, and
/// mimalloc reuses freed memory instead of faulting fresh pages in (see
/// docs/design.md, "Where a full sync's time goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
