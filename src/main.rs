fn main() -> std::process::ExitCode {
    lintel::cli::main()
}
