//! The `dicommanager` binary: parse the command line, run, map the outcome to an exit code.

mod cli;
mod cmd;
mod exit;
mod progress;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let code = cmd::run(cli);
    std::process::exit(code.into());
}
