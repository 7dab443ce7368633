//! The operator CLI (CONTRACT §2). All logic lives in `autoheal::cli`.

fn main() -> std::process::ExitCode {
    autoheal::cli::main(std::env::args().skip(1).collect())
}
