//! `splitby`: group the files of a folder into subfolders named after the
//! start of their names (`17_001.png` → `17/17_001.png`).
//!
//! The plan is data ([`plan`]), carried out in one place ([`execute`]).
//! Nothing is ever overwritten: a move is a hard link to the new name (which
//! fails if the name exists, unlike `rename`, which replaces it) followed by
//! removing the old name, so it is a rename that refuses to clobber. Only
//! when the target is on another file system is the file copied, compared
//! byte for byte and then removed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// One planned move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub from: PathBuf,
    pub to: PathBuf,
}

/// A file that stays where it is, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    pub path: PathBuf,
    pub reason: LeftReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeftReason {
    /// The name has no delimiter (or nothing before it).
    NoDelimiter,
    /// The prefix cannot be a folder name (`.` or `..`).
    BadPrefix,
    /// The target exists already (or the folder name is taken by a file).
    Clash(PathBuf),
    /// The move itself failed.
    Failed(String),
}

impl std::fmt::Display for LeftReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeftReason::NoDelimiter => write!(f, "no delimiter in the name"),
            LeftReason::BadPrefix => {
                write!(f, "the part before the delimiter is not a folder name")
            }
            LeftReason::Clash(target) => write!(f, "{} exists already", target.display()),
            LeftReason::Failed(why) => write!(f, "move failed: {why}"),
        }
    }
}

impl LeftReason {
    /// Clashes and failures are errors; a name without delimiter is not.
    pub fn is_error(&self) -> bool {
        matches!(self, LeftReason::Clash(_) | LeftReason::Failed(_))
    }
}

/// What `splitby` will do (or did) to a folder.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub moves: Vec<Move>,
    pub left: Vec<Left>,
    /// Files whose names do not end with the mask: untouched, not listed.
    pub not_matching: usize,
}

/// Why a folder cannot be split at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot read folder {}: {source}", path.display())]
pub struct SplitError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Plans the moves for the files directly in `dir`, sorted by name.
pub fn plan(dir: &Path, mask: &str, delimiter: &str) -> Result<Plan, SplitError> {
    let error = |source| SplitError {
        path: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(error)? {
        let entry = entry.map_err(error)?;
        // Regular files only: folders (earlier results) and links stay.
        if entry.file_type().map_err(error)?.is_file() {
            names.push(entry.file_name());
        }
    }
    names.sort();
    let mut plan = Plan::default();
    for name in names {
        let from = dir.join(&name);
        let name = name.to_string_lossy();
        if !name.ends_with(mask) {
            plan.not_matching += 1;
            continue;
        }
        let prefix = match name.split_once(delimiter) {
            Some((prefix, _)) if !prefix.is_empty() => prefix,
            _ => {
                plan.left.push(Left {
                    path: from,
                    reason: LeftReason::NoDelimiter,
                });
                continue;
            }
        };
        if prefix == "." || prefix == ".." {
            plan.left.push(Left {
                path: from,
                reason: LeftReason::BadPrefix,
            });
            continue;
        }
        let folder = dir.join(prefix);
        let to = folder.join(name.as_ref());
        if folder.exists() && !folder.is_dir() {
            plan.left.push(Left {
                path: from,
                reason: LeftReason::Clash(folder),
            });
        } else if fs::symlink_metadata(&to).is_ok() {
            plan.left.push(Left {
                path: from,
                reason: LeftReason::Clash(to),
            });
        } else {
            plan.moves.push(Move { from, to });
        }
    }
    Ok(plan)
}

/// Carries the plan out. Moves that fail (a target created meanwhile, a
/// read-only folder) join `left`; the others are in `moves`.
pub fn execute(plan: Plan) -> Plan {
    let mut done = Plan {
        moves: Vec::with_capacity(plan.moves.len()),
        left: plan.left,
        not_matching: plan.not_matching,
    };
    for m in plan.moves {
        match move_no_clobber(&m.from, &m.to) {
            Ok(()) => done.moves.push(m),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => done.left.push(Left {
                path: m.from,
                reason: LeftReason::Clash(m.to),
            }),
            Err(err) => done.left.push(Left {
                path: m.from,
                reason: LeftReason::Failed(err.to_string()),
            }),
        }
    }
    done.left.sort_by(|a, b| a.path.cmp(&b.path));
    done
}

/// Moves `from` to `to`, failing with `AlreadyExists` rather than replacing.
fn move_no_clobber(from: &Path, to: &Path) -> io::Result<()> {
    if let Some(folder) = to.parent() {
        fs::create_dir_all(folder)?;
    }
    match fs::hard_link(from, to) {
        Ok(()) => fs::remove_file(from),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Err(err),
        // Another file system, or one without hard links: copy instead.
        Err(_) => copy_verify_delete(from, to),
    }
}

fn copy_verify_delete(from: &Path, to: &Path) -> io::Result<()> {
    let result = (|| {
        let mut target = OpenOptions::new().write(true).create_new(true).open(to)?;
        let mut source = File::open(from)?;
        io::copy(&mut source, &mut target)?;
        target.sync_all()?;
        if !same_content(from, to)? {
            return Err(io::Error::other("the copy differs from the original"));
        }
        Ok(())
    })();
    match result {
        Ok(()) => fs::remove_file(from),
        Err(err) => {
            if err.kind() != io::ErrorKind::AlreadyExists {
                // Our own partial copy: the original is still in place.
                let _ = fs::remove_file(to);
            }
            Err(err)
        }
    }
}

fn same_content(a: &Path, b: &Path) -> io::Result<bool> {
    let (mut a, mut b) = (File::open(a)?, File::open(b)?);
    let (mut buf_a, mut buf_b) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = read_full(&mut a, &mut buf_a)?;
        let m = read_full(&mut b, &mut buf_b)?;
        if n != m || buf_a[..n] != buf_b[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, name: &str, content: &str) {
        fs::write(dir.join(name), content).unwrap();
    }

    #[test]
    fn plans_by_prefix_and_reports_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in [
            "17_001.png",
            "17_002.png",
            "3_001.png",
            "nodelim.png",
            "_x.png",
            "17_001.dcm",
        ] {
            touch(d, name, name);
        }
        let p = plan(d, ".png", "_").unwrap();
        let moves: Vec<_> = p
            .moves
            .iter()
            .map(|m| m.to.strip_prefix(d).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            moves,
            [
                PathBuf::from("17/17_001.png"),
                PathBuf::from("17/17_002.png"),
                PathBuf::from("3/3_001.png")
            ]
        );
        assert_eq!(p.left.len(), 2);
        assert!(p.left.iter().all(|l| l.reason == LeftReason::NoDelimiter));
        assert_eq!(p.not_matching, 1);
    }

    #[test]
    fn clash_leaves_the_file_and_keeps_the_existing_one() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir(d.join("17")).unwrap();
        touch(&d.join("17"), "17_001.png", "old");
        touch(d, "17_001.png", "new");
        touch(d, "17_002.png", "two");
        let done = execute(plan(d, ".png", "_").unwrap());
        assert_eq!(done.moves.len(), 1);
        assert_eq!(done.left.len(), 1);
        assert!(done.left[0].reason.is_error());
        assert_eq!(fs::read_to_string(d.join("17/17_001.png")).unwrap(), "old");
        assert_eq!(fs::read_to_string(d.join("17_001.png")).unwrap(), "new");
        assert_eq!(fs::read_to_string(d.join("17/17_002.png")).unwrap(), "two");
    }

    #[test]
    fn a_target_appearing_after_the_plan_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        touch(d, "5_a.png", "mine");
        let p = plan(d, ".png", "_").unwrap();
        fs::create_dir(d.join("5")).unwrap();
        touch(&d.join("5"), "5_a.png", "theirs");
        let done = execute(p);
        assert!(done.moves.is_empty());
        assert_eq!(fs::read_to_string(d.join("5/5_a.png")).unwrap(), "theirs");
        assert_eq!(fs::read_to_string(d.join("5_a.png")).unwrap(), "mine");
    }

    #[test]
    fn copy_fallback_verifies_and_removes_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        touch(d, "a", "content");
        copy_verify_delete(&d.join("a"), &d.join("b")).unwrap();
        assert!(!d.join("a").exists());
        assert_eq!(fs::read_to_string(d.join("b")).unwrap(), "content");
        touch(d, "c", "x");
        let err = copy_verify_delete(&d.join("c"), &d.join("b")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_to_string(d.join("b")).unwrap(), "content");
        assert!(d.join("c").exists());
    }

    #[test]
    fn file_named_like_the_folder_is_a_clash() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        touch(d, "17", "a file, not a folder");
        touch(d, "17_001.png", "x");
        let p = plan(d, ".png", "_").unwrap();
        assert!(p.moves.is_empty());
        assert!(matches!(p.left[0].reason, LeftReason::Clash(_)));
    }
}
