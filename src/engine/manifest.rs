//! `_run.json`, the run manifest: what made the outputs in DEST (tool
//! version, profiles and a fingerprint of the resolved profile, a
//! fingerprint of the secret, output template), when, how far it got.
//!
//! `--resume` compares it with the run about to start and refuses one
//! that would write its outputs differently: a DEST must never mix
//! outputs of two profiles or two secrets. It holds no PHI and never the
//! secret itself.

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{RUN_MANIFEST, RunError};
use crate::dest::{create_private, open_for_reading};
use crate::sink::SinkError;

/// How far a run got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    /// Started and not ended (or killed: nothing could record it).
    Running,
    /// Stopped by Ctrl-C or SIGTERM; `--resume` finishes it.
    Interrupted,
    /// Stopped because DEST could not be written (full disk ...).
    Stopped,
    /// Every file was done.
    Complete,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Interrupted => "interrupted",
            RunState::Stopped => "stopped",
            RunState::Complete => "complete",
        }
    }
}

/// The counts of a run, as far as it got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    pub dicom_files: u64,
    pub ok: u64,
    pub errors: u64,
}

/// What made the outputs in DEST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Manifest {
    pub tool: String,
    pub version: String,
    pub state: RunState,
    /// UTC, ISO 8601.
    pub started: String,
    pub profiles: Vec<String>,
    /// SHA-256 of the resolved profile's rules (see `Profile::fingerprint`).
    pub profile_fingerprint: String,
    /// A keyed hash that tells secrets apart without revealing them;
    /// `none` when the run had no secret, `not used` when its profile
    /// uses none (then any secret writes the same outputs).
    pub secret_fingerprint: String,
    pub output_template: String,
    pub quarantine_burned_in: bool,
    pub counts: RunCounts,
    /// The registry that numbered the run, and the run's id in it.
    #[serde(default)]
    pub registry: Option<String>,
    #[serde(default)]
    pub registry_run: Option<i64>,
    /// Where the audit went, when not to DEST.
    #[serde(default)]
    pub audit_dir: Option<String>,
}

impl Manifest {
    /// Reads the manifest of the run in `dest`, if there is one.
    pub fn read(dest: &Path) -> Result<Option<Manifest>, RunError> {
        let path = dest.join(RUN_MANIFEST);
        let unreadable = |reason: String| RunError::ResumeRefused {
            path: dest.to_path_buf(),
            reason: format!("{RUN_MANIFEST} is unreadable ({reason})"),
        };
        let file = match open_for_reading(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(unreadable(err.to_string())),
        };
        serde_json::from_reader(std::io::BufReader::new(file))
            .map(Some)
            .map_err(|e| unreadable(e.to_string()))
    }

    /// Why a run with this manifest may not resume the run of `previous`,
    /// if it may not: the first setting that would change the outputs.
    pub fn resume_conflict(&self, previous: &Manifest) -> Option<String> {
        let differs = |before: String, now: String| {
            Some(format!("the interrupted run used {before}, this one {now}"))
        };
        if self.profile_fingerprint != previous.profile_fingerprint {
            let describe = |m: &Manifest| {
                let fingerprint: String = m.profile_fingerprint.chars().take(12).collect();
                format!("{} ({fingerprint})", m.profiles.join(" + "))
            };
            return differs(describe(previous), describe(self));
        }
        if self.secret_fingerprint != previous.secret_fingerprint {
            let describe = |m: &Manifest| match m.secret_fingerprint.as_str() {
                "none" => "no secret".to_string(),
                _ => "a secret".to_string(),
            };
            return if describe(previous) == describe(self) {
                Some("the interrupted run used another secret".to_string())
            } else {
                differs(describe(previous), describe(self))
            };
        }
        if self.output_template != previous.output_template {
            let describe = |m: &Manifest| format!("the output template {:?}", m.output_template);
            return differs(describe(previous), describe(self));
        }
        if self.audit_dir != previous.audit_dir {
            let describe = |m: &Manifest| match &m.audit_dir {
                Some(dir) => format!("--audit-dir {dir}"),
                None => "no --audit-dir".to_string(),
            };
            return differs(describe(previous), describe(self));
        }
        if self.registry != previous.registry {
            let describe = |m: &Manifest| match &m.registry {
                Some(path) => format!("the registry {path}"),
                None => "no registry".to_string(),
            };
            return differs(describe(previous), describe(self));
        }
        if self.quarantine_burned_in != previous.quarantine_burned_in {
            let describe = |m: &Manifest| {
                if m.quarantine_burned_in {
                    "--quarantine-burned-in".to_string()
                } else {
                    "no --quarantine-burned-in".to_string()
                }
            };
            return differs(describe(previous), describe(self));
        }
        None
    }

    /// Writes the manifest to `dest`, replacing the one there at once (a
    /// temporary file renamed over it).
    pub fn write(&self, dest: &Path) -> Result<(), SinkError> {
        let path = dest.join(RUN_MANIFEST);
        let partial = dest.join(format!(".{RUN_MANIFEST}.partial"));
        let fail = |e: &dyn std::fmt::Display| SinkError::new(&path, e);
        let mut text = serde_json::to_vec_pretty(self).map_err(|e| fail(&e))?;
        text.push(b'\n');
        let written = create_private(&partial)
            .and_then(|mut file| file.write_all(&text))
            // rename replaces an entry at `path` (a link is replaced, not followed).
            .and_then(|()| std::fs::rename(&partial, &path));
        if let Err(err) = written {
            let _ = std::fs::remove_file(&partial);
            return Err(fail(&err));
        }
        Ok(())
    }
}

/// A point in time as UTC ISO 8601, `2026-12-02T08:00:00Z`.
pub fn utc_timestamp(time: SystemTime) -> String {
    let seconds = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn manifest() -> Manifest {
        Manifest {
            tool: "dicommanager".into(),
            version: "0.1.0".into(),
            state: RunState::Running,
            started: "2026-12-02T08:00:00Z".into(),
            profiles: vec!["basic".into()],
            profile_fingerprint: "aaaa".into(),
            secret_fingerprint: "none".into(),
            output_template: "{patient_index}_{image_number:03}.dcm".into(),
            quarantine_burned_in: false,
            counts: RunCounts::default(),
            registry: None,
            registry_run: None,
            audit_dir: None,
        }
    }

    #[test]
    fn timestamps_are_utc_dates() {
        assert_eq!(
            utc_timestamp(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00Z"
        );
        let leap_day = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_723);
        assert_eq!(utc_timestamp(leap_day), "2000-02-29T01:02:03Z");
    }

    #[test]
    fn a_manifest_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), None);
        manifest().write(dir.path()).unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), Some(manifest()));
    }

    #[test]
    fn a_resume_with_other_settings_is_refused_by_name() {
        let before = manifest();
        assert_eq!(manifest().resume_conflict(&before), None);
        let now = Manifest {
            profiles: vec!["ps3.15-basic".into()],
            profile_fingerprint: "bbbb".into(),
            ..manifest()
        };
        let conflict = now.resume_conflict(&before).unwrap();
        assert!(
            conflict.contains("used basic (aaaa)") && conflict.contains("ps3.15-basic"),
            "{conflict}"
        );
        let now = Manifest {
            secret_fingerprint: "1234".into(),
            ..manifest()
        };
        assert!(now.resume_conflict(&before).unwrap().contains("no secret"));
        let now = Manifest {
            output_template: "{patient_index}/{image_number}.dcm".into(),
            ..manifest()
        };
        assert!(
            now.resume_conflict(&before)
                .unwrap()
                .contains("output template")
        );
    }
}
