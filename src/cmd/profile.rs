//! `dicommanager profile list | show`: know what a profile does before a
//! run.

use std::fmt::Write as _;
use std::io::Write as _;

use dicommanager::engine::explain_file;
use dicommanager::profile::{BUILTIN_PROFILES, Profile, to_toml};

use super::secret;
use crate::cli::{ProfileCommand, ProfileExplainArgs};
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
        ProfileCommand::Explain(args) => explain(args),
        ProfileCommand::Show(args) => {
            // Checked as a run would check it: actions against VRs too.
            if let Err(code) = super::load_rules(&args.profile) {
                return code;
            }
            match Profile::load(&args.profile) {
                Ok(profile) => {
                    write_out(&to_toml(&profile));
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

fn explain(args: &ProfileExplainArgs) -> ExitCode {
    let rules = match super::load_rules(&args.profile) {
        Ok(rules) => rules,
        Err(code) => return code,
    };
    let secret = match secret::load(args.secret_file.as_deref()) {
        Ok(secret) => secret.map(|s| s.bytes).unwrap_or_default(),
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::Usage;
        }
    };
    let lines = match explain_file(&args.file, &rules, &secret, args.show_values) {
        Ok(lines) => lines,
        Err(err) => {
            eprintln!("error: {}: {err}", args.file.display());
            return ExitCode::SomeFailed;
        }
    };
    let mut text = format!(
        "profile {} on {}\n",
        rules.layers().join(" + "),
        args.file.display()
    );
    let mut fails = false;
    for line in &lines {
        let indent = "  ".repeat(line.depth);
        let _ = writeln!(
            text,
            "{indent}{} {}  {}  [{}]  -> {}",
            line.element, line.vr, line.action, line.decided_by, line.result
        );
        if let Some((before, after)) = &line.values
            && before != after
        {
            let _ = writeln!(text, "{indent}    {before} -> {after}");
        }
        fails |= line.result.starts_with("fails");
    }
    write_out(&text);
    if fails {
        ExitCode::SomeFailed
    } else {
        ExitCode::Success
    }
}

/// Prints `text`; a closed pipe (`| head`) is not an error worth a panic.
fn write_out(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
