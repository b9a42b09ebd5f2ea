//! Files and folders that a run creates in DEST, made so that nothing
//! planted there can redirect a write.
//!
//! DEST is where patient data lands; a symbolic link planted at a name the
//! run is about to use would send that data (or an audit mapping pseudonyms
//! back to patients) somewhere else. So: no link is ever followed (every
//! open is `O_NOFOLLOW`, every folder below DEST is checked with `lstat`),
//! nothing is written through an existing entry (files are created with
//! `O_EXCL` after whatever sat at the name is removed), nothing is renamed
//! over an existing file (`RENAME_NOREPLACE`), and everything is private
//! to its owner (files 0600, folders 0700).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Component, Path};

/// Mode of the files a run creates: they hold patient data or map
/// pseudonyms back to patients.
pub const FILE_MODE: u32 = 0o600;
/// Mode of the folders a run creates.
pub const FOLDER_MODE: u32 = 0o700;

/// Creates `path` as a new file readable by its owner only. An entry
/// already at `path` (a file, or a link, which is never followed) is
/// removed first; a folder there is an error.
pub fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    no_follow(&mut options);
    // Usually nothing is there: one system call, not a look first.
    match options.open(path) {
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            remove_entry(path)?;
            options.open(path)
        }
        result => result,
    }
}

/// Opens an existing regular file for reading and writing, refusing a link.
pub fn open_existing(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    no_follow(&mut options);
    let file = options.open(path).map_err(explain_link)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// Opens an existing regular file for reading, refusing a link.
pub fn open_for_reading(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    no_follow(&mut options);
    let file = options.open(path).map_err(explain_link)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// Removes whatever non-folder entry sits at `path` (a link itself, not
/// its target); returns whether there was one.
pub fn remove_entry(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a folder is in the way",
        )),
        Ok(_) => fs::remove_file(path).map(|()| true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err),
    }
}

/// Whether anything (a dangling link included) is at `path`.
pub fn entry_exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Creates `folder` and the folders above it, each private to its owner;
/// folders that exist are kept as they are.
pub fn create_folder_all(folder: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(FOLDER_MODE);
    }
    builder.create(folder)
}

/// Makes `folder`, which lies inside `root`, with every folder between
/// them: each must be a real folder, never a link (which could lead out
/// of `root`); missing ones are created private to their owner.
pub fn make_folders_inside(root: &Path, folder: &Path) -> io::Result<()> {
    let relative = folder
        .strip_prefix(root)
        .map_err(|_| io::Error::other("not inside the destination"))?;
    let mut at = root.to_path_buf();
    for component in relative.components() {
        let Component::Normal(name) = component else {
            return Err(io::Error::other("not a plain folder name"));
        };
        at.push(name);
        match fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(io::Error::other(format!(
                    "{} is a symbolic link (links in the destination are never followed)",
                    at.display()
                )));
            }
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "{} is not a folder",
                    at.display()
                )));
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                let mut builder = fs::DirBuilder::new();
                #[cfg(unix)]
                {
                    use std::os::unix::fs::DirBuilderExt;
                    builder.mode(FOLDER_MODE);
                }
                match builder.create(&at) {
                    Ok(()) => {}
                    // Another worker made it meanwhile: checked again below.
                    Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                        if !fs::symlink_metadata(&at)?.is_dir() {
                            return Err(io::Error::other(format!(
                                "{} is not a folder",
                                at.display()
                            )));
                        }
                    }
                    Err(err) => return Err(err),
                }
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Renames `from` to `to` unless something is already at `to` (then the
/// error's kind is `AlreadyExists` and nothing changed).
pub fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other);
        let (old, new) = (c(from)?, c(to)?);
        // SAFETY: both are valid NUL-terminated paths that outlive the call.
        let done = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                old.as_ptr(),
                libc::AT_FDCWD,
                new.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if done == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            // A file system without the flag: link and unlink instead.
            Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => {}
            _ => return Err(err),
        }
    }
    fs::hard_link(from, to)?;
    fs::remove_file(from)
}

/// Whether an I/O error means the destination cannot take more data
/// (full, over quota, read-only, failing): every later write would fail
/// the same way, so the run stops instead of failing file after file.
pub fn is_out_of_space(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ENOSPC | libc::EDQUOT | libc::EROFS | libc::EIO | libc::EFBIG)
    )
}

fn no_follow(options: &mut OpenOptions) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE).custom_flags(libc::O_NOFOLLOW);
    }
}

/// `O_NOFOLLOW` on a link fails with `ELOOP`, whose text ("too many
/// levels of symbolic links") does not say what happened.
fn explain_link(err: io::Error) -> io::Error {
    if err.raw_os_error() == Some(libc::ELOOP) {
        io::Error::other("is a symbolic link (links in the destination are never followed)")
    } else {
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    #[test]
    fn a_link_at_the_name_is_replaced_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        let inside = dir.path().join("dest");
        fs::create_dir(&inside).unwrap();
        let name = inside.join("_out.csv");
        // Dangling, then live.
        symlink(&outside, &name).unwrap();
        io::Write::write_all(&mut create_private(&name).unwrap(), b"audit").unwrap();
        assert!(!outside.exists());
        fs::write(&outside, b"keep me").unwrap();
        fs::remove_file(&name).unwrap();
        symlink(&outside, &name).unwrap();
        io::Write::write_all(&mut create_private(&name).unwrap(), b"audit").unwrap();
        assert_eq!(fs::read(&outside).unwrap(), b"keep me");
        assert_eq!(fs::read(&name).unwrap(), b"audit");
        let meta = fs::symlink_metadata(&name).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o777, FILE_MODE);
    }

    #[test]
    fn links_are_refused_when_opening_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, b"x").unwrap();
        let link = dir.path().join("link");
        symlink(&target, &link).unwrap();
        let err = open_existing(&link).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(open_for_reading(&link).is_err());
        assert!(open_existing(&target).is_ok());
    }

    #[test]
    fn folders_are_private_and_links_between_them_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("dest");
        create_folder_all(&root).unwrap();
        make_folders_inside(&root, &root.join("1/2")).unwrap();
        let mode = fs::metadata(root.join("1/2")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, FOLDER_MODE);

        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        symlink(&elsewhere, root.join("3")).unwrap();
        let err = make_folders_inside(&root, &root.join("3/4")).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(!elsewhere.join("4").exists());
    }

    #[test]
    fn rename_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, b"new").unwrap();
        fs::write(&b, b"old").unwrap();
        let err = rename_no_replace(&a, &b).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&b).unwrap(), b"old");
        fs::remove_file(&b).unwrap();
        rename_no_replace(&a, &b).unwrap();
        assert_eq!(fs::read(&b).unwrap(), b"new");
        assert!(!a.exists());
    }
}
