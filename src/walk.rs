//! Discovery: every file under SOURCE, in a sorted, reproducible order.
//!
//! Symbolic links to files are followed; links to folders are not (they
//! could loop or leave SOURCE). The output folder is never walked into.
//! Problems (an unreadable folder, a dangling link) are collected, not
//! fatal: the run reports them and exits with code 1.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

/// A path the walk could not look at, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct WalkError {
    pub path: PathBuf,
    pub reason: String,
}

/// The files found under a root.
#[derive(Debug, Default)]
pub struct Discovered {
    /// Regular files (and links to them), in walk order.
    pub files: Vec<PathBuf>,
    pub errors: Vec<WalkError>,
}

/// Walks `root` depth-first with entries sorted by name, skipping `exclude`.
pub fn discover(root: &Path, exclude: Option<&Path>) -> Discovered {
    let mut found = Discovered::default();
    for entry in walk(root, exclude) {
        match entry {
            Ok(path) => found.files.push(path),
            Err(err) => found.errors.push(err),
        }
    }
    found
}

/// [`discover`] one file at a time, in the same order, for a caller that
/// must not hold the list of a whole tree.
pub fn walk(root: &Path, exclude: Option<&Path>) -> Walk {
    Walk {
        root: root.to_path_buf(),
        excluded: exclude.and_then(Place::of),
        walker: WalkDir::new(root).sort_by_file_name().into_iter(),
    }
}

/// The files under a root, and the paths the walk could not look at.
pub struct Walk {
    root: PathBuf,
    excluded: Option<Place>,
    walker: walkdir::IntoIter,
}

impl Iterator for Walk {
    type Item = Result<PathBuf, WalkError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let entry = match self.walker.next()? {
                Ok(entry) => entry,
                Err(err) => {
                    let path = err.path().unwrap_or(&self.root).to_path_buf();
                    let reason = err
                        .io_error()
                        .map_or_else(|| err.to_string(), ToString::to_string);
                    return Some(Err(WalkError { path, reason }));
                }
            };
            let file_type = entry.file_type();
            if file_type.is_dir() {
                if self.excluded.as_ref().is_some_and(|ex| ex.is(&entry)) {
                    self.walker.skip_current_dir();
                }
                continue;
            }
            let path = entry.into_path();
            if file_type.is_symlink() {
                match std::fs::metadata(&path) {
                    Ok(target) if target.is_file() => return Some(Ok(path)),
                    Ok(_) => continue,
                    Err(err) => {
                        return Some(Err(WalkError {
                            path,
                            reason: format!("broken symbolic link: {err}"),
                        }));
                    }
                }
            }
            if file_type.is_file() {
                return Some(Ok(path));
            }
        }
    }
}

/// A folder's identity, looked up once so that the walk can recognise it
/// without a system call per folder.
#[cfg(unix)]
struct Place {
    dev: u64,
    ino: u64,
}

#[cfg(unix)]
impl Place {
    fn of(path: &Path) -> Option<Place> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        Some(Place {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    fn is(&self, entry: &walkdir::DirEntry) -> bool {
        use std::os::unix::fs::MetadataExt;
        use walkdir::DirEntryExt;
        // The inode comes with the directory listing; the device (a stat)
        // is checked only for the rare folder with the same inode number.
        entry.ino() == self.ino && entry.metadata().is_ok_and(|m| m.dev() == self.dev)
    }
}

#[cfg(not(unix))]
struct Place(PathBuf);

#[cfg(not(unix))]
impl Place {
    fn of(path: &Path) -> Option<Place> {
        path.canonicalize().ok().map(Place)
    }

    fn is(&self, entry: &walkdir::DirEntry) -> bool {
        entry.path().canonicalize().is_ok_and(|p| p == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn sorted_nested_and_excluding_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("b/inner")).unwrap();
        fs::create_dir_all(root.join("out")).unwrap();
        fs::write(root.join("b/inner/2"), "x").unwrap();
        fs::write(root.join("b/1"), "x").unwrap();
        fs::write(root.join("a"), "x").unwrap();
        fs::write(root.join("out/old.dcm"), "x").unwrap();
        let found = discover(root, Some(&root.join("out")));
        let names: Vec<_> = found
            .files
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            names,
            [
                PathBuf::from("a"),
                PathBuf::from("b/1"),
                PathBuf::from("b/inner/2")
            ]
        );
        assert!(found.errors.is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn links_to_files_followed_loops_and_dangling_links_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join("real"), "x").unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        std::os::unix::fs::symlink(root, root.join("loop")).unwrap();
        std::os::unix::fs::symlink(root.join("gone"), root.join("dangling")).unwrap();
        let found = discover(root, None);
        assert_eq!(found.files.len(), 2);
        assert_eq!(found.errors.len(), 1);
        assert!(found.errors[0].to_string().contains("broken symbolic link"));
    }
}
