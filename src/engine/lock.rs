//! The lock that keeps a second run out of a DEST while one is writing
//! there: two runs into one folder would mix their outputs (or tear one).
//!
//! An advisory `flock` on `DEST/.dicommanager.lock`, held for the whole
//! run. The kernel releases it when the process ends, however it ends, so
//! the lock of a killed run never blocks its `--resume`. The file says who
//! holds it (pid and start time) for the message the second run prints;
//! it stays in DEST afterwards (removing it would let two runs lock two
//! different files).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::{LOCK_FILE, RunError};

/// Held while the run writes to DEST.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock of `dest`, or says which run holds it. The lock file
    /// is not changed until [`RunLock::announce`].
    pub fn take(dest: &Path) -> Result<RunLock, RunError> {
        RunLock::take_file(&dest.join(LOCK_FILE))
    }

    /// Takes the lock whose file is `path` (a staged run's `write` shard
    /// has one of its own: the shards write into one DEST at once).
    pub fn take_file(path: &Path) -> Result<RunLock, RunError> {
        let path = path.to_path_buf();
        let folder = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let fail = |source: std::io::Error| RunError::Dest {
            path: path.clone(),
            source,
        };
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options
                .mode(crate::dest::FILE_MODE)
                .custom_flags(libc::O_NOFOLLOW);
        }
        let mut file = options.open(&path).map_err(fail)?;
        if !file.metadata().map_err(fail)?.is_file() {
            return Err(fail(std::io::Error::other("not a regular file")));
        }
        if !try_lock(&file).map_err(fail)? {
            let mut holder = String::new();
            // The holder may be writing it just now: an empty text is fine.
            let _ = file.read_to_string(&mut holder);
            return Err(RunError::Busy {
                path: folder,
                holder: match holder.trim() {
                    "" => "it is starting".to_string(),
                    holder => holder.to_string(),
                },
            });
        }
        Ok(RunLock { file, path })
    }

    /// Writes who holds the lock, for the message of a second run (once
    /// this run is sure to go on: a refused run leaves DEST unchanged).
    pub fn announce(&mut self, started: &str) -> Result<(), RunError> {
        let who = format!("pid {}, started {started}\n", std::process::id());
        let file = &mut self.file;
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(who.as_bytes()))
            .map_err(|source| RunError::Dest {
                path: self.path.clone(),
                source,
            })
    }
}

/// Takes an exclusive lock without waiting; `false` if another holds it.
fn try_lock(file: &File) -> std::io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is open for the duration of the call.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Ok(false)
        } else {
            Err(err)
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_until_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = RunLock::take(dir.path()).unwrap();
        first.announce("2026-12-02T08:00:00Z").unwrap();
        let err = RunLock::take(dir.path()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id()))
                && message.contains("2026-12-02T08:00:00Z"),
            "{message}"
        );
        drop(first);
        RunLock::take(dir.path()).unwrap();
    }

    #[test]
    fn a_link_at_the_lock_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        let dest = dir.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        std::os::unix::fs::symlink(&outside, dest.join(LOCK_FILE)).unwrap();
        assert!(RunLock::take(&dest).is_err());
        assert!(!outside.exists());
    }
}
