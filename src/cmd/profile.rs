//! `dicommanager profile list | show`: know what a profile does before a
//! run.

use dicommanager::profile::{BUILTIN_PROFILES, Profile, to_toml};
use dicommanager::rules::RuleSet;

use crate::cli::ProfileCommand;
use crate::exit::ExitCode;

pub fn run(command: &ProfileCommand) -> ExitCode {
    match command {
        ProfileCommand::List => {
            let width = BUILTIN_PROFILES
                .iter()
                .map(|(n, _)| n.len())
                .max()
                .unwrap_or(0);
            for (name, _) in BUILTIN_PROFILES {
                let description = Profile::load(&[name.to_string()])
                    .ok()
                    .and_then(|p| p.description)
                    .unwrap_or_default();
                println!("{name:<width$}  {description}");
            }
            ExitCode::Success
        }
        ProfileCommand::Show(args) => {
            // Checked as a run would check it: actions against VRs too.
            if let Err(errors) = RuleSet::load(&args.profile) {
                eprintln!("error: the profile is not usable:\n{errors}");
                return ExitCode::Usage;
            }
            match Profile::load(&args.profile) {
                Ok(profile) => {
                    print!("{}", to_toml(&profile));
                    ExitCode::Success
                }
                Err(errors) => {
                    eprintln!("error: the profile is not usable:\n{errors}");
                    ExitCode::Usage
                }
            }
        }
    }
}
