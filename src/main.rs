//! The `simplep2p` command: see `simplep2p --help`.
#![forbid(unsafe_code)]

mod cli;

fn main() {
    std::process::exit(cli::run(std::env::args_os().collect()));
}
