//! The patient registry: an SQLite file that keeps patient indices and
//! image numbers stable across runs, so that monthly batches of one PACS
//! build one data set (patient 17 stays 17; its images go on at 004 after
//! 003 of an earlier batch).
//!
//! It holds no PHI: patients are stored by a keyed hash (HMAC-SHA-256 with
//! the run's secret) of their identity, SOP Instance UIDs likewise, so
//! that the file without the secret reveals nothing. A registry made with
//! one secret and patient key refuses another.
//!
//! Numbering goes through it one batch of files at a time, in one
//! `BEGIN IMMEDIATE` transaction: two runs on one registry take turns and
//! never hand out one index twice, and a killed run leaves it as it was
//! after its last whole batch. Each file's numbers are kept by run and
//! sequence number, so a resumed run numbers exactly as it did before.

mod import;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

pub use import::{ImportError, ImportReport, LookupRow, read_audit, read_lookup_table};

use crate::codec::unpad;
use crate::profile::PatientKey;
use crate::rules::{hmac, lower_hex};

/// Schema of the file; a registry of another version is refused.
const SCHEMA_VERSION: &str = "1";

/// How long a run waits for another run's batch before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a registry cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    #[error("registry {}: {source}", path.display())]
    Sql {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("registry {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "registry {} needs the secret: it stores patients only as keyed hashes (give --secret-file, DICOMMANAGER_SECRET_FILE or DICOMMANAGER_SECRET)",
        path.display()
    )]
    NoSecret { path: PathBuf },
    #[error(
        "registry {} was made with another secret; with this one every patient would be new (use the registry's secret, or --force-registry)",
        path.display()
    )]
    OtherSecret { path: PathBuf },
    #[error(
        "registry {} identifies patients by {registry}, the profile by {profile}: the indices would not match (--force-registry to use it anyway)",
        path.display()
    )]
    OtherKey {
        path: PathBuf,
        registry: String,
        profile: String,
    },
    #[error("{} is not a registry of this version of dicommanager ({found})", path.display())]
    NotARegistry { path: PathBuf, found: String },
}

/// What a run tells the registry about itself (no identities).
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    pub started: String,
    pub source: String,
    pub dest: String,
    pub profiles: String,
    pub profile_fingerprint: String,
    pub secret_fingerprint: String,
    pub version: String,
}

/// The counts of a run at its end.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunEnd<'a> {
    pub state: &'a str,
    pub files: u64,
    pub ok: u64,
    pub errors: u64,
}

/// An open registry.
pub struct Registry {
    path: PathBuf,
    conn: Connection,
    secret: Vec<u8>,
    // Boxed: a registry is held in an enum beside much smaller books.
    patients: Box<PatientCache>,
}

/// The patients this connection numbered lately, so that the next files
/// of a patient cost neither a keyed hash nor a lookup, and its image
/// count is written once per batch instead of once per file. Valid only
/// while no other connection has changed the registry
/// (`PRAGMA data_version`) and every batch that used it was committed.
#[derive(Default)]
struct PatientCache {
    by_identity: HashMap<Vec<u8>, CachedPatient>,
    /// The patients the batch in hand changed, to write at its commit.
    changed: Vec<Vec<u8>>,
    data_version: Option<i64>,
    /// A batch changed the cache and has not been committed (yet).
    uncommitted: bool,
}

#[derive(Clone)]
struct CachedPatient {
    key_hash: Vec<u8>,
    numbers: PatientNumbers,
    /// Changed by the batch in hand (and listed in `changed`).
    pending: bool,
}

/// Patients kept in the cache at most: a run of many patients keeps its
/// memory flat (the cache starts again, from the registry, when full).
const PATIENT_CACHE_LIMIT: usize = 4096;

/// Who a file belongs to, as the registry stores it (hashed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatientIdentity<'a> {
    /// The values of the patient key (see [`identity_text`]).
    Key(&'a str),
    /// A file with an empty key, known by its SOP Instance UID.
    OwnInstance(&'a [u8]),
    /// A file with an empty key and no SOP Instance UID, by its path.
    OwnFile(&'a [u8]),
}

/// A patient index and image number for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    pub patient_index: u32,
    pub image_number: u32,
    /// The file was exported by an earlier run (where to, in words).
    pub exported_before: Option<String>,
}

/// Numbers stored for one patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatientNumbers {
    pub patient_index: u32,
    pub images: u32,
}

/// What `registry show` prints: counts and runs, never identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    pub patient_key: String,
    pub patients: u64,
    pub images: u64,
    pub instances: u64,
    pub runs: Vec<RunSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub id: i64,
    pub started: String,
    pub state: String,
    pub profiles: String,
    pub files: u64,
    pub ok: u64,
    pub errors: u64,
}

impl Registry {
    /// Opens the registry at `path` for runs that key patients by `key`
    /// with `secret`, creating it (private to its owner) if it does not
    /// exist. `force` accepts a registry made with another secret or key.
    pub fn open(
        path: &Path,
        secret: &[u8],
        key: &PatientKey,
        force: bool,
    ) -> Result<Registry, RegistryError> {
        if secret.is_empty() {
            return Err(RegistryError::NoSecret {
                path: path.to_path_buf(),
            });
        }
        let registry = Registry::connect(path, secret)?;
        registry.check_in_transaction(key, force)?;
        Ok(registry)
    }

    /// Opens an existing registry to read its counts (no secret needed:
    /// nothing it shows identifies anyone).
    pub fn open_to_show(path: &Path) -> Result<Registry, RegistryError> {
        if !path.is_file() {
            return Err(RegistryError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such registry"),
            });
        }
        let registry = Registry::connect(path, &[])?;
        registry.schema()?;
        Ok(registry)
    }

    fn connect(path: &Path, secret: &[u8]) -> Result<Registry, RegistryError> {
        create_private_if_missing(path)?;
        let sql = |source| RegistryError::Sql {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        // WAL: runs read while another writes; FULL: a committed batch is on
        // disk before its outputs are renamed into place, so a power loss
        // can never hand the same numbers out again.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql)?;
        // Checkpoints copy the WAL back into the file in the committing
        // thread, which numbering waits for: rarer ones during a run, one
        // at its end (finish_run).
        conn.pragma_update(None, "wal_autocheckpoint", 16_384)
            .map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        Ok(Registry {
            path: path.to_path_buf(),
            conn,
            secret: secret.to_vec(),
            patients: Box::default(),
        })
    }

    fn sql(&self, source: rusqlite::Error) -> RegistryError {
        RegistryError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    fn meta(&self, key: &str) -> Result<Option<String>, RegistryError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|e| self.sql(e))
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<(), RegistryError> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(drop)
            .map_err(|e| self.sql(e))
    }

    fn schema(&self) -> Result<(), RegistryError> {
        match self.meta("schema")? {
            Some(version) if version == SCHEMA_VERSION => Ok(()),
            found => Err(RegistryError::NotARegistry {
                path: self.path.clone(),
                found: found.map_or("no version".into(), |v| format!("version {v}")),
            }),
        }
    }

    /// [`Registry::check`] in one write transaction: two runs that start
    /// on a new registry at once must not see it half made (one had
    /// written its schema version but not yet its secret check, and the
    /// other took the registry for another secret's).
    fn check_in_transaction(&self, key: &PatientKey, force: bool) -> Result<(), RegistryError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.sql(e))?;
        let checked = self.check(key, force);
        let end = if checked.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        self.conn.execute_batch(end).map_err(|e| self.sql(e))?;
        checked
    }

    /// A new registry takes the secret and key of its first run; an
    /// existing one must have been made with them.
    fn check(&self, key: &PatientKey, force: bool) -> Result<(), RegistryError> {
        let check = lower_hex(&self.hash("secret-check", b"dicommanager registry"));
        let key = key.to_string();
        if self.meta("schema")?.is_none() {
            self.set_meta("schema", SCHEMA_VERSION)?;
            self.set_meta("secret_check", &check)?;
            self.set_meta("patient_key", &key)?;
            return Ok(());
        }
        self.schema()?;
        if self.meta("secret_check")?.as_deref() != Some(check.as_str()) && !force {
            return Err(RegistryError::OtherSecret {
                path: self.path.clone(),
            });
        }
        let registry_key = self.meta("patient_key")?.unwrap_or_default();
        if registry_key != key && !force {
            return Err(RegistryError::OtherKey {
                path: self.path.clone(),
                registry: registry_key,
                profile: key,
            });
        }
        Ok(())
    }

    fn hash(&self, domain: &str, value: &[u8]) -> Vec<u8> {
        keyed_hash(&self.secret, domain, value)
    }
}

/// A keyed hash (HMAC-SHA-256, the same as the rules') of `value`.
fn keyed_hash(secret: &[u8], domain: &str, value: &[u8]) -> Vec<u8> {
    hmac(secret, domain, value).to_vec()
}

impl Registry {
    /// Records a new run; its id numbers its files in the registry.
    pub fn start_run(&mut self, record: &RunRecord) -> Result<i64, RegistryError> {
        self.conn
            .execute(
                "INSERT INTO runs (started, source, dest, profiles, profile_fingerprint,
                                   secret_fingerprint, version, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running')",
                params![
                    record.started,
                    record.source,
                    record.dest,
                    record.profiles,
                    record.profile_fingerprint,
                    record.secret_fingerprint,
                    record.version
                ],
            )
            .map_err(|e| self.sql(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Whether run `run` is recorded (a resume continues it).
    pub fn has_run(&self, run: i64) -> Result<bool, RegistryError> {
        self.conn
            .query_row("SELECT 1 FROM runs WHERE id = ?1", [run], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(|e| self.sql(e))
    }

    /// Records how run `run` ended, and moves the WAL into the file.
    pub fn finish_run(&mut self, run: i64, end: RunEnd<'_>) -> Result<(), RegistryError> {
        // PASSIVE: never waits for another run that is reading or writing.
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(|e| self.sql(e))?;
        self.conn
            .execute(
                "UPDATE runs SET state = ?2, files = ?3, ok = ?4, errors = ?5 WHERE id = ?1",
                params![
                    run,
                    end.state,
                    end.files as i64,
                    end.ok as i64,
                    end.errors as i64
                ],
            )
            .map(drop)
            .map_err(|e| self.sql(e))
    }

    /// Starts numbering one batch of run `run`'s files; `resuming` when
    /// the run numbers files it numbered before an interruption.
    pub fn batch(&mut self, run: i64, resuming: bool) -> Result<Batch<'_>, RegistryError> {
        let sql = |source| RegistryError::Sql {
            path: self.path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let data_version: i64 = tx
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
            .map_err(sql)?;
        self.patients.start_batch(data_version);
        Ok(Batch {
            tx,
            run,
            resuming,
            secret: &self.secret,
            path: &self.path,
            patients: &mut self.patients,
            next_index: None,
            run_files: Vec::new(),
        })
    }

    /// The numbers of the patient whose key (or fallback, with
    /// `fallback`) has these values, in the key's order.
    pub fn lookup(
        &self,
        values: &[String],
        fallback: bool,
    ) -> Result<Option<PatientNumbers>, RegistryError> {
        let text = identity_text(values, fallback);
        let key_hash = self.hash(PATIENT_DOMAIN, &identity_bytes(PatientIdentity::Key(&text)));
        self.conn
            .query_row(
                "SELECT patient_index, images FROM patients WHERE key_hash = ?1",
                [key_hash],
                |row| {
                    Ok(PatientNumbers {
                        patient_index: row.get(0)?,
                        images: row.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Counts and runs.
    pub fn overview(&self) -> Result<Overview, RegistryError> {
        let count = |sql: &str| -> Result<u64, RegistryError> {
            self.conn
                .query_row(sql, [], |row| row.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(|e| self.sql(e))
        };
        let mut statement = self
            .conn
            .prepare(
                "SELECT id, started, state, profiles, COALESCE(files, 0), COALESCE(ok, 0),
                        COALESCE(errors, 0) FROM runs ORDER BY id",
            )
            .map_err(|e| self.sql(e))?;
        let runs = statement
            .query_map([], |row| {
                Ok(RunSummary {
                    id: row.get(0)?,
                    started: row.get(1)?,
                    state: row.get(2)?,
                    profiles: row.get(3)?,
                    files: row.get::<_, i64>(4)? as u64,
                    ok: row.get::<_, i64>(5)? as u64,
                    errors: row.get::<_, i64>(6)? as u64,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.sql(e))?;
        Ok(Overview {
            patient_key: self.meta("patient_key")?.unwrap_or_default(),
            patients: count("SELECT COUNT(*) FROM patients")?,
            images: count("SELECT COALESCE(SUM(images), 0) FROM patients")?,
            instances: count("SELECT COUNT(*) FROM instances")?,
            runs,
        })
    }
}

/// Numbering of one batch, in one transaction: committed after the batch
/// is listed, before any of its outputs appears.
pub struct Batch<'a> {
    tx: Transaction<'a>,
    run: i64,
    /// Look for numbers the run gave before (only a resumed run has any).
    resuming: bool,
    secret: &'a [u8],
    path: &'a Path,
    patients: &'a mut PatientCache,
    /// The index the next new patient gets, once looked up.
    next_index: Option<u32>,
    /// The numbers of the batch's files (seq, patient index, image
    /// number), written at the commit by few statements.
    run_files: Vec<(i64, u32, u32)>,
}

impl PatientCache {
    /// A batch starts: forget what another connection may have changed,
    /// or what a batch that was never committed changed.
    fn start_batch(&mut self, data_version: i64) {
        let stale = self.data_version != Some(data_version)
            || self.uncommitted
            || self.by_identity.len() > PATIENT_CACHE_LIMIT;
        if stale {
            self.by_identity.clear();
        }
        self.changed.clear();
        self.data_version = Some(data_version);
        self.uncommitted = true;
    }
}

impl Batch<'_> {
    pub fn commit(self) -> Result<(), RegistryError> {
        let path = self.path.to_path_buf();
        let Batch {
            tx,
            run,
            patients,
            run_files,
            ..
        } = self;
        write_changed_patients(&tx, run, patients)
            .and_then(|()| write_run_files(&tx, run, &run_files))
            .and_then(|()| tx.commit())
            .map_err(|source| RegistryError::Sql { path, source })?;
        patients.uncommitted = false;
        Ok(())
    }

    /// The numbers of file `seq` of the run, which belongs to `identity`
    /// and has the SOP Instance UID `instance`.
    pub fn assign(
        &mut self,
        seq: usize,
        identity: PatientIdentity<'_>,
        instance: Option<&[u8]>,
    ) -> Result<Assigned, RegistryError> {
        let identity = identity_bytes(identity);
        let instance_hash = instance.and_then(|uid| instance_hash(self.secret, uid));
        let path = self.path.to_path_buf();
        self.assign_sql(seq, identity, None, instance_hash.as_deref())
            .map_err(|source| RegistryError::Sql { path, source })
    }

    /// [`Batch::assign`] of a file whose identity and SOP Instance UID were
    /// hashed already ([`patient_hash`], [`instance_hash`]): a staged run
    /// keeps only the hashes in its plans.
    pub fn assign_hashed(
        &mut self,
        seq: usize,
        key_hash: &[u8],
        instance_hash: Option<&[u8]>,
    ) -> Result<Assigned, RegistryError> {
        // Cached by its hash, marked so that it never equals an identity.
        let cache_key = [b"hash\0", key_hash].concat();
        let path = self.path.to_path_buf();
        self.assign_sql(seq, cache_key, Some(key_hash), instance_hash)
            .map_err(|source| RegistryError::Sql { path, source })
    }

    /// Numbers file `seq`, whose patient the cache knows by `identity` and
    /// the registry by `key_hash` (made from `identity` when not given).
    fn assign_sql(
        &mut self,
        seq: usize,
        identity: Vec<u8>,
        key_hash: Option<&[u8]>,
        instance_hash: Option<&[u8]>,
    ) -> rusqlite::Result<Assigned> {
        let (run, seq) = (self.run, seq as i64);
        // A resumed run: the numbers this file got before the interruption.
        let numbered: Option<(u32, u32)> = if self.resuming {
            self.tx
                .prepare_cached(
                    "SELECT patient_index, image_number FROM run_files WHERE run = ?1 AND seq = ?2",
                )?
                .query_row(params![run, seq], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?
        } else {
            None
        };
        if let Some((patient_index, image_number)) = numbered {
            return Ok(Assigned {
                patient_index,
                image_number,
                exported_before: None,
            });
        }
        let known = self.known_patient(&identity, key_hash)?;
        let (patient_index, image_number) = match &known {
            Some(patient) => (patient.numbers.patient_index, patient.numbers.images + 1),
            None => (self.next_index()?, 1),
        };
        if let Some(hash) = instance_hash {
            // Known: exported by an earlier run, or an earlier file of this
            // one (the same instance twice, say in two transfer syntaxes).
            // The insert is the lookup: one search of the table per file.
            let new = self
                .tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO instances (uid_hash, patient_index, image_number, run)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![hash, patient_index, image_number, run])?
                == 1;
            if !new {
                return self.exported_before(hash);
            }
        }
        let key_hash = match known {
            Some(patient) => patient.key_hash,
            None => {
                self.next_index = Some(patient_index + 1);
                key_hash.map_or_else(
                    || keyed_hash(self.secret, PATIENT_DOMAIN, &identity),
                    <[u8]>::to_vec,
                )
            }
        };
        let numbers = PatientNumbers {
            patient_index,
            images: image_number,
        };
        let patients = &mut *self.patients;
        match patients.by_identity.get_mut(&identity) {
            Some(cached) => {
                cached.numbers = numbers;
                if !cached.pending {
                    cached.pending = true;
                    patients.changed.push(identity);
                }
            }
            None => {
                patients.changed.push(identity.clone());
                let patient = CachedPatient {
                    key_hash,
                    numbers,
                    pending: true,
                };
                patients.by_identity.insert(identity, patient);
            }
        }
        self.run_files.push((seq, patient_index, image_number));
        Ok(Assigned {
            patient_index,
            image_number,
            exported_before: None,
        })
    }

    /// The patient of `identity` as the registry (or the cache) knows it,
    /// `None` for a new patient.
    fn known_patient(
        &mut self,
        identity: &[u8],
        key_hash: Option<&[u8]>,
    ) -> rusqlite::Result<Option<CachedPatient>> {
        if let Some(patient) = self.patients.by_identity.get(identity) {
            return Ok(Some(patient.clone()));
        }
        let key_hash = key_hash.map_or_else(
            || keyed_hash(self.secret, PATIENT_DOMAIN, identity),
            <[u8]>::to_vec,
        );
        let stored: Option<PatientNumbers> = self
            .tx
            .prepare_cached("SELECT patient_index, images FROM patients WHERE key_hash = ?1")?
            .query_row([&key_hash], |row| {
                Ok(PatientNumbers {
                    patient_index: row.get(0)?,
                    images: row.get(1)?,
                })
            })
            .optional()?;
        Ok(stored.map(|numbers| CachedPatient {
            key_hash,
            numbers,
            pending: false,
        }))
    }

    /// The index of the next new patient: after every index given, and
    /// after those an import reserved.
    fn next_index(&mut self) -> rusqlite::Result<u32> {
        if let Some(index) = self.next_index {
            return Ok(index);
        }
        let index = self.tx.query_row(
            "SELECT MAX(COALESCE((SELECT MAX(patient_index) FROM patients), 0),
                        COALESCE((SELECT CAST(value AS INTEGER) FROM meta
                                  WHERE key = 'indices_reserved'), 0)) + 1",
            [],
            |row| row.get(0),
        )?;
        self.next_index = Some(index);
        Ok(index)
    }

    fn exported_before(&self, hash: &[u8]) -> rusqlite::Result<Assigned> {
        let (patient_index, image_number, earlier_run): (u32, u32, i64) = self
            .tx
            .prepare_cached(
                "SELECT patient_index, image_number, run FROM instances WHERE uid_hash = ?1",
            )?
            .query_row([hash], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        let by = if earlier_run == self.run {
            "an earlier file of this run".to_string()
        } else {
            format!("registry run {earlier_run}")
        };
        Ok(Assigned {
            patient_index,
            image_number,
            exported_before: Some(format!(
                "already exported by {by} as patient {patient_index} image {image_number} (the same SOP Instance UID); not written again"
            )),
        })
    }
}

/// The image counts (and new patients) of a batch, one row per patient.
fn write_changed_patients(
    tx: &Transaction<'_>,
    run: i64,
    patients: &mut PatientCache,
) -> rusqlite::Result<()> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO patients (key_hash, patient_index, images, first_run) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (key_hash) DO UPDATE SET images = excluded.images",
    )?;
    for identity in patients.changed.drain(..) {
        if let Some(patient) = patients.by_identity.get_mut(&identity) {
            upsert.execute(params![
                patient.key_hash,
                patient.numbers.patient_index,
                patient.numbers.images,
                run
            ])?;
            patient.pending = false;
        }
    }
    Ok(())
}

/// The numbers of a batch's files, as rows of up to [`RUN_FILES_PER_INSERT`]
/// per statement: one statement per file was a quarter of the registry's
/// SQL work.
fn write_run_files(
    tx: &Transaction<'_>,
    run: i64,
    run_files: &[(i64, u32, u32)],
) -> rusqlite::Result<()> {
    for rows in run_files.chunks(RUN_FILES_PER_INSERT) {
        let placeholders = vec!["(?, ?, ?, ?)"; rows.len()].join(", ");
        let values = rows.iter().flat_map(|&(seq, patient_index, image_number)| {
            [run, seq, i64::from(patient_index), i64::from(image_number)]
        });
        tx.prepare_cached(&format!(
            "INSERT INTO run_files (run, seq, patient_index, image_number) VALUES {placeholders}"
        ))?
        .execute(rusqlite::params_from_iter(values))?;
    }
    Ok(())
}

/// Rows per statement of [`write_run_files`] (4 parameters each, well
/// under SQLite's limit of 32,766).
const RUN_FILES_PER_INSERT: usize = 64;

const PATIENT_DOMAIN: &str = "registry-patient";
const INSTANCE_DOMAIN: &str = "registry-instance";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS patients (
    key_hash BLOB PRIMARY KEY,
    patient_index INTEGER NOT NULL UNIQUE,
    images INTEGER NOT NULL,
    first_run INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS instances (
    uid_hash BLOB PRIMARY KEY,
    patient_index INTEGER NOT NULL,
    image_number INTEGER NOT NULL,
    run INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    source TEXT,
    dest TEXT,
    profiles TEXT,
    profile_fingerprint TEXT,
    secret_fingerprint TEXT,
    version TEXT,
    state TEXT NOT NULL,
    files INTEGER,
    ok INTEGER,
    errors INTEGER
);
CREATE TABLE IF NOT EXISTS run_files (
    run INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    patient_index INTEGER NOT NULL,
    image_number INTEGER NOT NULL,
    PRIMARY KEY (run, seq)
) WITHOUT ROWID;
";

/// The keyed hash the registry knows a patient's identity by.
pub fn patient_hash(secret: &[u8], identity: PatientIdentity<'_>) -> Vec<u8> {
    keyed_hash(secret, PATIENT_DOMAIN, &identity_bytes(identity))
}

/// The keyed hash the registry knows a SOP Instance UID by; `None` for an
/// empty UID.
pub fn instance_hash(secret: &[u8], uid: &[u8]) -> Option<Vec<u8>> {
    Some(unpad(uid))
        .filter(|uid| !uid.is_empty())
        .map(|uid| keyed_hash(secret, INSTANCE_DOMAIN, uid))
}

/// The bytes a patient's identity is hashed from.
fn identity_bytes(identity: PatientIdentity<'_>) -> Vec<u8> {
    match identity {
        PatientIdentity::Key(text) => [b"key\0", text.as_bytes()].concat(),
        PatientIdentity::OwnInstance(uid) => [b"own-instance\0", unpad(uid)].concat(),
        PatientIdentity::OwnFile(path) => [b"own-file\0", path].concat(),
    }
}

/// The identity text of a key's values, as the planner makes it.
pub fn identity_text(values: &[String], fallback: bool) -> String {
    let joined = values.join("\u{0}");
    if fallback {
        format!("fallback\u{1}{joined}")
    } else {
        joined
    }
}

/// SQLite creates files after the umask; the registry is made private
/// first (its WAL and shared-memory files take its mode).
fn create_private_if_missing(path: &Path) -> Result<(), RegistryError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(crate::dest::FILE_MODE);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(RegistryError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"registry test secret";

    fn open(path: &Path) -> Registry {
        Registry::open(path, SECRET, &PatientKey::default(), false).unwrap()
    }

    fn key(id: &str) -> PatientIdentity<'_> {
        PatientIdentity::Key(id)
    }

    fn assign_all(registry: &mut Registry, run: i64, files: &[(&str, &str)]) -> Vec<(u32, u32)> {
        let mut batch = registry.batch(run, true).unwrap();
        let numbers = files
            .iter()
            .enumerate()
            .map(|(i, (id, uid))| {
                let a = batch.assign(i + 1, key(id), Some(uid.as_bytes())).unwrap();
                (a.patient_index, a.image_number)
            })
            .collect();
        batch.commit().unwrap();
        numbers
    }

    #[test]
    fn indices_and_image_numbers_go_on_from_run_to_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.sqlite");
        let mut registry = open(&path);
        let first = registry.start_run(&RunRecord::default()).unwrap();
        assert_eq!(
            assign_all(
                &mut registry,
                first,
                &[("A", "1.1"), ("B", "1.2"), ("A", "1.3")]
            ),
            [(1, 1), (2, 1), (1, 2)]
        );
        drop(registry);
        let mut registry = open(&path);
        let second = registry.start_run(&RunRecord::default()).unwrap();
        assert_eq!(
            assign_all(&mut registry, second, &[("C", "2.1"), ("A", "2.2")]),
            [(3, 1), (1, 3)]
        );
        let overview = registry.overview().unwrap();
        assert_eq!((overview.patients, overview.images), (3, 5));
        assert_eq!(
            registry.lookup(&["A".into()], false).unwrap(),
            Some(PatientNumbers {
                patient_index: 1,
                images: 3
            })
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn numbers_given_by_another_connection_are_seen_between_batches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.sqlite");
        let (mut first, mut second) = (open(&path), open(&path));
        let run = first.start_run(&RunRecord::default()).unwrap();
        let other = second.start_run(&RunRecord::default()).unwrap();
        let number = |registry: &mut Registry, run, seq, id, uid: &str| {
            let mut batch = registry.batch(run, false).unwrap();
            let a = batch.assign(seq, key(id), Some(uid.as_bytes())).unwrap();
            batch.commit().unwrap();
            (a.patient_index, a.image_number)
        };
        assert_eq!(number(&mut first, run, 1, "A", "1.1"), (1, 1));
        assert_eq!(number(&mut second, other, 1, "A", "1.2"), (1, 2));
        // The first connection knew patient A with one image: it must not
        // hand out image 2 again.
        assert_eq!(number(&mut first, run, 2, "A", "1.3"), (1, 3));
        assert_eq!(number(&mut second, other, 2, "B", "1.4"), (2, 1));
        assert_eq!(number(&mut first, run, 3, "C", "1.5"), (3, 1));
    }

    #[test]
    fn a_batch_never_committed_gives_nothing_away() {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = open(&dir.path().join("registry.sqlite"));
        let run = registry.start_run(&RunRecord::default()).unwrap();
        let mut batch = registry.batch(run, false).unwrap();
        batch.assign(1, key("A"), Some(b"1.1")).unwrap();
        batch.assign(2, key("B"), Some(b"1.2")).unwrap();
        drop(batch);
        let mut batch = registry.batch(run, false).unwrap();
        let b = batch.assign(1, key("B"), Some(b"1.2")).unwrap();
        let a = batch.assign(2, key("A"), Some(b"1.3")).unwrap();
        batch.commit().unwrap();
        assert_eq!((b.patient_index, b.image_number), (1, 1));
        assert_eq!((a.patient_index, a.image_number), (2, 1));
    }

    #[test]
    fn a_file_exported_before_keeps_its_numbers_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = open(&dir.path().join("r.sqlite"));
        let first = registry.start_run(&RunRecord::default()).unwrap();
        assign_all(&mut registry, first, &[("A", "1.1")]);
        let second = registry.start_run(&RunRecord::default()).unwrap();
        let mut batch = registry.batch(second, false).unwrap();
        let again = batch.assign(1, key("A"), Some(b"1.1\0")).unwrap();
        assert_eq!((again.patient_index, again.image_number), (1, 1));
        assert!(again.exported_before.unwrap().contains("registry run 1"));
        let next = batch.assign(2, key("A"), Some(b"1.2")).unwrap();
        assert_eq!(next.image_number, 2, "a re-sent file uses no image number");
        // The same instance twice in one run is written once too.
        let copy = batch.assign(3, key("A"), Some(b"1.2")).unwrap();
        assert_eq!((copy.patient_index, copy.image_number), (1, 2));
        assert!(
            copy.exported_before
                .unwrap()
                .contains("an earlier file of this run")
        );
    }

    #[test]
    fn a_resumed_run_gets_the_numbers_it_had() {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = open(&dir.path().join("r.sqlite"));
        let run = registry.start_run(&RunRecord::default()).unwrap();
        assign_all(&mut registry, run, &[("A", "1.1"), ("B", "1.2")]);
        // The same run numbers its files again from the start.
        assert_eq!(
            assign_all(
                &mut registry,
                run,
                &[("A", "1.1"), ("B", "1.2"), ("A", "1.3")]
            ),
            [(1, 1), (2, 1), (1, 2)]
        );
    }

    #[test]
    fn another_secret_or_key_is_refused_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.sqlite");
        drop(open(&path));
        let err = Registry::open(&path, b"other", &PatientKey::default(), false)
            .err()
            .unwrap();
        assert!(matches!(err, RegistryError::OtherSecret { .. }), "{err}");
        Registry::open(&path, b"other", &PatientKey::default(), true).unwrap();
        let key = PatientKey {
            key: vec![
                crate::profile::KeyAttribute::PatientId,
                crate::profile::KeyAttribute::IssuerOfPatientId,
            ],
            ..PatientKey::default()
        };
        let err = Registry::open(&path, SECRET, &key, false).err().unwrap();
        assert!(
            err.to_string().contains("PatientID+IssuerOfPatientID"),
            "{err}"
        );
        let err = Registry::open(&path, b"", &key, false).err().unwrap();
        assert!(matches!(err, RegistryError::NoSecret { .. }));
    }

    #[test]
    fn the_registry_holds_no_identity_in_clear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.sqlite");
        let mut registry = open(&path);
        let run = registry.start_run(&RunRecord::default()).unwrap();
        assign_all(&mut registry, run, &[("PATIENT-4711", "1.2.840.99.4711")]);
        drop(registry);
        let mut bytes = std::fs::read(&path).unwrap();
        if let Ok(wal) = std::fs::read(dir.path().join("r.sqlite-wal")) {
            bytes.extend(wal);
        }
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("PATIENT-4711") && !text.contains("1.2.840.99.4711"));
    }
}
