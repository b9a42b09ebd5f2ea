//! One module per subcommand; each turns its arguments into library calls
//! and its outcome into an exit code, printing what the user asked to see.

mod anomize;
mod docs;
mod export;
mod metadata;
mod profile;
mod registry;
mod secret;
mod splitby;
mod stage;
mod verify;

use crate::cli::{Cli, Command};
use crate::exit::ExitCode;

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Anomize(args) => anomize::run(&args),
        Command::Metadata(args) => metadata::run(&args),
        Command::Splitby(args) => splitby::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Registry(command) => registry::run(&command),
        Command::Stage(command) => stage::run(&command),
        Command::Profile(command) => profile::run(&command),
        Command::Completions(args) => docs::completions(args.shell),
        Command::Man => docs::man(),
    }
}

/// The rule set of the profiles named on the command line; a profile that
/// is not usable is reported (every problem) and is exit code 2.
fn load_rules(specs: &[String]) -> Result<dicommanager::rules::RuleSet, ExitCode> {
    dicommanager::rules::RuleSet::load(specs).map_err(|errors| {
        eprintln!("error: the profile is not usable:\n{errors}");
        ExitCode::Usage
    })
}
