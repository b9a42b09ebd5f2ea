//! `dicommanager stage scan|number|write|merge`: one export in stages
//! for a scheduler (see `engine::stages`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dicommanager::engine::stages::{self, StageError, StageSummary};
use dicommanager::engine::{ExistingOutput, NoProgress, RegistryChoice, RunConfig};
use dicommanager::rules::RuleSet;

use super::anomize::secret_for;
use crate::cli::{StageCommand, StageCommon, StageScanArgs, StageWriteArgs};
use crate::exit::ExitCode;
use crate::progress::Bar;

pub fn run(command: &StageCommand) -> ExitCode {
    let outcome = match command {
        StageCommand::Scan(args) => scan(args),
        StageCommand::Number(args) => prepare(&args.common).and_then(|(rules, secret)| {
            report(
                stages::number(&args.common.work, &rules, &secret),
                "number",
                args.common.verbosity.quiet,
            )
        }),
        StageCommand::Write(args) => write(args),
        StageCommand::Merge(args) => {
            report(stages::merge(&args.work), "merge", args.verbosity.quiet)
        }
    };
    outcome.unwrap_or_else(|code| code)
}

/// The rules and secret of a stage.
fn prepare(common: &StageCommon) -> Result<(RuleSet, Vec<u8>), ExitCode> {
    let rules = super::load_rules(&common.profile)?;
    let secret = secret_for(&rules, common.secret_file.as_deref(), common.allow_unkeyed)?;
    Ok((rules, secret))
}

/// Ctrl-C (or SIGTERM from a scheduler) ends the stage tidily.
fn cancel_on_signal() -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let on_signal = Arc::clone(&cancel);
    let _ = ctrlc::set_handler(move || {
        if on_signal.swap(true, Ordering::Relaxed) {
            std::process::exit(ExitCode::Interrupted.into());
        }
    });
    cancel
}

fn config(common: &StageCommon, secret: Vec<u8>, jobs: Option<u16>) -> RunConfig {
    RunConfig {
        source: Default::default(),
        dest: Default::default(),
        jobs: jobs.map(usize::from),
        existing: ExistingOutput::Refuse,
        secret,
        quarantine_burned_in: false,
        cancel: cancel_on_signal(),
        registry: None,
        audit_dir: None,
        dry_run: false,
        failures_named: if common.verbosity.verbose {
            usize::MAX
        } else {
            5
        },
    }
}

fn scan(args: &StageScanArgs) -> Result<ExitCode, ExitCode> {
    let (rules, secret) = prepare(&args.common)?;
    let config = RunConfig {
        source: args.source.clone(),
        dest: args.dest.clone(),
        quarantine_burned_in: args.quarantine_burned_in,
        audit_dir: args.audit_dir.clone(),
        registry: args.registry.as_ref().map(|path| RegistryChoice {
            path: path.clone(),
            force: args.force_registry,
        }),
        ..config(&args.common, secret, args.jobs)
    };
    let summary = stages::scan_shard(&args.common.work, args.shard, &config, &rules);
    report(
        summary,
        &format!("scan {}", args.shard),
        args.common.verbosity.quiet,
    )
}

fn write(args: &StageWriteArgs) -> Result<ExitCode, ExitCode> {
    let (rules, secret) = prepare(&args.common)?;
    let config = config(&args.common, secret, args.jobs);
    let quiet = args.common.verbosity.quiet;
    let bar = Bar::new(quiet);
    let progress: &dyn dicommanager::engine::Progress = if quiet { &NoProgress } else { &bar };
    let summary = stages::write_shard(&args.common.work, args.shard, &rules, &config, progress);
    report(summary, &format!("write {}", args.shard), quiet)
}

/// Prints what a stage did; its exit code (as anomize's).
fn report(
    outcome: Result<StageSummary, StageError>,
    stage: &str,
    quiet: bool,
) -> Result<ExitCode, ExitCode> {
    let summary = match outcome {
        Ok(summary) => summary,
        Err(err) => {
            eprintln!("error: {stage}: {err}");
            return Err(ExitCode::Usage);
        }
    };
    for unreadable in &summary.unreadable {
        eprintln!("warning: skipped {unreadable}");
    }
    if !quiet {
        if summary.already_done {
            println!("{stage}: already done; nothing changed");
        } else {
            let mut line = if stage.starts_with("scan") {
                format!("{stage}: {} DICOM files in this shard", summary.files)
            } else if stage == "number" {
                format!(
                    "{stage}: {} DICOM files, {} patients ({} with a header that cannot be read)",
                    summary.files, summary.patients, summary.errors
                )
            } else {
                format!(
                    "{stage}: {} files, {} OK, {} ERROR",
                    summary.files, summary.ok, summary.errors
                )
            };
            if summary.kept > 0 {
                line.push_str(&format!(
                    ", {} kept from the interrupted attempt",
                    summary.kept
                ));
            }
            println!("{line}, {:.2} s", summary.elapsed.as_secs_f64());
            if !summary.first_errors.is_empty() {
                println!("failed files (the first; the audit lists all):");
                for failed in &summary.first_errors {
                    println!("  {failed}");
                }
            }
            if stage == "merge" {
                println!(
                    "audit in {} (it maps pseudonyms back to patients: keep it safe)",
                    summary.audit_dir.display()
                );
            }
        }
    }
    Ok(if let Some(reason) = &summary.stopped {
        eprintln!("error: {stage} stopped: {reason}; run it again to finish");
        ExitCode::WriteFailed
    } else if summary.interrupted {
        eprintln!("interrupted: run {stage} again to finish");
        ExitCode::Interrupted
    } else if stage == "merge" && summary.errors > 0 {
        // Only the last stage says that files failed (as anomize's exit
        // code 1): the others succeed when their share is done, so that a
        // scheduler's `afterok` starts the next.
        ExitCode::SomeFailed
    } else {
        ExitCode::Success
    })
}
