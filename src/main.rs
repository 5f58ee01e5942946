fn main() -> std::process::ExitCode {
    alliance::cli::run()
}
