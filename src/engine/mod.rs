//! The de-identification run: discover, scan, number, rewrite, audit.
//!
//! 1. A walker thread walks SOURCE in sorted order, a few batches ahead of
//!    the workers (the tree is never listed whole).
//! 2. Workers take the walked files in batches, in order. A worker opens
//!    each file of its batch once and reads its head: that tells whether
//!    it is DICOM and holds the attributes numbering needs (patient, study,
//!    series, burned-in clues).
//! 3. In its batch's turn (batch 1, then 2, ...), the worker numbers the
//!    batch's DICOM files and lists them in `_metadata.csv`: sequence,
//!    patient index (one per Patient ID, 1, 2, 3 ... in order of first
//!    appearance), image number within the patient, study and series
//!    numbers. Only walk order decides them, so every run on the same
//!    input agrees, whatever the threads do.
//! 4. The worker rewrites the batch's files from the open files and the
//!    heads already read; one owner thread writes the audit rows in
//!    `_metadata.csv` order as they complete.

mod burned_in;
mod directories;
mod explain;
mod head;
mod header;
mod identify;
mod kept;
mod listing;
mod lock;
mod manifest;
mod pixels;
mod plan;
mod rewrite;
mod scan;
pub mod stages;
#[cfg(test)]
mod testing;
mod turns;
mod worker;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use dicom_core::Tag;

pub use burned_in::BurnedInRisk;
pub use explain::{Explained, explain_file};
pub use header::{HeaderFacts, SopUids, read_header_facts_from};
pub use plan::{Assigner, Assignment, Identity, KeyNote, PlannedFile, Planner, RunAssigner};
pub use rewrite::{FileJob, partial_path, rewrite_bytes, rewrite_file, rewrite_path};

use crate::codec::{OpenError, StreamError, describe_tag};
use crate::dest;
use crate::profile::PathNumbers;
use crate::registry::{Registry, RegistryError, RunEnd, RunRecord};
use crate::rules::{RuleError, RuleSet, secret_fingerprint};
use crate::sink::{AuditRow, CsvSink, SinkError, Status, TableSink, XlsxSink};
use crate::walk::{WalkError, walk};
use directories::DirectoryWork;
use listing::{Listing, ListingFiles};
use lock::RunLock;
pub use manifest::{Manifest, RunCounts, RunState};
use turns::{Batches, Turns};
use worker::{Book, Numbered, Numbering, Walked, Worker};

/// Names of the audit files in DEST.
pub const METADATA_CSV: &str = "_metadata.csv";
pub const AUDIT_XLSX: &str = "_out.xlsx";
pub const AUDIT_CSV: &str = "_out.csv";
/// The planned output of every listed file, written before it appears.
pub const OUTPUTS_CSV: &str = "_outputs.csv";
/// What made the outputs: profile, secret and template fingerprints, state.
pub const RUN_MANIFEST: &str = "_run.json";
/// Held by the run writing into DEST.
pub const LOCK_FILE: &str = ".dicommanager.lock";
/// Files in DEST that say a run wrote there.
const RUN_FILES: [&str; 5] = [
    METADATA_CSV,
    OUTPUTS_CSV,
    AUDIT_XLSX,
    AUDIT_CSV,
    RUN_MANIFEST,
];
/// The folder of DEST that `--quarantine-burned-in` writes to.
pub const QUARANTINE: &str = "_quarantine";

/// Why one file could not be de-identified (its audit reason).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("{0}")]
    Stream(#[from] StreamError),
    #[error("{}: {source}", describe_tag(*tag))]
    Rule { tag: Tag, source: RuleError },
    #[error("write failed: {}: {source}", path.display())]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no SOP Class UID (0008,0016): cannot make the file meta information")]
    NoSopClass,
    #[error(
        "{} already exists: an output never replaces a file (is the output template unique?)",
        path.display()
    )]
    OutputExists { path: PathBuf },
    /// The scan could not read the header far enough to number the file.
    #[error("{0}")]
    Header(String),
    /// A DICOMDIR of SOURCE could not be made anew for DEST.
    #[error("DICOMDIR not rebuilt: {0}")]
    Directory(String),
    #[error("internal error (please report): {0}")]
    Internal(String),
}

impl FileError {
    /// Whether DEST cannot take more data (full disk, quota, read-only):
    /// every later file would fail the same way, so the run stops.
    pub fn stops_run(&self) -> bool {
        match self {
            FileError::Output { source, .. } | FileError::Stream(StreamError::Write(source)) => {
                dest::is_out_of_space(source)
            }
            _ => false,
        }
    }
}

/// A problem that stops the whole run before any file is written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    #[error("source folder {}: {source}", path.display())]
    Source {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("destination {}: {source}", path.display())]
    Dest {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "destination {} already holds the output of a run ({found}); choose an empty folder or pass --overwrite",
        path.display()
    )]
    DestNotEmpty { path: PathBuf, found: String },
    #[error("destination {} is the source folder", path.display())]
    DestIsSource { path: PathBuf },
    #[error("destination {} holds no interrupted run to resume (no {RUN_MANIFEST})", path.display())]
    NothingToResume { path: PathBuf },
    #[error(
        "cannot resume into {}: {reason}; the source changed since the interrupted run, start a new run instead",
        path.display()
    )]
    ResumeMismatch { path: PathBuf, reason: String },
    #[error(
        "cannot resume into {}: {reason}; resume with the same settings, or start again with --overwrite",
        path.display()
    )]
    ResumeRefused { path: PathBuf, reason: String },
    #[error(
        "another run is writing into {} ({holder}); wait for it to end",
        path.display()
    )]
    Busy { path: PathBuf, holder: String },
    #[error("cannot start a thread: {0}")]
    Threads(#[source] std::io::Error),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Audit(#[from] SinkError),
}

/// How a run is set up (from the command line).
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub source: PathBuf,
    pub dest: PathBuf,
    /// Worker threads; `None` for one per core.
    pub jobs: Option<usize>,
    /// What to do with a DEST that holds a previous run's output.
    pub existing: ExistingOutput,
    /// Key for keyed hashes; empty when none was given.
    pub secret: Vec<u8>,
    /// Write files that may hold burned-in text to `DEST/_quarantine/`.
    pub quarantine_burned_in: bool,
    /// Set (e.g. by a Ctrl-C handler) to stop: files in progress finish,
    /// no new file starts, the audit so far is written.
    pub cancel: Arc<AtomicBool>,
    /// The registry that keeps patient indices across runs, if any.
    pub registry: Option<RegistryChoice>,
    /// Where `_metadata.csv`, `_out.csv` and `_out.xlsx` go (they map
    /// pseudonyms back to patients); `None` for DEST.
    pub audit_dir: Option<PathBuf>,
    /// Read headers and plan only: DEST is not touched, the sinks get one
    /// `PLANNED` (or `ERROR`) row per file with its output path.
    pub dry_run: bool,
    /// How many failed files the summary names (the audit has them all).
    pub failures_named: usize,
}

/// `--registry FILE` (and `--force-registry`).
#[derive(Debug, Clone)]
pub struct RegistryChoice {
    pub path: PathBuf,
    /// Use a registry made with another secret or patient key.
    pub force: bool,
}

/// What to do when DEST already holds the output of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExistingOutput {
    /// Refuse: nothing in DEST changes.
    #[default]
    Refuse,
    /// Write over it.
    Overwrite,
    /// Finish an interrupted run of the same SOURCE: outputs already there
    /// are kept, the rest are written, the audit is written anew.
    Resume,
}

/// Hooks for showing progress; the library itself never prints.
pub trait Progress: Sync {
    /// The run starts with `total` files known.
    fn start(&self, _total: u64) {}
    /// Whether the display wants to know how many files there are before
    /// they are reached (they are then counted by a walk of their own).
    fn wants_total(&self) -> bool {
        false
    }
    /// The count of files found so far grew by this many.
    fn found(&self, _files: u64) {}
    /// One more file is done.
    fn advance(&self) {}
    /// This many more of the files found are DICOM (numbered).
    fn dicom(&self, _files: u64) {}
    /// All files are done.
    fn finish(&self) {}
}

/// No progress display.
pub struct NoProgress;
impl Progress for NoProgress {}

/// What a finished run did.
#[derive(Debug, Default)]
pub struct Summary {
    pub files_seen: u64,
    pub dicom_files: u64,
    pub ok: u64,
    pub errors: u64,
    pub patients: u64,
    pub walk_errors: Vec<WalkError>,
    pub elapsed: Duration,
    /// Outputs of an interrupted run that `--resume` kept.
    pub resumed: u64,
    /// Entries at output names that `--resume` found wrong (a link, not
    /// DICOM, another file's output) and wrote again.
    pub redone: u64,
    /// The run was cancelled before every file was done.
    pub interrupted: bool,
    /// Why the run stopped before every file was done, when DEST could
    /// not be written (full disk ...).
    pub stopped: Option<String>,
    /// Files a registry says earlier runs exported (not written again).
    pub exported_before: u64,
    /// Files whose patient key was empty (patients found by the fallback,
    /// or of their own): the audit's `patient_key` column says which.
    pub empty_key: u64,
    /// The first of them (source files), for the summary.
    pub first_empty_key: Vec<String>,
    /// Files whose pixels may hold burned-in text, and how many of them
    /// went to `_quarantine/`.
    pub burned_in_risk: u64,
    pub quarantined: u64,
    /// The first ERROR rows (source file, reason), for the summary; the
    /// audit lists them all.
    pub first_errors: Vec<(String, String)>,
    /// Worker threads that ran, and why fewer than asked, if so.
    pub workers: usize,
    pub fewer_workers: Option<String>,
    /// Where the run's audit is.
    pub audit_dir: PathBuf,
}

impl Summary {
    /// The counts of a run's tally and numbering.
    fn of(tally: Tally, numbered: Numbered, elapsed: Duration, audit_dir: PathBuf) -> Summary {
        Summary {
            files_seen: numbered.files_seen,
            dicom_files: numbered.files as u64,
            ok: tally.ok,
            errors: tally.errors,
            patients: u64::from(numbered.patients),
            walk_errors: numbered.walk_errors,
            elapsed,
            resumed: tally.resumed,
            redone: tally.redone,
            exported_before: tally.exported_before,
            empty_key: tally.own_key,
            first_empty_key: tally.first_empty_key,
            burned_in_risk: tally.burned_in_risk,
            quarantined: tally.quarantined,
            first_errors: tally.first_errors,
            audit_dir,
            ..Summary::default()
        }
    }

    /// Whether every file was found, read and written.
    pub fn all_ok(&self) -> bool {
        self.errors == 0 && self.walk_errors.is_empty()
    }
}

/// Makes the audit tables of a run in its audit folder (the caller's
/// choice: a site can add a sink without touching the engine).
pub type SinkFactory<'a> = &'a dyn Fn(&Path) -> Result<Vec<Box<dyn TableSink>>, SinkError>;

/// The audit tables a run writes by default: `_out.csv` and `_out.xlsx`.
pub fn audit_sinks(audit_dir: &Path) -> Result<Vec<Box<dyn TableSink>>, SinkError> {
    Ok(vec![
        Box::new(CsvSink::create(&audit_dir.join(AUDIT_CSV))?),
        Box::new(XlsxSink::create(&audit_dir.join(AUDIT_XLSX), audit_dir)?),
    ])
}

/// Runs `anomize` from SOURCE to DEST with `rules`, writing the audit to
/// the tables `sinks` makes.
pub fn run(
    config: &RunConfig,
    rules: &RuleSet,
    progress: &dyn Progress,
    sinks: SinkFactory<'_>,
) -> Result<Summary, RunError> {
    if config.dry_run {
        return dry_run(config, rules, progress, sinks);
    }
    let started = Instant::now();
    let started_at = manifest::utc_timestamp(SystemTime::now());
    let (source, dest, audit_dir) = prepare_folders(config)?;
    // A registry that refuses the run (another secret ...) does so before
    // anything in DEST is touched.
    let mut registry = match &config.registry {
        Some(choice) => Some(open_registry(choice, config, rules)?),
        None => None,
    };
    let mut lock = RunLock::take(&dest)?;
    check_previous_run(config, &dest, &audit_dir)?;
    let jobs = worker_count(config);
    let mut manifest = Manifest {
        tool: env!("CARGO_PKG_NAME").to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        state: RunState::Running,
        started: started_at,
        profiles: rules.layers().to_vec(),
        profile_fingerprint: rules.fingerprint().to_string(),
        // A secret the profile does not use changes no output.
        secret_fingerprint: if rules.uses_secret() {
            secret_fingerprint(&config.secret)
        } else {
            "not used".to_string()
        },
        output_template: rules.output().to_string(),
        quarantine_burned_in: config.quarantine_burned_in,
        counts: RunCounts::default(),
        registry: registry.as_ref().map(|(_, path)| path.clone()),
        registry_run: None,
        audit_dir: (audit_dir != dest).then(|| audit_dir.to_string_lossy().into_owned()),
    };
    let mut registry = registry.take().map(|(registry, _)| registry);
    let (listing_files, listing) = match config.existing {
        ExistingOutput::Resume => {
            let previous = Manifest::read(&dest)?.ok_or_else(|| RunError::ResumeRefused {
                path: dest.clone(),
                reason: format!("it holds no {RUN_MANIFEST} saying how its outputs were made"),
            })?;
            if let Some(reason) = manifest.resume_conflict(&previous) {
                return Err(RunError::ResumeRefused { path: dest, reason });
            }
            // The resumed run goes on as the same run of the registry.
            if let (Some(registry), Some(run)) = (&registry, previous.registry_run) {
                if !registry.has_run(run)? {
                    return Err(RunError::ResumeRefused {
                        path: dest,
                        reason: format!("the registry has no run {run}"),
                    });
                }
                manifest.registry_run = Some(run);
            }
            let walked = walk(&source, Some(&dest)).filter_map(Result::ok);
            let listed = listing::check_resumable(&audit_dir, walked, |files| {
                scan::dicom_sizes(files, jobs)
            })?;
            (
                ListingFiles::resume(&audit_dir, &dest, listed)?,
                Listing::new(listed.rows),
            )
        }
        ExistingOutput::Overwrite => {
            remove_previous_outputs(&dest)?;
            (ListingFiles::create(&audit_dir, &dest)?, Listing::new(0))
        }
        ExistingOutput::Refuse => (ListingFiles::create(&audit_dir, &dest)?, Listing::new(0)),
    };
    let book = match registry.take() {
        Some(mut registry) => {
            let resuming = manifest.registry_run.is_some();
            let run = match manifest.registry_run {
                Some(run) => run,
                None => registry.start_run(&RunRecord {
                    started: manifest.started.clone(),
                    source: source.to_string_lossy().into_owned(),
                    dest: dest.to_string_lossy().into_owned(),
                    profiles: manifest.profiles.join(" + "),
                    profile_fingerprint: manifest.profile_fingerprint.clone(),
                    secret_fingerprint: manifest.secret_fingerprint.clone(),
                    version: manifest.version.clone(),
                })?,
            };
            manifest.registry_run = Some(run);
            Book::Registry {
                registry,
                run,
                resuming,
            }
        }
        None => Book::Run(RunAssigner::default()),
    };
    lock.announce(&manifest.started)?;
    manifest.write(&dest)?;
    let sinks = sinks(&audit_dir)?;
    let numbering = Numbering::new(listing, rules.patient_key().clone(), book);
    let work = Work {
        config,
        rules,
        source: &source,
        dest: &dest,
        audit_dir: &audit_dir,
        jobs,
        listing: Some(&listing_files),
        progress,
    };
    let Executed {
        tally,
        workers,
        fewer_workers,
        mut numbered,
        complete,
        halt,
    } = execute(&work, numbering, sinks)?;
    let mut stopped = halt.reason();
    let interrupted = !complete;
    manifest.state = match (&stopped, interrupted) {
        (Some(_), _) => RunState::Stopped,
        (None, true) => RunState::Interrupted,
        (None, false) => RunState::Complete,
    };
    manifest.counts = RunCounts {
        dicom_files: numbered.files as u64,
        ok: tally.ok,
        errors: tally.errors,
    };
    if let Err(err) = manifest.write(&dest) {
        stopped.get_or_insert_with(|| err.to_string());
    }
    if let Book::Registry { registry, run, .. } = &mut numbered.book {
        let end = RunEnd {
            state: manifest.state.as_str(),
            files: manifest.counts.dicom_files,
            ok: manifest.counts.ok,
            errors: manifest.counts.errors,
        };
        if let Err(err) = registry.finish_run(*run, end) {
            stopped.get_or_insert_with(|| err.to_string());
        }
    }
    Ok(Summary {
        interrupted,
        stopped,
        workers,
        fewer_workers,
        ..Summary::of(tally, numbered, started.elapsed(), audit_dir)
    })
}

/// `--dry-run`: the walk, the scan and the numbering of a run, and the
/// output path each file would get, to the sinks; no DICOM is written and
/// DEST is neither created nor looked into.
fn dry_run(
    config: &RunConfig,
    rules: &RuleSet,
    progress: &dyn Progress,
    sinks: SinkFactory<'_>,
) -> Result<Summary, RunError> {
    let started = Instant::now();
    let source = config.source.canonicalize().map_err(|e| RunError::Source {
        path: config.source.clone(),
        source: e,
    })?;
    let dest = std::path::absolute(&config.dest).map_err(|e| RunError::Dest {
        path: config.dest.clone(),
        source: e,
    })?;
    let audit_dir = match &config.audit_dir {
        Some(dir) => std::path::absolute(dir).map_err(|e| RunError::Dest {
            path: dir.clone(),
            source: e,
        })?,
        None => dest.clone(),
    };
    let jobs = worker_count(config);
    let work = Work {
        config,
        rules,
        source: &source,
        dest: &dest,
        audit_dir: &audit_dir,
        jobs,
        listing: None,
        progress,
    };
    let numbering = Numbering::new(
        Listing::new(0),
        rules.patient_key().clone(),
        Book::Run(RunAssigner::default()),
    );
    let executed = execute(&work, numbering, sinks(&audit_dir)?)?;
    Ok(Summary {
        interrupted: !executed.complete,
        stopped: executed.halt.reason(),
        workers: executed.workers,
        fewer_workers: executed.fewer_workers,
        ..Summary::of(
            executed.tally,
            executed.numbered,
            started.elapsed(),
            audit_dir,
        )
    })
}

/// Worker threads asked for: `--jobs`, else one per core.
fn worker_count(config: &RunConfig) -> usize {
    config
        .jobs
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1)
        .max(1)
}

/// What the threads of a run share, besides the numbering and the sinks.
struct Work<'a> {
    config: &'a RunConfig,
    rules: &'a RuleSet,
    source: &'a Path,
    dest: &'a Path,
    /// Where `_metadata.csv` and the audit tables are.
    audit_dir: &'a Path,
    jobs: usize,
    /// `None` in a dry run: nothing is listed.
    listing: Option<&'a ListingFiles>,
    progress: &'a dyn Progress,
}

/// What the threads did.
struct Executed {
    tally: Tally,
    workers: usize,
    fewer_workers: Option<String>,
    numbered: Numbered,
    /// Every file walked was numbered and every numbered file has a row.
    complete: bool,
    halt: Halt,
}

/// Walks, numbers, rewrites (or, in a dry run, plans) and audits: the
/// walker, the workers and the audit writer, each on a thread of its own.
fn execute(
    work: &Work<'_>,
    numbering: Numbering,
    sinks: Vec<Box<dyn TableSink>>,
) -> Result<Executed, RunError> {
    let Work {
        config,
        rules,
        source,
        dest,
        audit_dir,
        jobs,
        listing,
        progress,
    } = *work;
    let directories = listing.map(|listing| DirectoryWork {
        dest,
        audit_dir,
        listing,
        replace: config.existing != ExistingOutput::Refuse,
        cancel: &config.cancel,
    });
    let outputs = Outputs {
        dest,
        rules,
        quarantine_burned_in: config.quarantine_burned_in,
        failures_named: config.failures_named,
    };
    let halt = Halt::default();
    let batch = numbering.batch_size();
    let numbering = Turns::new(numbering);
    let worker = Worker {
        outputs: &outputs,
        rules,
        secret: &config.secret,
        resume: config.existing == ExistingOutput::Resume,
        overwrite: config.existing == ExistingOutput::Overwrite,
        dry_run: config.dry_run,
        cancel: &config.cancel,
        halt: &halt,
        listing,
        numbering: &numbering,
        progress,
    };
    let (walked, to_batch) = mpsc::sync_channel::<Walked>(WALK_AHEAD);
    let batches = Batches::new(to_batch, batch);
    let walk_complete = AtomicBool::new(false);
    progress.start(0);
    let (sender, receiver) = mpsc::channel::<Vec<Outcome>>();
    let threads = std::thread::scope(|scope| {
        let walk_complete = &walk_complete;
        let spawn = |name: &str| std::thread::Builder::new().name(name.to_string());
        let walker = spawn("walk").spawn_scoped(scope, move || {
            for entry in walk(source, Some(dest)) {
                // Stops when the workers stop taking batches.
                if walked.send(entry).is_err() {
                    return;
                }
            }
            walk_complete.store(true, Ordering::Relaxed);
        });
        if let Err(err) = walker {
            return Err(RunError::Threads(err));
        }
        if progress.wants_total() {
            // A walk of its own, ahead of the work: the walk that feeds the
            // workers keeps only a few batches ahead, to keep memory flat.
            // Without a thread for it the display does without a total.
            let cancel = &config.cancel;
            let _ = spawn("count").spawn_scoped(scope, move || {
                let files = walk(source, Some(dest)).filter(Result::is_ok);
                for _ in files.take_while(|_| !cancel.load(Ordering::Relaxed)) {
                    progress.found(1);
                }
            });
        }
        let (outputs, halt, directories) = (&outputs, &halt, directories.as_ref());
        let writer = spawn("audit")
            .spawn_scoped(scope, move || {
                write_in_order(receiver, sinks, outputs, progress, halt, directories)
            })
            .map_err(|err| {
                // Nothing would take the walk's batches: let it go.
                batches.close();
                RunError::Threads(err)
            })?;
        let (worker, batches) = (&worker, &batches);
        let mut workers = Vec::with_capacity(jobs);
        let mut fewer = None;
        for n in 0..jobs {
            let sender = sender.clone();
            match spawn(&format!("worker {}", n + 1))
                .spawn_scoped(scope, move || worker.take_batches(batches, &sender))
            {
                Ok(handle) => workers.push(handle),
                Err(err) => {
                    fewer = Some(format!("started {n} of {jobs} worker threads ({err})"));
                    break;
                }
            }
        }
        let started_workers = workers.len();
        if workers.is_empty() {
            // Not one more thread: this one does the work.
            worker.take_batches(batches, &sender);
        }
        drop(sender);
        for worker in workers {
            // A worker's panics are caught per file; this one never comes.
            let _ = worker.join();
        }
        // After a cancelled or stopped run, the walk may be waiting for room.
        batches.close();
        let tally = writer.join().unwrap_or_else(|_| {
            halt.stop("the audit writer stopped unexpectedly".to_string());
            Tally::default()
        });
        Ok((tally, started_workers.max(1), fewer))
    });
    let (tally, workers, fewer_workers) = threads?;
    progress.finish();
    let numbered = numbering.into_inner().finish(&halt, listing);
    let done = tally.ok + tally.errors;
    let complete = walk_complete.load(Ordering::Relaxed)
        && batches.all_handed_out()
        && done == numbered.files as u64;
    Ok(Executed {
        tally,
        workers,
        fewer_workers,
        numbered,
        complete,
        halt,
    })
}

/// Walked paths queued ahead of the workers: enough that they never wait
/// for the walk, few enough that memory does not grow with the tree.
const WALK_AHEAD: usize = 1024;

/// Files handed to a worker at once (and reported to the writer at once).
const BATCH: usize = 16;

/// [`BATCH`] of a run with a registry, where a batch is also one
/// transaction. Its commit writes every B-tree page the batch touched, and
/// keyed hashes land on any page: 64 files a commit write about a quarter
/// of the WAL that 16 do, which took the registry's cost on 2,000 small
/// files from +10-16 % to about +5 % (docs/performance.md, session 6).
/// Without a registry larger batches gain nothing and leave a longer tail
/// on large files (500 CT files: +5 % at 64); 128 did the same with one.
pub(crate) const REGISTRY_BATCH: usize = 64;

/// Why the run must stop before every file is done: DEST cannot be
/// written. The first reason is kept; workers check the flag between files.
#[derive(Default)]
pub(crate) struct Halt {
    stopped: AtomicBool,
    reason: Mutex<Option<String>>,
}

impl Halt {
    pub(crate) fn stop(&self, reason: String) {
        self.reason.lock().get_or_insert(reason);
        self.stopped.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    fn reason(&self) -> Option<String> {
        self.reason.lock().clone()
    }
}

/// Where the outputs of a run go, and what the audit says of them.
struct Outputs<'a> {
    dest: &'a Path,
    rules: &'a RuleSet,
    quarantine_burned_in: bool,
    failures_named: usize,
}

impl Outputs<'_> {
    /// The output path of a numbered file, relative to DEST.
    fn relative_path(&self, file: &PlannedFile, numbers: PathNumbers) -> PathBuf {
        let relative = self.rules.output().render(numbers);
        if self.quarantine_burned_in && file.burned_in.is_flagged() {
            Path::new(QUARANTINE).join(relative)
        } else {
            relative
        }
    }

    /// The output path of a listed file.
    fn path(&self, file: &PlannedFile) -> Option<PathBuf> {
        file.output
            .as_ref()
            .map(|relative| self.dest.join(relative))
    }
}

/// Makes SOURCE, DEST and the audit folder canonical, creating DEST and
/// the audit folder (private to their owner) if they are missing.
fn prepare_folders(config: &RunConfig) -> Result<(PathBuf, PathBuf, PathBuf), RunError> {
    let source = config.source.canonicalize().map_err(|e| RunError::Source {
        path: config.source.clone(),
        source: e,
    })?;
    if !source.is_dir() {
        return Err(RunError::Source {
            path: config.source.clone(),
            source: std::io::Error::other("not a folder"),
        });
    }
    dest::create_folder_all(&config.dest).map_err(|e| RunError::Dest {
        path: config.dest.clone(),
        source: e,
    })?;
    let dest = config.dest.canonicalize().map_err(|e| RunError::Dest {
        path: config.dest.clone(),
        source: e,
    })?;
    if dest == source {
        return Err(RunError::DestIsSource { path: dest });
    }
    let audit_dir = match &config.audit_dir {
        None => dest.clone(),
        Some(dir) => {
            let fail = |source| RunError::Dest {
                path: dir.clone(),
                source,
            };
            dest::create_folder_all(dir).map_err(fail)?;
            dir.canonicalize().map_err(fail)?
        }
    };
    if audit_dir == source {
        return Err(RunError::DestIsSource { path: audit_dir });
    }
    Ok((source, dest, audit_dir))
}

/// Opens the registry of a run (it needs the secret, whatever the
/// profile), with its path as the manifest records it.
fn open_registry(
    choice: &RegistryChoice,
    config: &RunConfig,
    rules: &RuleSet,
) -> Result<(Registry, String), RunError> {
    let registry = Registry::open(
        &choice.path,
        &config.secret,
        rules.patient_key(),
        choice.force,
    )?;
    let path = choice
        .path
        .canonicalize()
        .unwrap_or_else(|_| choice.path.clone());
    Ok((registry, path.to_string_lossy().into_owned()))
}

/// Refuses a DEST that holds a previous run's files unless the user said
/// what to do with them (a dangling link counts: it would be written
/// through otherwise).
fn check_previous_run(config: &RunConfig, dest: &Path, audit_dir: &Path) -> Result<(), RunError> {
    let previous: Vec<&str> = RUN_FILES
        .into_iter()
        .filter(|name| {
            dest::entry_exists(&dest.join(name)) || dest::entry_exists(&audit_dir.join(name))
        })
        .collect();
    match config.existing {
        ExistingOutput::Refuse if !previous.is_empty() => Err(RunError::DestNotEmpty {
            path: dest.to_path_buf(),
            found: previous.join(", "),
        }),
        ExistingOutput::Resume if !dest::entry_exists(&dest.join(RUN_MANIFEST)) => {
            Err(RunError::NothingToResume {
                path: dest.to_path_buf(),
            })
        }
        _ => Ok(()),
    }
}

/// `--overwrite`: removes the outputs the previous run listed (and their
/// temporary names), so that none of them stays beside the new run's
/// outputs, outside its audit. Nothing else in DEST is touched.
fn remove_previous_outputs(dest: &Path) -> Result<(), RunError> {
    let fail = |source| RunError::Dest {
        path: dest.join(OUTPUTS_CSV),
        source,
    };
    for output in listing::previous_outputs(dest).map_err(fail)? {
        for path in [rewrite::partial_path(&output), output] {
            match dest::remove_entry(&path) {
                Ok(_) => {}
                // A folder where an output was: not ours to remove.
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(source) => return Err(RunError::Dest { path, source }),
            }
        }
    }
    Ok(())
}

/// What became of one file. The writer makes its audit row, so that the
/// row's strings are made and freed on one thread (freeing memory another
/// thread allocated makes the two wait for each other's allocator lock).
struct Outcome {
    file: PlannedFile,
    /// Why the file failed, if it did.
    result: Result<Done, FileError>,
    /// How many values the rules cleaned of identifying text.
    cleaned: u32,
}

/// How a file's output came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    Written,
    /// It was already complete (a resumed run) and was kept.
    Kept,
    /// Something else sat at its name (a resumed run) and was replaced.
    Redone,
    /// A registry says an earlier run exported it: not written again.
    Exported,
    /// A dry run: this is where it would be written.
    Planned,
    /// A DICOMDIR: its row waits for the new one, made when every output
    /// is written.
    Directory,
}

impl Outcome {
    fn audit_row(&self, outputs: &Outputs<'_>) -> AuditRow {
        let file = &self.file;
        let output = outputs.path(file).map(|p| p.to_string_lossy().into_owned());
        let (status, destination_file, reason) = match (&self.result, output) {
            (Ok(Done::Planned), _) if file.directory => (
                Status::Planned,
                String::new(),
                "DICOMDIR: a new one is made from the outputs at the end of the run".into(),
            ),
            (Ok(Done::Planned), Some(output)) => (Status::Planned, output, String::new()),
            (Ok(Done::Exported), _) => (
                Status::Ok,
                String::new(),
                file.exported_before
                    .as_deref()
                    .unwrap_or_default()
                    .to_string(),
            ),
            (Ok(_), Some(output)) => (Status::Ok, output, cleaned_note(self.cleaned)),
            (Ok(_), None) => (Status::Error, String::new(), "not numbered".into()),
            (Err(reason), _) => (Status::Error, String::new(), reason.to_string()),
        };
        AuditRow {
            source_file: file.source_display().into_owned(),
            patient_name: file.patient_name.to_string(),
            patient_id: file.patient_id.to_string(),
            patient_index: file.patient_index,
            file_size: file.size,
            destination_file,
            status,
            reason,
            burned_in_risk: file.burned_in.to_string(),
            patient_key: file.key_note.describe(outputs.rules.patient_key()),
        }
    }
}

/// The reason column of an OK row whose values were cleaned: how many
/// (the values themselves are PHI and are never written).
fn cleaned_note(cleaned: u32) -> String {
    match cleaned {
        0 => String::new(),
        1 => "1 value cleaned of identifying text".to_string(),
        n => format!("{n} values cleaned of identifying text"),
    }
}

/// Counts of a run's outcomes.
#[derive(Debug, Default)]
struct Tally {
    /// How many failed files (and files without a patient key) to name.
    named: usize,
    ok: u64,
    errors: u64,
    resumed: u64,
    redone: u64,
    exported_before: u64,
    own_key: u64,
    first_empty_key: Vec<String>,
    burned_in_risk: u64,
    quarantined: u64,
    first_errors: Vec<(String, String)>,
}

impl Tally {
    fn add(&mut self, row: &AuditRow, outcome: &Outcome, quarantine: bool) {
        match row.status {
            Status::Ok | Status::Planned => self.ok += 1,
            Status::Error => {
                self.errors += 1;
                if self.first_errors.len() < self.named {
                    self.first_errors
                        .push((row.source_file.clone(), row.reason.clone()));
                }
            }
        }
        if outcome.file.burned_in.is_flagged() {
            self.burned_in_risk += 1;
            if quarantine && row.status == Status::Ok {
                self.quarantined += 1;
            }
        }
        match outcome.result {
            Ok(Done::Kept) => self.resumed += 1,
            Ok(Done::Redone) => self.redone += 1,
            Ok(Done::Exported) => self.exported_before += 1,
            _ => {}
        }
        if outcome.file.key_note != KeyNote::Key {
            self.own_key += 1;
            if self.first_empty_key.len() < self.named {
                self.first_empty_key.push(row.source_file.clone());
            }
        }
    }
}

/// Receives outcomes in any order and writes them in sequence order. After
/// a cancelled run some numbers never arrive: the rows received are still
/// written, in order. An audit that cannot be written stops the run.
fn write_in_order(
    receiver: mpsc::Receiver<Vec<Outcome>>,
    sinks: Vec<Box<dyn TableSink>>,
    outputs: &Outputs<'_>,
    progress: &dyn Progress,
    halt: &Halt,
    directories: Option<&DirectoryWork<'_>>,
) -> Tally {
    let mut audit = Audit {
        sinks,
        outputs,
        tally: Tally {
            named: outputs.failures_named,
            ..Tally::default()
        },
    };
    let mut pending: BTreeMap<usize, Outcome> = BTreeMap::new();
    let mut next = 1;
    // The rows of DICOMDIRs wait for the new DICOMDIRs, made when every
    // output is written; they come last.
    let mut later = Later::default();
    let written = (|| {
        for batch in receiver {
            for outcome in batch {
                progress.advance();
                pending.insert(outcome.file.seq, outcome);
                while let Some(outcome) = pending.remove(&next) {
                    audit.take(outcome, &mut later)?;
                    next += 1;
                }
            }
            // One write per batch rather than per row: the writer thread
            // shares the cores with the workers.
            audit.sinks.iter_mut().try_for_each(|sink| sink.flush())?;
        }
        for (_, outcome) in std::mem::take(&mut pending) {
            audit.take(outcome, &mut later)?;
        }
        if let Some(work) = directories
            && !later.directories.is_empty()
            && !halt.is_stopped()
            && !work.cancel.load(Ordering::Relaxed)
        {
            // An interrupted run makes none and writes no row for them:
            // `--resume` does both.
            audit.write_directories(work, &later)?;
        }
        std::mem::take(&mut audit.sinks)
            .into_iter()
            .try_for_each(|sink| sink.finish())
    })();
    if let Err(err) = written {
        halt.stop(err.to_string());
    }
    audit.tally
}

/// The audit tables being written, and what their rows counted.
struct Audit<'a> {
    sinks: Vec<Box<dyn TableSink>>,
    outputs: &'a Outputs<'a>,
    tally: Tally,
}

/// What the audit writer keeps for the end of the run.
#[derive(Default)]
struct Later {
    /// The DICOMDIRs of SOURCE, in `_metadata.csv` order.
    directories: Vec<Outcome>,
    /// Files that have no output of this run (failed, exported before).
    not_written: HashSet<usize>,
}

impl Audit<'_> {
    /// Writes the row of `outcome`, or keeps it for later (a DICOMDIR).
    fn take(&mut self, outcome: Outcome, later: &mut Later) -> Result<(), SinkError> {
        match outcome.result {
            Ok(Done::Directory) => {
                later.directories.push(outcome);
                return Ok(());
            }
            Ok(Done::Written | Done::Kept | Done::Redone) => {}
            _ => {
                later.not_written.insert(outcome.file.seq);
            }
        }
        self.write(&outcome)
    }

    /// Makes the new DICOMDIRs and writes the rows of the source ones.
    fn write_directories(
        &mut self,
        work: &DirectoryWork<'_>,
        later: &Later,
    ) -> Result<(), SinkError> {
        let files: Vec<PlannedFile> = later
            .directories
            .iter()
            .map(|outcome| outcome.file.clone())
            .collect();
        let results = directories::rebuild(work, &files, &later.not_written);
        for (outcome, result) in later.directories.iter().zip(results) {
            let mut row = outcome.audit_row(self.outputs);
            match result {
                Ok(rebuilt) => {
                    row.status = Status::Ok;
                    row.destination_file = rebuilt
                        .output
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    row.reason = rebuilt.note;
                }
                Err(err) => {
                    row.status = Status::Error;
                    row.destination_file = String::new();
                    row.reason = err.to_string();
                }
            }
            self.tally
                .add(&row, outcome, self.outputs.quarantine_burned_in);
            self.sinks
                .iter_mut()
                .try_for_each(|sink| sink.write_row(&row))?;
        }
        Ok(())
    }

    fn write(&mut self, outcome: &Outcome) -> Result<(), SinkError> {
        let row = outcome.audit_row(self.outputs);
        self.tally
            .add(&row, outcome, self.outputs.quarantine_burned_in);
        self.sinks
            .iter_mut()
            .try_for_each(|sink| sink.write_row(&row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(source: &Path, dest: &Path, cancel: bool) -> RunConfig {
        RunConfig {
            source: source.to_path_buf(),
            dest: dest.to_path_buf(),
            jobs: Some(2),
            existing: ExistingOutput::Refuse,
            secret: Vec::new(),
            quarantine_burned_in: false,
            cancel: Arc::new(AtomicBool::new(cancel)),
            registry: None,
            audit_dir: None,
            dry_run: false,
            failures_named: 5,
        }
    }

    /// A sink of a site's own, the rows kept in memory.
    struct Collect(Arc<parking_lot::Mutex<Vec<AuditRow>>>);

    impl TableSink for Collect {
        fn write_row(&mut self, row: &AuditRow) -> Result<(), SinkError> {
            self.0.lock().push(row.clone());
            Ok(())
        }

        fn finish(self: Box<Self>) -> Result<(), SinkError> {
            Ok(())
        }
    }

    #[test]
    fn a_caller_chooses_the_sinks() {
        let source = tempfile::TempDir::new().unwrap();
        std::fs::write(source.path().join("a.dcm"), testing::image(10, Vec::new())).unwrap();
        let dest = tempfile::TempDir::new().unwrap();
        let rows = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let collect = |_: &Path| -> Result<Vec<Box<dyn TableSink>>, SinkError> {
            Ok(vec![Box::new(Collect(Arc::clone(&rows)))])
        };
        let rules = RuleSet::load(&["basic".to_string()]).unwrap();
        let summary = run(
            &config(source.path(), dest.path(), false),
            &rules,
            &NoProgress,
            &collect,
        )
        .unwrap();
        assert_eq!(summary.ok, 1);
        let rows = rows.lock();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, Status::Ok);
        assert!(rows[0].destination_file.ends_with("1_001.dcm"));
        // The default tables were not made.
        assert!(!dest.path().join(AUDIT_CSV).exists());
    }

    #[test]
    fn a_run_cancelled_while_the_walk_is_ahead_still_ends() {
        // More files than the walk may queue ahead of the workers, none
        // taken: the walk waits for room until the run lets it go.
        let source = tempfile::TempDir::new().unwrap();
        for i in 0..WALK_AHEAD + 100 {
            std::fs::write(source.path().join(format!("{i:05}.txt")), b"not DICOM").unwrap();
        }
        let dest = tempfile::TempDir::new().unwrap();
        let rules = RuleSet::load(&["basic".to_string()]).unwrap();
        let summary = run(
            &config(source.path(), dest.path(), true),
            &rules,
            &NoProgress,
            &audit_sinks,
        )
        .unwrap();
        assert!(summary.interrupted);
        assert_eq!(summary.files_seen, 0);

        let summary = run(
            &config(source.path(), &dest.path().join("again"), false),
            &rules,
            &NoProgress,
            &audit_sinks,
        )
        .unwrap();
        assert!(!summary.interrupted);
        assert_eq!(summary.files_seen, WALK_AHEAD as u64 + 100);
        assert_eq!(summary.dicom_files, 0);
    }
}
