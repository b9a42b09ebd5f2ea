//! A run in stages, for a scheduler to spread over many machines (Slurm
//! job arrays, Kubernetes Indexed Jobs), with the result of one run:
//!
//! 1. `scan` K/N: shard K walks SOURCE (names only: every shard walks all
//!    of it, in the run's sorted order) and reads the headers of its own
//!    files, those whose path relative to SOURCE hashes to K. It writes
//!    `scan-K-of-N.csv`: each file's place in the walk and who it belongs
//!    to, hashed with the secret.
//! 2. `number`: merges the N scans by walk place, which is the order of
//!    one run, and numbers the files as one run does (the same planner and
//!    book; the registry, if any, is written here only). It writes
//!    `numbered.csv`, and `_metadata.csv`, `_outputs.csv` and `_run.json`
//!    as one run does before its first output.
//! 3. `write` K/N: shard K rewrites its files into DEST with the workers
//!    of a run and writes its audit rows to `audit-K-of-N.csv`, renamed
//!    into place when the shard is done. A shard run again after an
//!    interruption keeps the outputs that are complete and right.
//! 4. `merge`: the audit parts, in numbering order, become `_out.csv` and
//!    `_out.xlsx`; every numbered file must have its row.
//!
//! Every stage file lives in the work folder (shared by the machines) and
//! is written under a temporary name, then renamed: a stage never reads a
//! half-written file, and a stage run again replaces its own file.

mod files;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Instant, SystemTime};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use self::files::{Draft, Header, Reader, hex, partial_of, unhex};
use super::directories::{self, DirectoryWork};
use super::listing::{Listing, ListingFiles};
use super::lock::RunLock;
use super::plan::{Claim, Identity, KeyNote, identify};
use super::scan::{Scanned, scan};
use super::turns::{Batches, Turns};
use super::worker::{Book, Numbering, Worker};
use super::{
    Assigner, Assignment, BATCH, ExistingOutput, Halt, Manifest, Outputs, PlannedFile, Planner,
    Progress, REGISTRY_BATCH, RUN_MANIFEST, RunAssigner, RunConfig, RunCounts, RunError, RunState,
    audit_sinks, check_previous_run, manifest, prepare_folders, write_in_order,
};
use crate::codec::Layout;
use crate::pathtext::{path_to_text, text_to_path};
use crate::profile::PatientKey;
use crate::registry::{self, Registry, RunEnd, RunRecord};
use crate::rules::{RuleSet, hmac, secret_fingerprint};
use crate::sink::{AuditRow, CsvSink, SinkError, Status, TableSink, from_csv_cell};
use crate::walk::walk;

/// The numbered plan `number` writes in the work folder.
pub const NUMBERED: &str = "numbered.csv";
/// Written by `merge` when the audit is complete: the shards are done.
const MERGED: &str = "merged.json";
/// Written by `number` when it starts: a `number` run again after an
/// interruption goes on with the same registry run.
const NUMBERING: &str = "numbering.json";

/// A staged run that cannot go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StageError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("{0}")]
    Mismatch(String),
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    #[error(transparent)]
    Audit(#[from] SinkError),
}

impl StageError {
    fn file(path: &Path, reason: &dyn std::fmt::Display) -> StageError {
        StageError::File {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }
}

/// Which of N parts of the work a stage does: `K/N`, K from 1 to N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || format!("{text:?} is not a shard K/N (K from 1 to N, e.g. 2/8)");
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = index.trim().parse().map_err(|_| bad())?;
        let count: usize = count.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The shard of the file at `relative` (to SOURCE): a hash of its path
    /// (FNV-1a), the same on every machine and in every stage.
    pub fn of(relative: &Path, count: usize) -> usize {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in relative.as_os_str().as_encoded_bytes() {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        (hash % count as u64) as usize + 1
    }

    fn owns(&self, relative: &Path) -> bool {
        Shard::of(relative, self.count) == self.index
    }

    fn file_name(&self, stage: &str) -> String {
        format!("{stage}-{}-of-{}.csv", self.index, self.count)
    }
}

/// What every stage of one staged run agrees on: the run's settings, as
/// the scan shards recorded them (and `number` checked they agree).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StagedRun {
    pub version: String,
    /// SOURCE, canonical.
    pub source: String,
    /// DEST and the audit folder as given (made absolute).
    pub dest: String,
    pub audit_dir: Option<String>,
    pub registry: Option<String>,
    pub force_registry: bool,
    pub quarantine_burned_in: bool,
    pub profiles: Vec<String>,
    pub profile_fingerprint: String,
    pub secret_fingerprint: String,
    pub shards: usize,
    /// Entries the walk of SOURCE found, and a digest of their paths: every
    /// shard must have walked the same tree.
    pub walked: u64,
    pub walk_digest: String,
}

impl StagedRun {
    /// Refuses rules or a secret other than those the scan used.
    fn check(&self, rules: &RuleSet, secret: &[u8]) -> Result<(), StageError> {
        if rules.fingerprint() != self.profile_fingerprint {
            return Err(StageError::Mismatch(format!(
                "the profile ({}, {}) is not the one the scan used ({}, {}): give every stage the same --profile",
                rules.layers().join(" + "),
                rules.fingerprint(),
                self.profiles.join(" + "),
                self.profile_fingerprint
            )));
        }
        if secret_fingerprint(secret) != self.secret_fingerprint {
            return Err(StageError::Mismatch(format!(
                "the secret (fingerprint {}) is not the one the scan used ({}): give every stage the same secret",
                secret_fingerprint(secret),
                self.secret_fingerprint
            )));
        }
        Ok(())
    }
}

/// The header of a shard's scan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct ScanHeader {
    shard: usize,
    run: StagedRun,
}

/// The header of the numbered plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct NumberedHeader {
    run: StagedRun,
    /// DEST and the audit folder, canonical (as the audit names them).
    dest: PathBuf,
    audit_dir: PathBuf,
}

/// What a stage did, for its summary.
#[derive(Debug, Default)]
pub struct StageSummary {
    /// Files the stage looked at (its share).
    pub files: u64,
    pub ok: u64,
    pub errors: u64,
    /// Paths that could not be looked at (named in the scan's warnings).
    pub unreadable: Vec<String>,
    pub patients: u64,
    /// Outputs a resumed `write` shard kept.
    pub kept: u64,
    /// The stage was already done: nothing was changed.
    pub already_done: bool,
    pub interrupted: bool,
    pub stopped: Option<String>,
    pub elapsed: std::time::Duration,
    /// Where the audit is (`merge`).
    pub audit_dir: PathBuf,
    /// The first ERROR rows, source and reason (`merge`; the audit has
    /// them all).
    pub first_errors: Vec<String>,
}

/// How many failed files `merge` names.
const FAILURES_NAMED: usize = 5;

/// The second column of a scan row: a DICOM file, or a path the walk or
/// the scan could not look at.
const DICOM_ROW: &str = "dicom";
const UNREADABLE_ROW: &str = "unreadable";
/// How a scan and the numbered plan mark a DICOMDIR.
const DIRECTORY: &str = "directory";

/// Stage 1: shard `shard` scans its files of SOURCE into
/// `work/scan-K-of-N.csv`.
pub fn scan_shard(
    work: &Path,
    shard: Shard,
    config: &RunConfig,
    rules: &RuleSet,
) -> Result<StageSummary, StageError> {
    let started = Instant::now();
    let source = config.source.canonicalize().map_err(|e| RunError::Source {
        path: config.source.clone(),
        source: e,
    })?;
    let absolute = |path: &Path| {
        std::path::absolute(path)
            .map(|p| path_to_text(&p).into_owned())
            .map_err(|e| RunError::Dest {
                path: path.to_path_buf(),
                source: e,
            })
    };
    let dest = std::path::absolute(&config.dest).map_err(|e| RunError::Dest {
        path: config.dest.clone(),
        source: e,
    })?;
    crate::dest::create_folder_all(work).map_err(|e| StageError::file(work, &e))?;
    let mut run = StagedRun {
        version: env!("CARGO_PKG_VERSION").to_string(),
        source: path_to_text(&source).into_owned(),
        dest: path_to_text(&dest).into_owned(),
        audit_dir: config.audit_dir.as_deref().map(absolute).transpose()?,
        registry: config
            .registry
            .as_ref()
            .map(|choice| absolute(&choice.path))
            .transpose()?,
        force_registry: config.registry.as_ref().is_some_and(|choice| choice.force),
        quarantine_burned_in: config.quarantine_burned_in,
        profiles: rules.layers().to_vec(),
        profile_fingerprint: rules.fingerprint().to_string(),
        secret_fingerprint: secret_fingerprint(&config.secret),
        shards: shard.count,
        walked: 0,
        walk_digest: String::new(),
    };
    // The walk of the whole tree first (names only), then the headers of
    // this shard's files, a chunk at a time, read in parallel.
    let mut digest = sha2::Sha256::default();
    let mut mine = Vec::new();
    for (place, entry) in walk(&source, Some(&dest)).enumerate() {
        use sha2::Digest;
        let path = match &entry {
            Ok(path) => path,
            Err(err) => &err.path,
        };
        let relative = path.strip_prefix(&source).unwrap_or(path);
        digest.update(relative.as_os_str().as_encoded_bytes());
        digest.update([0]);
        run.walked += 1;
        if shard.owns(relative) {
            mine.push((place as u64, entry));
        }
    }
    {
        use sha2::Digest;
        run.walk_digest = hex(&digest.finalize());
    }
    let path = work.join(shard.file_name("scan"));
    let header = Header {
        stage: "scan".to_string(),
        body: ScanHeader {
            shard: shard.index,
            run,
        },
    };
    let mut draft = Draft::create(&path, &header)?;
    let mut summary = StageSummary::default();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.jobs.unwrap_or(0))
        .build()
        .ok();
    for chunk in mine.chunks_mut(4096) {
        if config.cancel.load(Ordering::Relaxed) {
            summary.interrupted = true;
            return Ok(summary);
        }
        let rows = |chunk: &mut [(u64, super::worker::Walked)]| -> Vec<Vec<String>> {
            chunk
                .par_iter_mut()
                .map_init(Vec::new, |buffer, (place, entry)| {
                    scan_row(*place, entry, rules, &config.secret, buffer)
                })
                .flatten()
                .collect()
        };
        let rows = match &pool {
            Some(pool) => pool.install(|| rows(chunk)),
            None => rows(chunk),
        };
        for row in rows {
            if row[1] == UNREADABLE_ROW {
                summary.unreadable.push(format!("{}: {}", row[2], row[3]));
            } else {
                summary.files += 1;
            }
            let cells: Vec<&str> = row.iter().map(String::as_str).collect();
            draft.row(&cells)?;
        }
    }
    draft.commit()?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The scan row of one walked entry: `None` for a file that is not DICOM.
///
/// Columns: walk place, `dicom`, source, size, identity kind (`key`,
/// `fallback`, `own`, or `problem`), patient hash, instance hash, study
/// hash, series hash, burned-in flag (0/1), problem. An entry that could
/// not be looked at: walk place, `unreadable`, path, reason.
fn scan_row(
    place: u64,
    entry: &mut super::worker::Walked,
    rules: &RuleSet,
    secret: &[u8],
    buffer: &mut Vec<u8>,
) -> Option<Vec<String>> {
    let unreadable = |path: &Path, reason: &str| {
        Some(vec![
            place.to_string(),
            UNREADABLE_ROW.to_string(),
            path_to_text(path).into_owned(),
            reason.to_string(),
        ])
    };
    let path = match entry {
        Ok(path) => std::mem::take(path),
        Err(err) => return unreadable(&err.path, &err.reason),
    };
    // The head's buffer is kept for the next file of this thread.
    let scanned = match scan(path, std::mem::take(buffer)) {
        Scanned::NotDicom => return None,
        Scanned::Unreadable(err) => return unreadable(&err.path, &err.reason),
        Scanned::Dicom(mut scanned) => {
            *buffer = std::mem::take(&mut scanned.opened.head).into_buffer();
            scanned
        }
    };
    let mut row = vec![
        place.to_string(),
        DICOM_ROW.to_string(),
        path_to_text(&scanned.path).into_owned(),
        scanned.opened.size.to_string(),
    ];
    let facts = match &scanned.header {
        Ok(facts) => facts,
        Err(problem) => {
            row.extend(["problem", "", "", "", "", "0"].map(String::from));
            row.push(problem.clone());
            return Some(row);
        }
    };
    if facts.is_directory {
        // A DICOMDIR: listed, not numbered; `merge` makes a new one.
        row.extend([DIRECTORY, "", "", "", "", "0", ""].map(String::from));
        return Some(row);
    }
    let instance = facts.sop_uids.instance.as_deref();
    let (identity, note) = identify(rules.patient_key(), facts, instance, &scanned.path);
    let keyed = |domain: &str, text: &str| hex(&hmac(secret, domain, text.as_bytes())[..16]);
    row.extend([
        note_name(note).to_string(),
        hex(&registry::patient_hash(secret, identity.for_registry())),
        instance
            .and_then(|uid| registry::instance_hash(secret, uid))
            .map(|hash| hex(&hash))
            .unwrap_or_default(),
        keyed("stage-study", &facts.study_uid),
        keyed("stage-series", &facts.series_uid),
        u8::from(facts.burned_in.is_flagged()).to_string(),
        String::new(),
    ]);
    Some(row)
}

fn note_name(note: KeyNote) -> &'static str {
    match note {
        KeyNote::Key => "key",
        KeyNote::Fallback => "fallback",
        KeyNote::Own => "own",
    }
}

fn note_of(name: &str) -> KeyNote {
    match name {
        "fallback" => KeyNote::Fallback,
        "own" => KeyNote::Own,
        _ => KeyNote::Key,
    }
}

/// The scans of all shards, in walk order.
struct Scans {
    readers: Vec<Reader<Header<ScanHeader>>>,
    /// The next walk place of each reader's file.
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    run: StagedRun,
}

impl Scans {
    fn open(work: &Path) -> Result<Scans, StageError> {
        let count = scan_count(work)?;
        let mut readers = Vec::with_capacity(count);
        let mut missing = Vec::new();
        for index in 1..=count {
            let path = work.join(Shard { index, count }.file_name("scan"));
            if !path.exists() {
                missing.push(index.to_string());
                continue;
            }
            readers.push(Reader::<Header<ScanHeader>>::open(&path)?);
        }
        if !missing.is_empty() {
            return Err(StageError::Mismatch(format!(
                "the scan of shard {} of {count} is missing in {} (has it finished?)",
                missing.join(", "),
                work.display()
            )));
        }
        let run = readers[0].header.body.run.clone();
        for reader in &readers {
            if reader.header.body.run != run {
                return Err(StageError::Mismatch(format!(
                    "{} was made by another run or saw another SOURCE than {} (scan every shard again with the same settings)",
                    reader.path.display(),
                    readers[0].path.display()
                )));
            }
        }
        let mut scans = Scans {
            readers,
            heap: BinaryHeap::new(),
            run,
        };
        for shard in 0..count {
            scans.push_next(shard)?;
        }
        Ok(scans)
    }

    fn push_next(&mut self, shard: usize) -> Result<(), StageError> {
        let reader = &mut self.readers[shard];
        if let Some(row) = reader.next_row()? {
            let place = row.get(0).and_then(|p| p.parse().ok()).ok_or_else(|| {
                StageError::file(&reader.path, &"a row without its place in the walk")
            })?;
            self.heap.push(Reverse((place, shard)));
        }
        Ok(())
    }

    /// The next row in walk order (its cells), `None` at the end.
    fn next(&mut self) -> Result<Option<Vec<String>>, StageError> {
        let Some(Reverse((_, shard))) = self.heap.pop() else {
            return Ok(None);
        };
        let row = self.readers[shard]
            .current()
            .iter()
            .map(str::to_string)
            .collect();
        self.push_next(shard)?;
        Ok(Some(row))
    }
}

/// How many shards the scans in `work` were made for.
fn scan_count(work: &Path) -> Result<usize, StageError> {
    let entries = std::fs::read_dir(work).map_err(|e| StageError::file(work, &e))?;
    let mut counts = std::collections::BTreeSet::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(count) = name
            .strip_prefix("scan-")
            .and_then(|rest| rest.strip_suffix(".csv"))
            .and_then(|rest| rest.split_once("-of-"))
            .and_then(|(_, count)| count.parse::<usize>().ok())
        {
            counts.insert(count);
        }
    }
    match counts.len() {
        1 => Ok(counts.into_iter().next().unwrap_or(1)),
        0 => Err(StageError::Mismatch(format!(
            "{} holds no scan (run `stage scan` first)",
            work.display()
        ))),
        _ => Err(StageError::Mismatch(format!(
            "{} holds scans for different shard counts ({}): remove the old ones",
            work.display(),
            counts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// What `number` started with: a `number` run again goes on with it.
#[derive(Debug, Serialize, Deserialize)]
struct NumberingState {
    registry_run: Option<i64>,
    started: String,
}

/// Hands out numbers from the hashes of a scan, as the run's book would
/// from the identities themselves.
enum HashedBook<'a> {
    Run(&'a mut RunAssigner),
    Registry(registry::Batch<'a>),
}

impl Assigner for HashedBook<'_> {
    /// `identity` holds the patient hash in hex; `instance` the instance
    /// hash in hex.
    fn assign(
        &mut self,
        seq: usize,
        identity: &Identity<'_>,
        instance: Option<&[u8]>,
    ) -> Result<Assignment, String> {
        match self {
            HashedBook::Run(book) => book.assign(seq, identity, instance),
            HashedBook::Registry(batch) => {
                let key = match identity {
                    Identity::Key(hex) => hex.as_str(),
                    Identity::Own { source, .. } => source.to_str().unwrap_or_default(),
                };
                let key = unhex(key).ok_or("a scan row with a damaged patient hash")?;
                let instance = instance
                    .map(|hex| std::str::from_utf8(hex).ok().and_then(unhex))
                    .map(|hash| hash.ok_or("a scan row with a damaged instance hash"))
                    .transpose()?;
                batch
                    .assign_hashed(seq, &key, instance.as_deref())
                    .map(Assignment::from)
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// Stage 2: merges the scans of `work` in walk order, numbers the files
/// as one run would, and writes the numbered plan, the listing and the
/// run manifest.
pub fn number(work: &Path, rules: &RuleSet, secret: &[u8]) -> Result<StageSummary, StageError> {
    let started = Instant::now();
    let mut scans = Scans::open(work)?;
    let run = scans.run.clone();
    run.check(rules, secret)?;
    let state_path = work.join(NUMBERING);
    let earlier: Option<NumberingState> = std::fs::read(&state_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let config = RunConfig {
        source: text_to_path(&run.source),
        dest: text_to_path(&run.dest),
        jobs: Some(1),
        existing: if earlier.is_some() {
            ExistingOutput::Overwrite
        } else {
            ExistingOutput::Refuse
        },
        secret: secret.to_vec(),
        quarantine_burned_in: run.quarantine_burned_in,
        cancel: Arc::new(AtomicBool::new(false)),
        registry: None,
        audit_dir: run.audit_dir.as_deref().map(text_to_path),
        dry_run: false,
        failures_named: 0,
    };
    let (source, dest, audit_dir) = prepare_folders(&config)?;
    let mut registry = match &run.registry {
        Some(path) => Some(Registry::open(
            &text_to_path(path),
            secret,
            rules.patient_key(),
            run.force_registry,
        )?),
        None => None,
    };
    let mut lock = RunLock::take(&dest)?;
    check_previous_run(&config, &dest, &audit_dir)?;
    let started_at = earlier
        .as_ref()
        .map(|earlier| earlier.started.clone())
        .unwrap_or_else(|| manifest::utc_timestamp(SystemTime::now()));
    let mut manifest = Manifest {
        tool: env!("CARGO_PKG_NAME").to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        state: RunState::Running,
        started: started_at.clone(),
        profiles: rules.layers().to_vec(),
        profile_fingerprint: rules.fingerprint().to_string(),
        secret_fingerprint: if rules.uses_secret() {
            secret_fingerprint(secret)
        } else {
            "not used".to_string()
        },
        output_template: rules.output().to_string(),
        quarantine_burned_in: run.quarantine_burned_in,
        counts: RunCounts::default(),
        registry: run.registry.clone(),
        registry_run: earlier.as_ref().and_then(|earlier| earlier.registry_run),
        audit_dir: (audit_dir != dest).then(|| audit_dir.to_string_lossy().into_owned()),
    };
    let resuming = manifest.registry_run.is_some();
    if let Some(registry) = &mut registry
        && manifest.registry_run.is_none()
    {
        manifest.registry_run = Some(registry.start_run(&RunRecord {
            started: started_at.clone(),
            source: source.to_string_lossy().into_owned(),
            dest: dest.to_string_lossy().into_owned(),
            profiles: manifest.profiles.join(" + "),
            profile_fingerprint: manifest.profile_fingerprint.clone(),
            secret_fingerprint: manifest.secret_fingerprint.clone(),
            version: manifest.version.clone(),
        })?);
    }
    let state = serde_json::to_vec(&NumberingState {
        registry_run: manifest.registry_run,
        started: started_at,
    })
    .map_err(|e| StageError::file(&state_path, &e))?;
    write_private(&state_path, &state)?;
    lock.announce(&manifest.started)?;
    manifest.write(&dest)?;

    let listing_files = ListingFiles::create(&audit_dir, &dest)?;
    let mut listing = Listing::new(0);
    let outputs = Outputs {
        dest: &dest,
        rules,
        quarantine_burned_in: run.quarantine_burned_in,
        failures_named: 0,
    };
    let mut planner = Planner::new(rules.patient_key().clone());
    let mut run_book = RunAssigner::default();
    let mut plan = Draft::create(
        &work.join(NUMBERED),
        &Header {
            stage: "numbered".to_string(),
            body: NumberedHeader {
                run: run.clone(),
                dest: dest.clone(),
                audit_dir: audit_dir.clone(),
            },
        },
    )?;
    let mut summary = StageSummary::default();
    let mut batch_rows: Vec<Vec<String>> = Vec::with_capacity(REGISTRY_BATCH);
    let mut done = false;
    while !done {
        // One batch: the rows of up to REGISTRY_BATCH DICOM files, numbered
        // in one registry transaction as a run with a registry numbers a batch.
        batch_rows.clear();
        while batch_rows.len() < REGISTRY_BATCH {
            match scans.next()? {
                None => {
                    done = true;
                    break;
                }
                Some(row) if row.get(1).map(String::as_str) == Some(UNREADABLE_ROW) => {
                    summary
                        .unreadable
                        .push(format!("{}: {}", cell(&row, 2), cell(&row, 3)));
                }
                Some(row) => batch_rows.push(row),
            }
        }
        let mut book = match (&mut registry, manifest.registry_run) {
            (Some(registry), Some(run)) => HashedBook::Registry(registry.batch(run, resuming)?),
            _ => HashedBook::Run(&mut run_book),
        };
        for row in &batch_rows {
            let planned = number_row(&mut planner, row, &mut book).map_err(StageError::Mismatch)?;
            let output = planned.numbers.map(|n| outputs.relative_path(&planned, n));
            let output_text = output.as_deref().map(path_to_text);
            listing.add(
                planned.seq,
                &planned.source_display(),
                planned.size,
                output_text.as_deref(),
            );
            let relative = planned
                .source
                .strip_prefix(&source)
                .unwrap_or(&planned.source);
            plan.row(&[
                &planned.seq.to_string(),
                &Shard::of(relative, run.shards).to_string(),
                cell(row, 2),
                &planned.size.to_string(),
                &planned
                    .patient_index
                    .map(|i| i.to_string())
                    .unwrap_or_default(),
                output_text.as_deref().unwrap_or_default(),
                if planned.directory {
                    DIRECTORY
                } else {
                    note_name(planned.key_note)
                },
                planned.exported_before.as_deref().unwrap_or_default(),
                planned.problem.as_deref().unwrap_or_default(),
            ])?;
            summary.files += 1;
            if planned.problem.is_some() {
                summary.errors += 1;
            }
        }
        listing_files.queue(listing.take());
        listing_files
            .write_queued()
            .map_err(|e| StageError::file(&audit_dir, &e))?;
        if let HashedBook::Registry(batch) = book {
            batch.commit()?;
        }
    }
    summary.patients = u64::from(planner.patients());
    plan.commit()?;
    if let (Some(registry), Some(run)) = (&mut registry, manifest.registry_run) {
        registry.finish_run(
            run,
            RunEnd {
                state: "numbered",
                files: summary.files,
                ok: 0,
                errors: 0,
            },
        )?;
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn cell(row: &[String], i: usize) -> &str {
    row.get(i).map_or("", String::as_str)
}

/// Numbers one DICOM row of a scan.
fn number_row(
    planner: &mut Planner,
    row: &[String],
    book: &mut HashedBook<'_>,
) -> Result<PlannedFile, String> {
    let source = text_to_path(cell(row, 2));
    let size: u64 = cell(row, 3)
        .parse()
        .map_err(|_| "a scan row without its size")?;
    if cell(row, 4) == "problem" {
        return Ok(planner.unreadable(source, Layout::Part10, size, cell(row, 10)));
    }
    if cell(row, 4) == DIRECTORY {
        return Ok(planner.directory(source, Layout::Part10, size));
    }
    let own = cell(row, 4) == "own";
    // For the run's own book an identity is its hash; a file of its own
    // is a patient of its own (its hash rides along for a registry).
    let hash_path = PathBuf::from(cell(row, 5));
    let identity = if own && matches!(book, HashedBook::Run(_)) {
        Identity::Own {
            instance: None,
            source: &hash_path,
        }
    } else {
        Identity::Key(cell(row, 5).to_string())
    };
    let instance = Some(cell(row, 6)).filter(|hash| !hash.is_empty());
    let flagged = cell(row, 9) == "1";
    let claim = Claim {
        identity,
        key_note: note_of(cell(row, 4)),
        instance: instance.map(str::as_bytes),
        study: cell(row, 7),
        series: cell(row, 8),
        burned_in: if flagged {
            super::BurnedInRisk::Declared
        } else {
            super::BurnedInRisk::None
        },
    };
    planner.number_claimed(source, Layout::Part10, size, claim, book)
}

/// Writes a small file of the stage at once (a temporary file renamed).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StageError> {
    use std::io::Write;
    let partial = partial_of(path);
    let fail = |e: &dyn std::fmt::Display| StageError::file(path, e);
    let mut file = crate::dest::create_private(&partial).map_err(|e| fail(&e))?;
    file.write_all(bytes).map_err(|e| fail(&e))?;
    std::fs::rename(&partial, path).map_err(|e| fail(&e))
}

/// The numbered plan of `work`.
fn open_numbered(work: &Path) -> Result<Reader<Header<NumberedHeader>>, StageError> {
    let path = work.join(NUMBERED);
    if !path.exists() {
        return Err(StageError::Mismatch(format!(
            "{} holds no {NUMBERED} (run `stage number` first)",
            work.display()
        )));
    }
    Reader::open(&path)
}

/// A numbered row as the file a worker rewrites (its name and ID come
/// with its scan).
fn planned_of(row: &csv::StringRecord, seq: usize) -> Result<PlannedFile, String> {
    let get = |i: usize| row.get(i).unwrap_or_default();
    let text = |i: usize| Some(get(i)).filter(|t| !t.is_empty());
    Ok(PlannedFile {
        seq,
        source: text_to_path(get(2)),
        layout: Layout::Part10,
        size: get(3)
            .parse()
            .map_err(|_| "a numbered row without its size")?,
        patient_name: Arc::from(""),
        patient_id: Arc::from(""),
        patient_index: text(4).and_then(|i| i.parse().ok()),
        numbers: None,
        output: text(5).map(text_to_path),
        problem: text(8).map(Into::into),
        burned_in: super::BurnedInRisk::None,
        key_note: note_of(get(6)),
        exported_before: text(7).map(Into::into),
        directory: get(6) == DIRECTORY,
    })
}

/// Stage 3: shard `shard` rewrites its numbered files into DEST and writes
/// its audit part.
pub fn write_shard(
    work: &Path,
    shard: Shard,
    rules: &RuleSet,
    config: &RunConfig,
    progress: &dyn Progress,
) -> Result<StageSummary, StageError> {
    let started = Instant::now();
    let mut numbered = open_numbered(work)?;
    let header = numbered.header.body.clone();
    header.run.check(rules, &config.secret)?;
    if header.run.shards != shard.count {
        return Err(StageError::Mismatch(format!(
            "the run was scanned in {} shards, not {}: write with --shard K/{}",
            header.run.shards, shard.count, header.run.shards
        )));
    }
    let part = work.join(shard.file_name("audit"));
    let partial = partial_of(&part);
    let _lock =
        RunLock::take_file(&work.join(format!(".write-{}-of-{}.lock", shard.index, shard.count)))?;
    if part.exists() || work.join(MERGED).exists() {
        return Ok(StageSummary {
            already_done: true,
            ..StageSummary::default()
        });
    }
    // An earlier attempt of this shard left its partial audit: its outputs
    // are checked and kept, as `anomize --resume` keeps them.
    let resume = crate::dest::entry_exists(&partial);
    let sink: Box<dyn TableSink> = Box::new(CsvSink::create(&partial)?);
    let outputs = Outputs {
        dest: &header.dest,
        rules,
        quarantine_burned_in: header.run.quarantine_burned_in,
        failures_named: config.failures_named,
    };
    let halt = Halt::default();
    let turns = Turns::new(Numbering::new(
        Listing::new(0),
        rules.patient_key().clone(),
        Book::Run(RunAssigner::default()),
    ));
    let worker = Worker {
        outputs: &outputs,
        rules,
        secret: &config.secret,
        resume,
        overwrite: false,
        dry_run: false,
        cancel: &config.cancel,
        halt: &halt,
        listing: None,
        numbering: &turns,
        progress,
    };
    let jobs = super::worker_count(config);
    let (to_workers, planned) = mpsc::sync_channel::<PlannedFile>(super::WALK_AHEAD);
    let batches = Batches::new(planned, BATCH);
    let (sender, receiver) = mpsc::channel();
    let mut read_error = None;
    let mut planned_files = 0u64;
    let mut directories = 0u64;
    let (tally, all_read) = std::thread::scope(|scope| {
        let writer =
            scope.spawn(|| write_in_order(receiver, vec![sink], &outputs, progress, &halt, None));
        let mut workers = Vec::new();
        for _ in 0..jobs {
            let sender = sender.clone();
            let (worker, batches) = (&worker, &batches);
            workers.push(scope.spawn(move || worker.take_planned(batches, &sender)));
        }
        drop(sender);
        let mut all_read = true;
        loop {
            let row = match numbered.next_row() {
                Ok(Some(row)) => row,
                Ok(None) => break,
                Err(err) => {
                    read_error = Some(err);
                    all_read = false;
                    break;
                }
            };
            if row.get(1).and_then(|k| k.parse().ok()) != Some(shard.index) {
                continue;
            }
            planned_files += 1;
            if row.get(6) == Some(DIRECTORY) {
                // No row in the part: `merge` makes the DICOMDIR.
                directories += 1;
            }
            let planned = match planned_of(row, planned_files as usize) {
                Ok(planned) => planned,
                Err(err) => {
                    read_error = Some(StageError::file(&numbered.path, &err));
                    all_read = false;
                    break;
                }
            };
            if to_workers.send(planned).is_err() {
                all_read = false;
                break;
            }
        }
        drop(to_workers);
        for worker in workers {
            let _ = worker.join();
        }
        batches.close();
        let tally = writer.join().unwrap_or_default();
        (tally, all_read)
    });
    if let Some(err) = read_error {
        return Err(err);
    }
    let done = tally.ok + tally.errors;
    let mut summary = StageSummary {
        files: planned_files,
        ok: tally.ok,
        errors: tally.errors,
        kept: tally.resumed,
        stopped: halt.reason(),
        interrupted: !all_read || done + directories != planned_files,
        elapsed: started.elapsed(),
        ..StageSummary::default()
    };
    if summary.stopped.is_none() && !summary.interrupted {
        std::fs::rename(&partial, &part).map_err(|e| StageError::file(&part, &e))?;
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Stage 4: the audit parts of every shard, in numbering order, become
/// the run's `_out.csv` and `_out.xlsx`; the run manifest says the run is
/// complete.
pub fn merge(work: &Path) -> Result<StageSummary, StageError> {
    let started = Instant::now();
    if work.join(MERGED).exists() {
        return Ok(StageSummary {
            already_done: true,
            ..StageSummary::default()
        });
    }
    let mut numbered = open_numbered(work)?;
    let header = numbered.header.body.clone();
    let count = header.run.shards;
    let mut parts = Vec::with_capacity(count);
    let mut missing = Vec::new();
    for index in 1..=count {
        let path = work.join(Shard { index, count }.file_name("audit"));
        match crate::dest::open_for_reading(&path) {
            Ok(file) => parts.push((
                path,
                csv::Reader::from_reader(std::io::BufReader::new(file)),
            )),
            Err(_) => missing.push(index.to_string()),
        }
    }
    if !missing.is_empty() {
        return Err(StageError::Mismatch(format!(
            "the write of shard {} of {count} has not finished (no audit part in {})",
            missing.join(", "),
            work.display()
        )));
    }
    let _lock = RunLock::take(&header.dest)?;
    let mut sinks = audit_sinks(&header.audit_dir)?;
    let mut summary = StageSummary {
        audit_dir: header.audit_dir.clone(),
        ..StageSummary::default()
    };
    let mut record = csv::StringRecord::new();
    // As a run's audit writer: the DICOMDIRs' rows come last, once the new
    // DICOMDIRs are made from the outputs, which need to know the files
    // that have none.
    let mut directories = Vec::new();
    let mut not_written = HashSet::new();
    let mut listed = 0;
    while let Some(row) = numbered.next_row()? {
        listed += 1;
        let seq = row.get(0).unwrap_or_default().to_string();
        let source = row.get(2).unwrap_or_default().to_string();
        if row.get(6) == Some(DIRECTORY) {
            let planned = planned_of(row, seq.parse().unwrap_or_default())
                .map_err(|e| StageError::file(&numbered.path, &e))?;
            directories.push(planned);
            continue;
        }
        let shard: usize = row
            .get(1)
            .and_then(|k| k.parse().ok())
            .filter(|k| (1..=count).contains(k))
            .ok_or_else(|| StageError::file(&numbered.path, &format!("file {seq} has no shard")))?;
        let (path, part) = &mut parts[shard - 1];
        let read = part
            .read_record(&mut record)
            .map_err(|e| StageError::file(path, &e))?;
        if !read {
            return Err(StageError::Mismatch(format!(
                "{} has no row for file {seq} ({source}): write shard {shard}/{count} again",
                path.display()
            )));
        }
        let audit = audit_row_of(&record).map_err(|e| StageError::file(path, &e))?;
        if audit.source_file != source {
            return Err(StageError::Mismatch(format!(
                "{} lists {} where file {seq} ({source}) was planned: write shard {shard}/{count} again",
                path.display(),
                audit.source_file
            )));
        }
        count_row(&mut summary, &audit);
        if audit.status != Status::Ok || audit.destination_file.is_empty() {
            not_written.insert(seq.parse().unwrap_or_default());
        }
        for sink in &mut sinks {
            sink.write_row(&audit)?;
        }
    }
    for row in directory_rows(&header, &directories, &not_written, listed)? {
        count_row(&mut summary, &row);
        for sink in &mut sinks {
            sink.write_row(&row)?;
        }
    }
    for (path, part) in &mut parts {
        if part
            .read_record(&mut record)
            .map_err(|e| StageError::file(path, &e))?
        {
            return Err(StageError::Mismatch(format!(
                "{} lists more files than were planned for its shard",
                path.display()
            )));
        }
    }
    for sink in sinks {
        sink.finish()?;
    }
    if let Some(mut manifest) = Manifest::read(&header.dest)? {
        manifest.state = RunState::Complete;
        manifest.counts = RunCounts {
            dicom_files: summary.files,
            ok: summary.ok,
            errors: summary.errors,
        };
        manifest.write(&header.dest)?;
        // The audit parts hold patients' names and IDs: once the audit
        // has them they go, so that the work folder holds no more PHI than
        // source paths (as `_metadata.csv`) and keyed hashes.
        write_private(&work.join(MERGED), b"{}\n")?;
        for (path, _) in &parts {
            crate::dest::remove_entry(path).map_err(|e| StageError::file(path, &e))?;
        }
    } else {
        return Err(StageError::Mismatch(format!(
            "{} holds no {RUN_MANIFEST}: was it numbered by `stage number`?",
            header.dest.display()
        )));
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Counts an audit row in the summary.
fn count_row(summary: &mut StageSummary, row: &AuditRow) {
    summary.files += 1;
    match row.status {
        Status::Error => {
            summary.errors += 1;
            if summary.first_errors.len() < FAILURES_NAMED {
                summary
                    .first_errors
                    .push(format!("{}: {}", row.source_file, row.reason));
            }
        }
        _ => summary.ok += 1,
    }
}

/// Makes the new DICOMDIRs from the outputs, as a run does at its end,
/// and the audit rows of the source ones. `listed`: the files of the
/// listing (the new DICOMDIRs are added to `_outputs.csv`).
fn directory_rows(
    header: &NumberedHeader,
    directories: &[PlannedFile],
    not_written: &HashSet<usize>,
    listed: usize,
) -> Result<Vec<AuditRow>, StageError> {
    if directories.is_empty() {
        return Ok(Vec::new());
    }
    let metadata = header.audit_dir.join(super::METADATA_CSV);
    let bytes = std::fs::metadata(&metadata)
        .map_err(|e| StageError::file(&metadata, &e))?
        .len();
    let listing = ListingFiles::resume(
        &header.audit_dir,
        &header.dest,
        super::listing::Listed {
            rows: listed,
            bytes,
        },
    )?;
    let cancel = AtomicBool::new(false);
    let work = DirectoryWork {
        dest: &header.dest,
        audit_dir: &header.audit_dir,
        listing: &listing,
        // A merge run again after an interruption replaces its DICOMDIR.
        replace: true,
        cancel: &cancel,
    };
    let results = directories::rebuild(&work, directories, not_written);
    Ok(directories
        .iter()
        .zip(results)
        .map(|(planned, result)| {
            let (status, destination_file, reason) = match result {
                Ok(rebuilt) => (
                    Status::Ok,
                    rebuilt
                        .output
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    rebuilt.note,
                ),
                Err(err) => (Status::Error, String::new(), err.to_string()),
            };
            AuditRow {
                source_file: planned.source_display().into_owned(),
                patient_name: String::new(),
                patient_id: String::new(),
                patient_index: None,
                file_size: planned.size,
                destination_file,
                status,
                reason,
                burned_in_risk: planned.burned_in.to_string(),
                patient_key: planned.key_note.describe(&PatientKey::default()),
            }
        })
        .collect())
}

/// An audit row read back from `_out.csv` (or a part of it).
fn audit_row_of(record: &csv::StringRecord) -> Result<AuditRow, String> {
    let get = |i: usize| from_csv_cell(record.get(i).unwrap_or_default()).to_string();
    let status = match record.get(6).unwrap_or_default() {
        "OK" => Status::Ok,
        "ERROR" => Status::Error,
        "PLANNED" => Status::Planned,
        other => return Err(format!("an audit row with status {other:?}")),
    };
    Ok(AuditRow {
        source_file: get(0),
        patient_name: get(1),
        patient_id: get(2),
        patient_index: Some(get(3))
            .filter(|i| !i.is_empty())
            .map(|i| {
                i.parse()
                    .map_err(|_| format!("an audit row with patient index {i:?}"))
            })
            .transpose()?,
        file_size: get(4)
            .parse()
            .map_err(|_| "an audit row without a file size".to_string())?,
        destination_file: get(5),
        status,
        reason: get(7),
        burned_in_risk: get(8),
        patient_key: get(9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_k_of_n_from_1_to_n() {
        let shard: Shard = "2/8".parse().unwrap();
        assert_eq!(shard, Shard { index: 2, count: 8 });
        assert_eq!(shard.to_string(), "2/8");
        for bad in ["0/3", "4/3", "3", "a/3", "1/0", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_path_has_one_shard_the_same_everywhere_and_the_shards_are_even() {
        // A fixed hash: machines and stages must agree on it.
        assert_eq!(Shard::of(Path::new("site1/day2/im0001.dcm"), 1), 1);
        let first = Shard::of(Path::new("a/b.dcm"), 7);
        assert_eq!(Shard::of(Path::new("a/b.dcm"), 7), first);
        let mut counts = [0usize; 3];
        for i in 0..3000 {
            let shard = Shard::of(Path::new(&format!("PA{}/IM{i}", i % 17)), 3);
            assert!((1..=3).contains(&shard));
            counts[shard - 1] += 1;
        }
        assert!(
            counts.iter().all(|&n| (800..1200).contains(&n)),
            "{counts:?}"
        );
    }

    #[test]
    fn an_audit_row_reads_back_as_the_sink_wrote_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part.csv");
        let row = AuditRow {
            source_file: "/s/=odd,name.dcm".into(),
            patient_name: "'Doe^Jane".into(),
            patient_id: "-12".into(),
            patient_index: Some(3),
            file_size: 1234,
            destination_file: "/d/3_001.dcm".into(),
            status: Status::Ok,
            reason: String::new(),
            burned_in_risk: "YES: BurnedInAnnotation is YES".into(),
            patient_key: String::new(),
        };
        let mut sink: Box<dyn TableSink> = Box::new(CsvSink::create(&path).unwrap());
        sink.write_row(&row).unwrap();
        sink.finish().unwrap();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(audit_row_of(&record).unwrap(), row);
    }
}
