//! `dicommanager anomize`: parse → validate → compile the profile, then run.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dicommanager::dest::{create_folder_all, create_private};
use dicommanager::engine::{
    AUDIT_CSV, AUDIT_XLSX, ExistingOutput, METADATA_CSV, RegistryChoice, RunConfig, SinkFactory,
    Summary, audit_sinks, run as run_engine,
};
use dicommanager::rules::RuleSet;
use dicommanager::sink::{CsvSink, SinkError, TableSink};

use super::secret::{self, SECRET_FILE_VAR, SECRET_VAR};

/// Where `--dry-run --audit-dir DIR` keeps its plan.
const PLAN_CSV: &str = "_plan.csv";
use crate::cli::AnomizeArgs;
use crate::exit::ExitCode;
use crate::progress::Bar;

pub fn run(args: &AnomizeArgs) -> ExitCode {
    let rules = match super::load_rules(&args.profile) {
        Ok(rules) => rules,
        Err(code) => return code,
    };
    let secret = match secret_for(&rules, args.secret_file.as_deref(), args.allow_unkeyed) {
        Ok(secret) => secret,
        Err(code) => return code,
    };
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
        audit_dir: args.audit_dir.clone(),
        dry_run: args.dry_run,
        failures_named: if args.verbosity.verbose {
            usize::MAX
        } else {
            5
        },
        registry: args.registry.as_ref().map(|path| RegistryChoice {
            path: path.clone(),
            force: args.force_registry,
        }),
    };
    let bar = Bar::new(args.verbosity.quiet);
    // A dry run prints its plan; with --audit-dir it also keeps it there.
    let plan_sinks = |dir: &Path| -> Result<Vec<Box<dyn TableSink>>, SinkError> {
        let mut sinks: Vec<Box<dyn TableSink>> = vec![Box::new(CsvSink::to_stdout()?)];
        if args.audit_dir.is_some() {
            create_folder_all(dir).map_err(|e| SinkError::new(dir, e))?;
            sinks.push(Box::new(CsvSink::create(&dir.join(PLAN_CSV))?));
        }
        Ok(sinks)
    };
    let sinks: SinkFactory<'_> = if args.dry_run {
        &plan_sinks
    } else {
        &audit_sinks
    };
    match run_engine(&config, &rules, &bar, sinks) {
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
            if args.dry_run {
                // Standard output holds the plan.
                if !args.verbosity.quiet {
                    eprint!("{}", summary_text(&summary, &rules, true));
                    eprintln!("dry run: nothing was written");
                }
            } else if !args.verbosity.quiet {
                print!("{}", summary_text(&summary, &rules, false));
            }
            if let Some(path) = &args.summary_json
                && let Err(err) = write_summary_json(path, &summary, &rules)
            {
                eprintln!("error: {err}");
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

/// The secret of a run (`--secret-file`, or the environment), refused when
/// the profile needs one and none was given without `--allow-unkeyed`.
pub(super) fn secret_for(
    rules: &RuleSet,
    secret_file: Option<&Path>,
    allow_unkeyed: bool,
) -> Result<Vec<u8>, ExitCode> {
    let secret = match secret::load(secret_file) {
        Ok(Some(secret)) => {
            if let Some(warning) = &secret.warning {
                eprintln!("warning: {warning}");
            }
            secret.bytes
        }
        Ok(None) => Vec::new(),
        Err(err) => {
            eprintln!("error: {err}");
            return Err(ExitCode::Usage);
        }
    };
    if rules.uses_secret() && secret.is_empty() {
        if !allow_unkeyed {
            eprintln!(
                "error: the profile hashes identifiers or UIDs (or shifts dates) and no secret was \
                 given: without one, anyone with a list of candidate IDs, names or UIDs can hash \
                 them and re-identify patients. Give a long random secret with --secret-file, \
                 {SECRET_FILE_VAR} or {SECRET_VAR} (and keep it safe), or pass --allow-unkeyed \
                 to run without one."
            );
            return Err(ExitCode::Usage);
        }
        eprintln!(
            "WARNING: no secret (--allow-unkeyed): identifiers and UIDs are hashed without a key; \
             anyone with a list of candidate IDs, names or UIDs can hash them and re-identify \
             patients, and recompute date offsets."
        );
    }
    Ok(secret)
}

/// The end summary a person reads.
fn summary_text(summary: &Summary, rules: &RuleSet, dry_run: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let seconds = summary.elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        summary.dicom_files as f64 / seconds
    } else {
        0.0
    };
    let _ = writeln!(out, "profile      {}", rules.layers().join(" + "));
    let _ = writeln!(out, "files seen   {}", summary.files_seen);
    let _ = writeln!(out, "DICOM files  {}", summary.dicom_files);
    let _ = writeln!(out, "OK           {}", summary.ok);
    let _ = writeln!(out, "ERROR        {}", summary.errors);
    if !summary.walk_errors.is_empty() {
        let _ = writeln!(out, "unreadable   {}", summary.walk_errors.len());
    }
    if summary.resumed > 0 {
        let _ = writeln!(
            out,
            "kept         {} (already done by the interrupted run)",
            summary.resumed
        );
    }
    if summary.exported_before > 0 {
        let _ = writeln!(
            out,
            "exported     {} before by earlier runs (registry): not written again",
            summary.exported_before
        );
    }
    if summary.empty_key > 0 {
        let _ = writeln!(
            out,
            "empty key    {} files had no patient key (see the patient_key column), e.g.:",
            summary.empty_key
        );
        for file in &summary.first_empty_key {
            let _ = writeln!(out, "  {file}");
        }
    }
    if summary.redone > 0 {
        let _ = writeln!(
            out,
            "redone       {} (something else was at their output names)",
            summary.redone
        );
    }
    let _ = writeln!(out, "patients     {}", summary.patients);
    if summary.burned_in_risk > 0 {
        let quarantined = if summary.quarantined > 0 {
            format!(", {} of them in _quarantine/", summary.quarantined)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "burned-in    {} may have text in their pixels (burned_in_risk column){quarantined}",
            summary.burned_in_risk
        );
    }
    let _ = writeln!(out, "time         {seconds:.2} s ({rate:.0} files/s)");
    if !summary.first_errors.is_empty() {
        let named = summary.first_errors.len();
        let _ = if named as u64 == summary.errors {
            writeln!(out, "failed files:")
        } else {
            writeln!(out, "failed files (first {named}; -v names all):")
        };
        for (file, reason) in &summary.first_errors {
            let _ = writeln!(out, "  {file}: {reason}");
        }
    }
    if !dry_run {
        let _ = writeln!(
            out,
            "audit        {} and {} (they map pseudonyms back to patients: keep them safe)",
            summary.audit_dir.join(AUDIT_XLSX).display(),
            summary.audit_dir.join(AUDIT_CSV).display()
        );
    }
    out
}

/// The summary for pipelines, written private to its owner.
fn write_summary_json(path: &Path, summary: &Summary, rules: &RuleSet) -> Result<(), String> {
    let seconds = summary.elapsed.as_secs_f64();
    let state = if summary.stopped.is_some() {
        "stopped"
    } else if summary.interrupted {
        "interrupted"
    } else {
        "complete"
    };
    let json = serde_json::json!({
        "state": state,
        "stopped_because": summary.stopped,
        "profiles": rules.layers(),
        "files_seen": summary.files_seen,
        "dicom_files": summary.dicom_files,
        "ok": summary.ok,
        "errors": summary.errors,
        "unreadable": summary.walk_errors.len(),
        "patients": summary.patients,
        "kept": summary.resumed,
        "redone": summary.redone,
        "exported_before": summary.exported_before,
        "empty_key": summary.empty_key,
        "first_empty_key": summary.first_empty_key,
        "burned_in_risk": summary.burned_in_risk,
        "quarantined": summary.quarantined,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "first_errors": summary.first_errors.iter()
            .map(|(file, reason)| serde_json::json!({"source_file": file, "reason": reason}))
            .collect::<Vec<_>>(),
        "audit": {
            "xlsx": summary.audit_dir.join(AUDIT_XLSX),
            "csv": summary.audit_dir.join(AUDIT_CSV),
            "metadata": summary.audit_dir.join(METADATA_CSV),
        },
    });
    let fail = |e: &dyn std::fmt::Display| format!("write failed: {}: {e}", path.display());
    let mut text = serde_json::to_vec_pretty(&json).map_err(|e| fail(&e))?;
    text.push(b'\n');
    create_private(path)
        .and_then(|mut file| file.write_all(&text))
        .map_err(|e| fail(&e))
}
