/// glibc's malloc keeps what a 10k-person pass freed (tens of MB, spread over one arena per
/// runtime thread); jemalloc, with one arena and a 1 s decay (`.cargo/config.toml`), hands it
/// back to the kernel, which the idle-memory target in docs/BENCHMARKS.md needs.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    lintel::cli::main()
}
