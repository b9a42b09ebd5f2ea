//! The de-identification run: discover, number, rewrite, audit.
//!
//! 1. Walk SOURCE in sorted order and, in parallel, a chunk of files at a
//!    time, keep the files that are DICOM by content, reading their first
//!    attributes (patient, study, series, burned-in clues) without going
//!    near the pixel data.
//! 2. Number each chunk in walk order: `_metadata.csv` sequence, patient
//!    index (one per Patient ID, 1, 2, 3 ... in order of first appearance),
//!    image number within the patient, study and series numbers. Nothing
//!    here depends on threads, so every run on the same input agrees.
//! 3. Rewrite the files in parallel, batches taken in order; one owner
//!    thread writes the audit rows in `_metadata.csv` order as they
//!    complete.

mod burned_in;
mod header;
mod identify;
mod pixels;
mod plan;
mod rewrite;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use dicom_core::Tag;
use rayon::prelude::*;

pub use burned_in::BurnedInRisk;
pub use header::{
    HeaderFacts, SopUids, read_head, read_header_facts, read_header_facts_from,
    read_header_facts_of_file,
};
pub use plan::{Plan, PlannedFile, Planner};
pub use rewrite::{FileJob, partial_path, rewrite_bytes, rewrite_file};

use crate::profile::PathNumbers;
use crate::rules::{FileContext, Identifiers, RuleError, RuleSet, date_shift_days};
use crate::sink::{
    AuditRow, CsvSink, SinkError, Status, TableSink, XlsxSink, read_metadata_csv,
    write_metadata_csv,
};
use crate::stream::{Layout, OpenError, StreamError, describe_tag, open_source, sniff_bytes};
use crate::walk::{WalkError, discover};

/// Files scanned in parallel before they are numbered: the header facts
/// of one chunk at a time are held, not those of the whole tree.
const SCAN_CHUNK: usize = 4096;

/// Names of the audit files in DEST.
pub const METADATA_CSV: &str = "_metadata.csv";
pub const AUDIT_XLSX: &str = "_out.xlsx";
pub const AUDIT_CSV: &str = "_out.csv";
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
    #[error("cannot write {}: {source}", path.display())]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no SOP Class UID (0008,0016): cannot make the file meta information")]
    NoSopClass,
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
    #[error("destination {} holds no interrupted run to resume (no {METADATA_CSV})", path.display())]
    NothingToResume { path: PathBuf },
    #[error(
        "cannot resume into {}: {reason}; the source changed since the interrupted run, start a new run instead",
        path.display()
    )]
    ResumeMismatch { path: PathBuf, reason: String },
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
    /// The walk is done and this many DICOM files will be rewritten.
    fn start(&self, _total: u64) {}
    /// One more file is done.
    fn advance(&self) {}
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
    /// The run was cancelled before every file was done.
    pub interrupted: bool,
}

impl Summary {
    /// Whether every file was found, read and written.
    pub fn all_ok(&self) -> bool {
        self.errors == 0 && self.walk_errors.is_empty()
    }
}

/// What the first pass knows of one file.
#[derive(Debug)]
pub enum Scanned {
    NotDicom,
    Unreadable(WalkError),
    Dicom {
        path: PathBuf,
        layout: Layout,
        size: u64,
        header: Result<HeaderFacts, String>,
    },
}

/// Runs `anomize` from SOURCE to DEST with `rules`.
pub fn run(
    config: &RunConfig,
    rules: &RuleSet,
    progress: &dyn Progress,
) -> Result<Summary, RunError> {
    let started = Instant::now();
    let (source, dest) = prepare_folders(config)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.jobs.unwrap_or(0))
        .build()
        .map_err(|e| RunError::Dest {
            path: dest.clone(),
            source: std::io::Error::other(e),
        })?;

    let discovered = discover(&source, Some(&dest));
    let mut summary = Summary {
        files_seen: discovered.files.len() as u64,
        walk_errors: discovered.errors,
        ..Summary::default()
    };
    let cancelled = || config.cancel.load(Ordering::Relaxed);
    let mut planner = Planner::default();
    let mut files = discovered.files.into_iter();
    loop {
        let chunk: Vec<PathBuf> = files.by_ref().take(SCAN_CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        let scanned: Vec<Scanned> = pool.install(|| chunk.into_par_iter().map(scan).collect());
        if cancelled() {
            summary.interrupted = true;
            summary.elapsed = started.elapsed();
            return Ok(summary);
        }
        planner.add(scanned, &mut summary.walk_errors);
    }
    let plan = planner.finish();
    summary.dicom_files = plan.files.len() as u64;
    summary.patients = plan.patients as u64;
    let metadata_rows = || {
        plan.files
            .iter()
            .map(|f| (f.seq, f.source_display(), f.size))
    };
    if config.existing == ExistingOutput::Resume {
        check_resumable(&dest, metadata_rows())?;
    }
    write_metadata_csv(&dest.join(METADATA_CSV), metadata_rows())?;
    let outputs = Outputs {
        dest: &dest,
        rules,
        quarantine_burned_in: config.quarantine_burned_in,
    };
    create_output_folders(&outputs, &plan)?;

    let sinks: Vec<Box<dyn TableSink>> = vec![
        Box::new(CsvSink::create(&dest.join(AUDIT_CSV))?),
        Box::new(XlsxSink::create(&dest.join(AUDIT_XLSX), &dest)?),
    ];
    progress.start(plan.files.len() as u64);
    let worker = Worker {
        outputs: &outputs,
        rules,
        secret: &config.secret,
        resume: config.existing == ExistingOutput::Resume,
    };
    let (sender, receiver) = mpsc::channel::<Vec<(usize, Outcome)>>();
    let (tally, sink_result) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || write_in_order(receiver, sinks, progress));
        pool.install(|| {
            // Outcomes go to the writer a batch at a time: one wake-up of
            // the writer per batch, not per file. Batches are taken in
            // order as workers come free (not split in halves as
            // `par_chunks` would), so the rows the writer holds back until
            // their turn stay few, whatever the number of files.
            plan.files
                .chunks(BATCH)
                .par_bridge()
                .for_each_with(sender, |sender, files| {
                    let outcomes: Vec<(usize, Outcome)> = files
                        .iter()
                        .take_while(|_| !cancelled())
                        .map(|file| (file.seq, worker.process_guarded(file)))
                        .collect();
                    // The writer only stops early on a sink error, reported below.
                    let _ = sender.send(outcomes);
                });
        });
        writer.join().unwrap_or_else(|_| {
            (
                Tally::default(),
                Err(SinkError::new(
                    &dest,
                    "the audit writer stopped unexpectedly",
                )),
            )
        })
    });
    progress.finish();
    sink_result?;
    summary.ok = tally.ok;
    summary.errors = tally.errors;
    summary.resumed = tally.resumed;
    summary.interrupted = cancelled() && tally.ok + tally.errors < summary.dicom_files;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Files handed to a worker at once (and reported to the writer at once).
const BATCH: usize = 16;

/// Creates every output folder the plan needs, once, before the workers
/// start (instead of a `mkdir` per file).
/// Where the outputs of a run go.
struct Outputs<'a> {
    dest: &'a Path,
    rules: &'a RuleSet,
    quarantine_burned_in: bool,
}

impl Outputs<'_> {
    /// The output path of a numbered file.
    fn path(&self, file: &PlannedFile, numbers: PathNumbers) -> PathBuf {
        let relative = self.rules.output().render(numbers);
        if self.quarantine_burned_in && file.burned_in.is_flagged() {
            self.dest.join(QUARANTINE).join(relative)
        } else {
            self.dest.join(relative)
        }
    }
}

fn create_output_folders(outputs: &Outputs<'_>, plan: &Plan) -> Result<(), RunError> {
    let mut folders = std::collections::BTreeSet::new();
    for file in &plan.files {
        if let Some(numbers) = file.numbers
            && let Some(parent) = outputs.path(file, numbers).parent()
        {
            folders.insert(parent.to_path_buf());
        }
    }
    for path in folders {
        std::fs::create_dir_all(&path).map_err(|source| RunError::Dest { path, source })?;
    }
    Ok(())
}

/// A resumed run must list the same files as the interrupted one, in the
/// same order with the same sizes, or its numbering would not match the
/// outputs already written.
fn check_resumable<'a>(
    dest: &Path,
    rows: impl Iterator<Item = (usize, Cow<'a, str>, u64)>,
) -> Result<(), RunError> {
    let mismatch = |reason: String| RunError::ResumeMismatch {
        path: dest.to_path_buf(),
        reason,
    };
    let previous = read_metadata_csv(&dest.join(METADATA_CSV))
        .map_err(|e| mismatch(format!("{METADATA_CSV} is unreadable ({e})")))?;
    let current: Vec<(usize, String, u64)> = rows
        .map(|(seq, path, size)| (seq, path.into_owned(), size))
        .collect();
    if previous.len() != current.len() {
        return Err(mismatch(format!(
            "{METADATA_CSV} lists {} DICOM files, SOURCE now has {}",
            previous.len(),
            current.len()
        )));
    }
    match previous.iter().zip(&current).find(|(a, b)| a != b) {
        Some((_, (seq, _, _))) => Err(mismatch(format!(
            "file {seq} of {METADATA_CSV} is not the same file (path or size)"
        ))),
        None => Ok(()),
    }
}

fn prepare_folders(config: &RunConfig) -> Result<(PathBuf, PathBuf), RunError> {
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
    std::fs::create_dir_all(&config.dest).map_err(|e| RunError::Dest {
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
    let previous: Vec<&str> = [METADATA_CSV, AUDIT_XLSX, AUDIT_CSV]
        .into_iter()
        .filter(|name| dest.join(name).exists())
        .collect();
    match config.existing {
        ExistingOutput::Refuse if !previous.is_empty() => Err(RunError::DestNotEmpty {
            path: dest,
            found: previous.join(", "),
        }),
        ExistingOutput::Resume if !dest.join(METADATA_CSV).is_file() => {
            Err(RunError::NothingToResume { path: dest })
        }
        _ => Ok((source, dest)),
    }
}

fn scan(path: PathBuf) -> Scanned {
    let unreadable = |err: std::io::Error| {
        Scanned::Unreadable(WalkError {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })
    };
    // One open per file for the whole first pass.
    let mut file = match open_source(&path) {
        Ok(file) => file,
        Err(err) => return unreadable(err),
    };
    let head = match read_head(&mut file) {
        Ok(head) => head,
        Err(err) => return unreadable(err),
    };
    let Some(layout) = sniff_bytes(&head) else {
        return Scanned::NotDicom;
    };
    let size = match file.metadata() {
        Ok(meta) => meta.len(),
        Err(err) => return unreadable(err),
    };
    Scanned::Dicom {
        path,
        layout,
        size,
        header: read_header_facts_of_file(head, file, layout).map_err(|e| e.to_string()),
    }
}

/// What became of one file.
struct Outcome {
    row: AuditRow,
    /// The output was already complete (a resumed run) and was kept.
    kept: bool,
}

/// What every file of the second pass shares.
struct Worker<'a> {
    outputs: &'a Outputs<'a>,
    rules: &'a RuleSet,
    secret: &'a [u8],
    /// Keep outputs that already exist (`--resume`).
    resume: bool,
}

impl Worker<'_> {
    /// [`Worker::process`], with a panic (a bug of ours, never expected)
    /// turned into that file's ERROR row instead of the end of the run.
    fn process_guarded(&self, file: &PlannedFile) -> Outcome {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.process(file)))
            .unwrap_or_else(|panic| {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Outcome {
                    row: error_row(file, format!("internal error (please report): {message}")),
                    kept: false,
                }
            })
    }

    fn process(&self, file: &PlannedFile) -> Outcome {
        let mut row = error_row(file, String::new());
        let (patient_index, output) = match (&file.problem, file.patient_index, file.numbers) {
            (None, Some(index), Some(numbers)) => (index, self.outputs.path(file, numbers)),
            (problem, _, _) => {
                row.reason = problem.as_deref().unwrap_or("not numbered").to_string();
                return Outcome { row, kept: false };
            }
        };
        // Outputs appear only by an atomic rename of a complete file, so one
        // that exists is complete.
        if self.resume && output.is_file() {
            row.status = Status::Ok;
            row.destination_file = output.to_string_lossy().into_owned();
            return Outcome { row, kept: true };
        }
        let job = FileJob {
            source: &file.source,
            layout: file.layout,
            output: &output,
            size: file.size,
            context: FileContext {
                patient_index,
                secret: self.secret,
                date_shift_days: if self.rules.shifts_dates() {
                    date_shift_days(self.secret, &file.patient_id)
                } else {
                    0
                },
                identifiers: Identifiers::none(),
            },
        };
        match rewrite_file(&job, self.rules) {
            Ok(()) => {
                row.status = Status::Ok;
                row.destination_file = output.to_string_lossy().into_owned();
            }
            Err(err) => row.reason = err.to_string(),
        }
        Outcome { row, kept: false }
    }
}

/// The audit row of a file that failed, and why.
fn error_row(file: &PlannedFile, reason: String) -> AuditRow {
    AuditRow {
        source_file: file.source_display().into_owned(),
        patient_name: file.patient_name.to_string(),
        patient_id: file.patient_id.to_string(),
        patient_index: file.patient_index,
        file_size: file.size,
        destination_file: String::new(),
        status: Status::Error,
        reason,
        burned_in_risk: file.burned_in.to_string(),
    }
}

/// Counts of a run's outcomes.
#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    errors: u64,
    resumed: u64,
}

impl Tally {
    fn add(&mut self, outcome: &Outcome) {
        match outcome.row.status {
            Status::Ok => self.ok += 1,
            Status::Error => self.errors += 1,
        }
        if outcome.kept {
            self.resumed += 1;
        }
    }
}

/// Receives outcomes in any order and writes them in sequence order. After
/// a cancelled run some numbers never arrive: the rows received are still
/// written, in order.
fn write_in_order(
    receiver: mpsc::Receiver<Vec<(usize, Outcome)>>,
    mut sinks: Vec<Box<dyn TableSink>>,
    progress: &dyn Progress,
) -> (Tally, Result<(), SinkError>) {
    let mut pending: BTreeMap<usize, Outcome> = BTreeMap::new();
    let mut next = 1;
    let mut tally = Tally::default();
    for batch in receiver {
        for (seq, outcome) in batch {
            progress.advance();
            pending.insert(seq, outcome);
            while let Some(outcome) = pending.remove(&next) {
                if let Err(err) = write_row(&mut sinks, &outcome, &mut tally) {
                    return (tally, Err(err));
                }
                next += 1;
            }
        }
        // One write per batch rather than per row: the writer thread
        // shares the cores with the workers.
        if let Err(err) = sinks.iter_mut().try_for_each(|sink| sink.flush()) {
            return (tally, Err(err));
        }
    }
    for (_, outcome) in std::mem::take(&mut pending) {
        if let Err(err) = write_row(&mut sinks, &outcome, &mut tally) {
            return (tally, Err(err));
        }
    }
    let finished = sinks.into_iter().try_for_each(|sink| sink.finish());
    (tally, finished)
}

fn write_row(
    sinks: &mut [Box<dyn TableSink>],
    outcome: &Outcome,
    tally: &mut Tally,
) -> Result<(), SinkError> {
    tally.add(outcome);
    sinks
        .iter_mut()
        .try_for_each(|sink| sink.write_row(&outcome.row))
}
