//! `dicommanager anomize`: parse → validate → compile the profile, then run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dicommanager::engine::{ExistingOutput, RunConfig, Summary, run as run_engine};
use dicommanager::rules::RuleSet;

use crate::cli::AnomizeArgs;
use crate::exit::ExitCode;
use crate::progress::Bar;

/// The environment variable holding the key for keyed hashes.
const SECRET_VAR: &str = "DICOMMANAGER_SECRET";

pub fn run(args: &AnomizeArgs) -> ExitCode {
    let rules = match RuleSet::load(&args.profile) {
        Ok(rules) => rules,
        Err(errors) => {
            eprintln!("error: the profile is not usable:\n{errors}");
            return ExitCode::Usage;
        }
    };
    let secret = std::env::var_os(SECRET_VAR)
        .map(|s| s.into_encoded_bytes())
        .unwrap_or_default();
    if rules.uses_secret() && secret.is_empty() {
        eprintln!(
            "WARNING: {SECRET_VAR} is not set. The profile hashes identifiers and UIDs (or shifts \
             dates) without a key: anyone with a list of candidate IDs, names or UIDs can hash them \
             and re-identify patients, and recompute date offsets. Set {SECRET_VAR} to a long \
             random secret and keep it safe."
        );
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let on_signal = Arc::clone(&cancel);
    // Without a handler Ctrl-C still stops the run, less tidily; nothing
    // is lost either way (outputs are renamed into place when complete).
    let _ = ctrlc::set_handler(move || {
        if on_signal.swap(true, Ordering::Relaxed) {
            // A second Ctrl-C: the user really wants out now.
            std::process::exit(ExitCode::Interrupted.into());
        }
    });
    let existing = if args.resume {
        ExistingOutput::Resume
    } else if args.overwrite {
        ExistingOutput::Overwrite
    } else {
        ExistingOutput::Refuse
    };
    let config = RunConfig {
        source: args.source.clone(),
        dest: args.dest.clone(),
        jobs: args.jobs.map(usize::from),
        existing,
        secret,
        quarantine_burned_in: args.quarantine_burned_in,
        cancel,
    };
    let bar = Bar::new(args.quiet);
    match run_engine(&config, &rules, &bar) {
        Ok(summary) => {
            for err in &summary.walk_errors {
                eprintln!("warning: skipped {err}");
            }
            if let Some(fewer) = &summary.fewer_workers {
                eprintln!(
                    "warning: {fewer}; the run went on with {} (results do not depend on it)",
                    summary.workers
                );
            }
            if !args.quiet {
                print_summary(&summary, &rules);
            }
            if let Some(reason) = &summary.stopped {
                eprintln!(
                    "error: the run stopped: {reason}\n{} of {} files were done and are in the audit; \
                     free space (or fix the destination) and run again with --resume to finish",
                    summary.ok + summary.errors,
                    summary.dicom_files
                );
                ExitCode::WriteFailed
            } else if summary.interrupted {
                eprintln!(
                    "interrupted: {} of {} files done; run again with --resume to finish",
                    summary.ok + summary.errors,
                    summary.dicom_files
                );
                ExitCode::Interrupted
            } else if summary.all_ok() {
                ExitCode::Success
            } else {
                ExitCode::SomeFailed
            }
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::Usage
        }
    }
}

fn print_summary(summary: &Summary, rules: &RuleSet) {
    let seconds = summary.elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        summary.dicom_files as f64 / seconds
    } else {
        0.0
    };
    println!("profile      {}", rules.layers().join(" + "));
    println!("files seen   {}", summary.files_seen);
    println!("DICOM files  {}", summary.dicom_files);
    println!("OK           {}", summary.ok);
    println!("ERROR        {}", summary.errors);
    if !summary.walk_errors.is_empty() {
        println!("unreadable   {}", summary.walk_errors.len());
    }
    if summary.resumed > 0 {
        println!(
            "kept         {} (already done by the interrupted run)",
            summary.resumed
        );
    }
    if summary.redone > 0 {
        println!(
            "redone       {} (something else was at their output names)",
            summary.redone
        );
    }
    println!("patients     {}", summary.patients);
    println!("time         {seconds:.2} s ({rate:.0} files/s)");
}
