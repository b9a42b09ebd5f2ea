//! One worker of a run: it takes batches of walked files in order, scans
//! them, numbers them in its batch's turn, and rewrites them from the
//! bytes the scan read. Each file is opened once and its head read once.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;

use super::head::Head;
use super::kept::check_kept;
use super::listing::{Listing, ListingFiles};
use super::scan::{Scanned, ScannedFile, scan};
use super::turns::{Batches, Turns};
use super::{
    Assigner, Assignment, Done, FileError, FileJob, Halt, HeaderFacts, Identity, Outcome, Outputs,
    PlannedFile, Planner, Progress, RunAssigner, rewrite_file,
};
use crate::dest;
use crate::guard::catch_quietly;
use crate::profile::PatientKey;
use crate::registry::{self, Registry};
use crate::rules::{FileContext, Identifiers, RuleSet, date_shift_days};
use crate::walk::WalkError;

/// A path of the walk, or why the walk could not look at it.
pub type Walked = Result<PathBuf, WalkError>;

/// What every worker of a run shares.
pub struct Worker<'a> {
    pub outputs: &'a Outputs<'a>,
    pub rules: &'a RuleSet,
    pub secret: &'a [u8],
    /// Keep outputs that already exist and are right (`--resume`).
    pub resume: bool,
    /// Replace whatever sits at an output name (`--overwrite`); a fresh
    /// run never replaces a file.
    pub overwrite: bool,
    pub cancel: &'a AtomicBool,
    /// Set when DEST cannot be written: no new file is started.
    pub halt: &'a Halt,
    /// The listing files, written before any output of a batch appears;
    /// `None` in a dry run.
    pub listing: Option<&'a ListingFiles>,
    /// Plan only: no output is written.
    pub dry_run: bool,
    pub numbering: &'a Turns<Numbering>,
    pub progress: &'a dyn Progress,
}

/// The numbering state of a run, changed by one batch at a time in walk
/// order.
pub struct Numbering {
    planner: Planner,
    book: Book,
    listing: Listing,
    files_seen: u64,
    walk_errors: Vec<WalkError>,
    /// The listing or registry could not be written: no file is numbered
    /// after it.
    failed: Option<String>,
}

/// Who hands out patient indices and image numbers.
pub enum Book {
    /// The run itself: 1, 2, 3 ... in order of first appearance.
    Run(RunAssigner),
    /// A registry, for run `run`: numbers go on from earlier runs
    /// (`resuming`: the run numbered some of its files before).
    Registry {
        registry: Registry,
        run: i64,
        resuming: bool,
    },
}

/// The book of one batch: a registry batch is one transaction.
enum BatchBook<'a> {
    Run(&'a mut RunAssigner),
    Registry(registry::Batch<'a>),
}

impl Assigner for BatchBook<'_> {
    fn assign(
        &mut self,
        seq: usize,
        identity: &Identity<'_>,
        instance: Option<&[u8]>,
    ) -> Result<Assignment, String> {
        match self {
            BatchBook::Run(book) => book.assign(seq, identity, instance),
            BatchBook::Registry(batch) => batch
                .assign(seq, identity.for_registry(), instance)
                .map(Assignment::from)
                .map_err(|e| e.to_string()),
        }
    }
}

impl Book {
    fn begin(&mut self) -> Result<BatchBook<'_>, String> {
        match self {
            Book::Run(book) => Ok(BatchBook::Run(book)),
            Book::Registry {
                registry,
                run,
                resuming,
            } => registry
                .batch(*run, *resuming)
                .map(BatchBook::Registry)
                .map_err(|e| e.to_string()),
        }
    }
}

impl BatchBook<'_> {
    fn commit(self) -> Result<(), String> {
        match self {
            BatchBook::Run(_) => Ok(()),
            BatchBook::Registry(batch) => batch.commit().map_err(|e| e.to_string()),
        }
    }
}

/// What numbering found, at the end of a run.
pub struct Numbered {
    pub files_seen: u64,
    pub files: usize,
    pub patients: u32,
    pub walk_errors: Vec<WalkError>,
    /// The book, for the run to record its end in a registry.
    pub book: Book,
}

/// A numbered DICOM file of the batch in hand, still open.
struct InHand {
    planned: PlannedFile,
    file: File,
    head: Head,
    facts: Option<HeaderFacts>,
}

/// What a worker keeps from file to file.
#[derive(Default)]
struct Scratch {
    /// Buffers for the heads of a batch, reused.
    heads: Vec<Vec<u8>>,
    /// The file being rewritten (whole, if small); it only ever grows, so
    /// that its bytes are not zeroed again for every file.
    input: Vec<u8>,
    /// The output folder made last: made again only when it changes.
    folder: PathBuf,
}

impl Numbering {
    pub fn new(listing: Listing, key: PatientKey, book: Book) -> Numbering {
        Numbering {
            planner: Planner::new(key),
            book,
            listing,
            files_seen: 0,
            walk_errors: Vec::new(),
            failed: None,
        }
    }

    /// Numbers the DICOM files of one batch (of `files` files and the
    /// walk's errors), in walk order, and queues their listing rows with
    /// the output `output_of` plans for them. With a registry the rows are
    /// written out and the numbers committed here; otherwise the caller
    /// writes the queue out after the turn (`true`), before the batch is
    /// rewritten.
    fn number(
        &mut self,
        scanned: Vec<Scanned>,
        files: u64,
        output_of: &dyn Fn(&PlannedFile) -> Option<PathBuf>,
        files_out: Option<&ListingFiles>,
    ) -> (Vec<InHand>, bool) {
        self.files_seen += files;
        if self.failed.is_some() {
            return (Vec::new(), false);
        }
        let Numbering {
            planner,
            book,
            listing,
            walk_errors,
            failed,
            ..
        } = self;
        let mut book = match book.begin() {
            Ok(book) => book,
            Err(err) => {
                *failed = Some(err);
                return (Vec::new(), false);
            }
        };
        let mut numbered = Vec::with_capacity(scanned.len());
        for item in scanned {
            let scanned = match item {
                Scanned::NotDicom => continue,
                Scanned::Unreadable(err) => {
                    walk_errors.push(err);
                    continue;
                }
                Scanned::Dicom(scanned) => scanned,
            };
            let ScannedFile {
                path,
                opened,
                header,
            } = scanned;
            let facts = header.as_ref().map_err(String::as_str);
            let planned = match planner.number(path, opened.layout, opened.size, facts, &mut book) {
                Ok(planned) => planned,
                Err(err) => {
                    *failed = Some(err);
                    break;
                }
            };
            let mut planned = planned;
            planned.output = output_of(&planned);
            listing.add(
                planned.seq,
                &planned.source_display(),
                planned.size,
                planned.output.as_deref().and_then(Path::to_str),
            );
            numbered.push(InHand {
                planned,
                file: opened.file,
                head: opened.head,
                facts: header.ok(),
            });
        }
        let Some(files_out) = files_out else {
            // A dry run lists nothing.
            return (numbered, false);
        };
        files_out.queue(listing.take());
        // The listing is written out, then the registry's numbers made
        // durable, before any output of the batch appears: after a kill a
        // resume finds every output listed and numbers it as before.
        let deferred = matches!(book, BatchBook::Run(_));
        if failed.is_none() && !deferred {
            let durable = files_out.write_queued().and_then(|()| book.commit());
            if let Err(err) = durable {
                *failed = Some(err);
            }
        }
        if failed.is_some() {
            // Not listed for sure: none of them may get an output.
            numbered.clear();
        }
        (numbered, deferred)
    }

    /// How many files a batch takes: a registry's transactions want more.
    pub fn batch_size(&self) -> usize {
        match self.book {
            Book::Run(_) => super::BATCH,
            Book::Registry { .. } => super::REGISTRY_BATCH,
        }
    }

    /// Why the listing or registry could not be written, if it could not.
    fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// The end of numbering: what it found. A listing that could not be
    /// written stops the run.
    pub fn finish(mut self, halt: &Halt, files_out: Option<&ListingFiles>) -> Numbered {
        if let Some(Err(err)) = files_out.map(ListingFiles::write_queued) {
            self.failed.get_or_insert(err);
        }
        if let Some(err) = self.failed {
            halt.stop(err);
        }
        Numbered {
            files_seen: self.files_seen,
            files: self.planner.files(),
            patients: self.planner.patients(),
            walk_errors: self.walk_errors,
            book: self.book,
        }
    }
}

impl Worker<'_> {
    /// Takes batches of walked paths until there are no more or the run is
    /// cancelled; sends their outcomes to the writer.
    pub fn take_batches(&self, batches: &Batches<Walked>, sender: &Sender<Vec<Outcome>>) {
        let mut scratch = Scratch::default();
        while !self.stopping() {
            let Some((number, walked)) = batches.take() else {
                break;
            };
            // Every batch taken is numbered, or the next would wait forever.
            let files = walked.iter().filter(|entry| entry.is_ok()).count();
            let scanned: Vec<Scanned> = walked
                .into_iter()
                .map(|entry| match entry {
                    Ok(path) => scan(path, scratch.heads.pop().unwrap_or_default()),
                    Err(err) => Scanned::Unreadable(err),
                })
                .collect();
            let output_of =
                |planned: &PlannedFile| Some(self.outputs.relative_path(planned, planned.numbers?));
            let (mut in_hand, deferred) = self.numbering.in_turn(number, |numbering| {
                let numbered = numbering.number(scanned, files as u64, &output_of, self.listing);
                if let Some(err) = numbering.failure() {
                    self.halt.stop(err.to_string());
                }
                numbered
            });
            if deferred
                && !in_hand.is_empty()
                && let Some(Err(err)) = self.listing.map(ListingFiles::write_queued)
            {
                // Not listed for sure: none of them may get an output.
                self.halt.stop(err);
                in_hand.clear();
            }
            self.progress.dicom(in_hand.len() as u64);
            for _ in in_hand.len()..files {
                self.progress.advance();
            }
            let mut outcomes = Vec::with_capacity(in_hand.len());
            for file in in_hand {
                if self.stopping() {
                    break;
                }
                let outcome = self.process_guarded(file, &mut scratch);
                if let Err(err) = &outcome.result
                    && err.stops_run()
                {
                    // No row: the file is not done, and `--resume` does it.
                    self.halt.stop(err.to_string());
                    break;
                }
                outcomes.push(outcome);
            }
            // The writer only stops early on a sink error, reported by the run.
            let _ = sender.send(outcomes);
        }
    }

    /// Takes batches of files numbered elsewhere (a staged run's `write`
    /// stage) until there are no more or the run is cancelled: each file
    /// is scanned again, for the facts its rewrite needs, and rewritten as
    /// a run would.
    pub fn take_planned(&self, batches: &Batches<PlannedFile>, sender: &Sender<Vec<Outcome>>) {
        let mut scratch = Scratch::default();
        while !self.stopping() {
            let Some((_, planned)) = batches.take() else {
                break;
            };
            let mut outcomes = Vec::with_capacity(planned.len());
            for planned in planned {
                if self.stopping() {
                    break;
                }
                let buffer = scratch.heads.pop().unwrap_or_default();
                let outcome = match rescan(planned, buffer) {
                    Ok(file) => self.process_guarded(file, &mut scratch),
                    Err(outcome) => *outcome,
                };
                if let Err(err) = &outcome.result
                    && err.stops_run()
                {
                    self.halt.stop(err.to_string());
                    break;
                }
                outcomes.push(outcome);
            }
            let _ = sender.send(outcomes);
        }
    }

    /// Whether the run is cancelled or stopped: no new file starts.
    fn stopping(&self) -> bool {
        self.cancel.load(Ordering::Relaxed) || self.halt.is_stopped()
    }

    /// [`Worker::process`], with a panic (a bug of ours, never expected)
    /// turned into that file's ERROR row instead of the end of the run.
    fn process_guarded(&self, file: InHand, scratch: &mut Scratch) -> Outcome {
        let InHand {
            planned,
            file: source,
            head,
            facts,
        } = file;
        let known = scratch.take_head(head);
        let work = || self.process(&planned, &source, facts.as_ref(), known, scratch);
        let result = catch_quietly(work).unwrap_or_else(|panic| Err(FileError::Internal(panic)));
        let (result, cleaned) = match result {
            Ok((done, cleaned)) => (Ok(done), cleaned),
            Err(err) => (Err(err), 0),
        };
        Outcome {
            file: planned,
            result,
            cleaned,
        }
    }

    /// De-identifies one file whose first `known` bytes are in
    /// `scratch.input`; with what became of it, how many kept values lost
    /// identifying text.
    fn process(
        &self,
        planned: &PlannedFile,
        source: &File,
        facts: Option<&HeaderFacts>,
        known: usize,
        scratch: &mut Scratch,
    ) -> Result<(Done, u32), FileError> {
        if planned.directory {
            // Made anew from the outputs at the end of the run.
            return Ok((
                if self.dry_run {
                    Done::Planned
                } else {
                    Done::Directory
                },
                0,
            ));
        }
        let (patient_index, output, facts) =
            match (facts, planned.patient_index, self.outputs.path(planned)) {
                (Some(facts), Some(index), Some(output)) => (index, output, facts),
                _ => {
                    let problem = planned.problem.as_deref().unwrap_or("not numbered");
                    return Err(FileError::Header(problem.to_string()));
                }
            };
        if planned.exported_before.is_some() {
            return Ok((Done::Exported, 0));
        }
        if self.dry_run {
            return Ok((Done::Planned, 0));
        }
        let context = FileContext {
            patient_index,
            secret: self.secret,
            date_shift_days: if self.rules.shifts_dates() {
                date_shift_days(self.secret, &planned.patient_id)
            } else {
                0
            },
            identifiers: Identifiers::none(),
        };
        let mut done = Done::Written;
        if (self.resume || self.overwrite) && dest::entry_exists(&output) {
            // Outputs appear only by an atomic rename of a complete file;
            // whatever else sits at the name (planted, or another file's
            // output) is replaced.
            if self.resume {
                if check_kept(&output, self.rules, &context, facts).is_ok() {
                    return Ok((Done::Kept, 0));
                }
                done = Done::Redone;
            }
            dest::remove_entry(&output).map_err(|source| FileError::Output {
                path: output.clone(),
                source,
            })?;
        }
        let job = FileJob {
            source: &planned.source,
            layout: planned.layout,
            output: &output,
            size: planned.size,
            input: source,
            facts,
            context,
        };
        self.make_folder(&output, &mut scratch.folder)?;
        let cleaned = rewrite_file(&job, self.rules, &mut scratch.input, known)?;
        Ok((done, cleaned))
    }

    /// Makes the folder of `output` unless it is the one made last; no
    /// folder on the way may be a link.
    fn make_folder(&self, output: &Path, made: &mut PathBuf) -> Result<(), FileError> {
        let Some(folder) = output.parent() else {
            return Ok(());
        };
        if folder != made {
            dest::make_folders_inside(self.outputs.dest, folder).map_err(|source| {
                FileError::Output {
                    path: folder.to_path_buf(),
                    source,
                }
            })?;
            *made = folder.to_path_buf();
        }
        Ok(())
    }
}

impl Scratch {
    /// Puts a file's head at the start of the input buffer and keeps the
    /// head's own buffer for the next scan; returns the head's length.
    /// (Heads stay small: a file is read whole into the one input buffer,
    /// not into the buffer of its head, of which a batch has many.)
    fn take_head(&mut self, head: Head) -> usize {
        let known = head.bytes().len();
        if self.input.len() < known {
            self.input.resize(known, 0);
        }
        self.input[..known].copy_from_slice(head.bytes());
        self.heads.push(head.into_buffer());
        known
    }
}

/// A planned file opened and scanned again, with the name and ID its audit
/// row shows; an ERROR outcome when it is no longer the file the plan
/// numbered (gone, not DICOM, another size).
fn rescan(mut planned: PlannedFile, buffer: Vec<u8>) -> Result<InHand, Box<Outcome>> {
    let changed = |planned: PlannedFile, why: String| {
        Box::new(Outcome {
            file: planned,
            result: Err(FileError::Header(format!(
                "the source changed since it was scanned: {why}"
            ))),
            cleaned: 0,
        })
    };
    let scanned = match scan(planned.source.clone(), buffer) {
        Scanned::Dicom(scanned) => scanned,
        Scanned::NotDicom => return Err(changed(planned, "it is no longer DICOM".into())),
        Scanned::Unreadable(err) => return Err(changed(planned, err.reason)),
    };
    let ScannedFile { opened, header, .. } = scanned;
    if opened.size != planned.size {
        let why = format!("{} bytes, {} when scanned", opened.size, planned.size);
        return Err(changed(planned, why));
    }
    planned.layout = opened.layout;
    if let Ok(facts) = &header {
        planned.patient_name = facts.patient_name.as_str().into();
        planned.patient_id = facts.patient_id.as_str().into();
        planned.burned_in = facts.burned_in;
    }
    Ok(InHand {
        planned,
        file: opened.file,
        head: opened.head,
        facts: header.ok(),
    })
}
