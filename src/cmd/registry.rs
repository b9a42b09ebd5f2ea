//! `dicommanager registry show | lookup | import`.

use dicommanager::registry::{ImportError, Registry, read_audit, read_lookup_table};

use super::secret;
use crate::cli::{RegistryAccess, RegistryCommand};
use crate::exit::ExitCode;

pub fn run(command: &RegistryCommand) -> ExitCode {
    match command {
        RegistryCommand::Show(args) => show(&args.registry),
        RegistryCommand::Lookup(args) => {
            let Some(registry) = open(&args.access, false) else {
                return ExitCode::Usage;
            };
            match registry.lookup(&args.values, args.fallback) {
                Ok(Some(numbers)) => {
                    println!(
                        "patient index {} ({} images issued)",
                        numbers.patient_index, numbers.images
                    );
                    ExitCode::Success
                }
                Ok(None) => {
                    eprintln!("not in the registry");
                    ExitCode::SomeFailed
                }
                Err(err) => {
                    eprintln!("error: {err}");
                    ExitCode::Usage
                }
            }
        }
        RegistryCommand::Import(args) => {
            let Some(mut registry) = open(&args.access, true) else {
                return ExitCode::Usage;
            };
            let rows = match (&args.audit, &args.table) {
                (Some(audit), _) => read_audit(audit),
                (None, Some(table)) => read_lookup_table(table).map(|rows| (rows, 0)),
                (None, None) => unreachable!("clap requires one of --audit and --table"),
            };
            let imported = rows.and_then(|(rows, reserve)| registry.import(&rows, reserve));
            match imported {
                Ok(report) => {
                    println!(
                        "imported {} new patients ({} already there); new patients are numbered after {}",
                        report.added, report.already_there, report.reserved_up_to
                    );
                    ExitCode::Success
                }
                Err(err @ ImportError::Conflicts(_)) => {
                    eprintln!("error: {err}");
                    ExitCode::SomeFailed
                }
                Err(err) => {
                    eprintln!("error: {err}");
                    ExitCode::Usage
                }
            }
        }
    }
}

fn show(path: &std::path::Path) -> ExitCode {
    let overview = Registry::open_to_show(path).and_then(|registry| registry.overview());
    let overview = match overview {
        Ok(overview) => overview,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::Usage;
        }
    };
    println!("patient key  {}", overview.patient_key);
    println!("patients     {}", overview.patients);
    println!("images       {}", overview.images);
    println!("files known  {} (by SOP Instance UID)", overview.instances);
    println!("runs         {}", overview.runs.len());
    for run in &overview.runs {
        println!(
            "  run {:>4}  {}  {:<11}  {} files, {} OK, {} ERROR  ({})",
            run.id, run.started, run.state, run.files, run.ok, run.errors, run.profiles
        );
    }
    ExitCode::Success
}

/// Opens the registry with the profile's key and the secret (creating it
/// if `create`); the error is printed.
fn open(access: &RegistryAccess, create: bool) -> Option<Registry> {
    let rules = super::load_rules(&access.profile).ok()?;
    let secret = match secret::load(access.secret_file.as_deref()) {
        Ok(secret) => secret.map(|s| s.bytes).unwrap_or_default(),
        Err(err) => {
            eprintln!("error: {err}");
            return None;
        }
    };
    if !create && !access.registry.is_file() {
        eprintln!("error: {}: no such registry", access.registry.display());
        return None;
    }
    Registry::open(&access.registry, &secret, rules.patient_key(), false)
        .map_err(|err| eprintln!("error: {err}"))
        .ok()
}
