//! `dicommanager completions SHELL` and `dicommanager man`: generated from
//! the command line's own definition, so they cannot drift from it.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit::ExitCode;

pub fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "dicommanager", &mut std::io::stdout());
    ExitCode::Success
}

pub fn man() -> ExitCode {
    let mut page = Vec::new();
    match clap_mangen::Man::new(Cli::command()).render(&mut page) {
        Ok(()) => {
            // A closed pipe (`| head`) is not an error worth reporting.
            let _ = std::io::stdout().lock().write_all(&page);
            ExitCode::Success
        }
        Err(err) => {
            eprintln!("error: cannot render the manual page: {err}");
            ExitCode::Usage
        }
    }
}
