//! Where the key of keyed hashes comes from, in this order: `--secret-file`,
//! the file named by `DICOMMANAGER_SECRET_FILE`, `DICOMMANAGER_SECRET`.
//!
//! A file keeps the secret out of the environment of every process the
//! job starts and out of shell history; schedulers can mount one.

use std::path::{Path, PathBuf};

/// The secret itself.
pub const SECRET_VAR: &str = "DICOMMANAGER_SECRET";
/// A file holding the secret.
pub const SECRET_FILE_VAR: &str = "DICOMMANAGER_SECRET_FILE";

/// A secret and where it came from (for messages; never the value).
pub struct Secret {
    pub bytes: Vec<u8>,
    /// Something the user should know about the file (its mode).
    pub warning: Option<String>,
}

/// Finds the secret, if one was given; an unreadable or empty secret file
/// is an error (a typo must not silently mean "no secret").
pub fn load(secret_file: Option<&Path>) -> Result<Option<Secret>, String> {
    let file = secret_file
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(SECRET_FILE_VAR).map(PathBuf::from));
    if let Some(file) = file {
        return read_secret_file(&file).map(Some);
    }
    Ok(std::env::var_os(SECRET_VAR)
        .map(|s| s.into_encoded_bytes())
        .filter(|s| !s.is_empty())
        .map(|bytes| Secret {
            bytes,
            warning: None,
        }))
}

/// The file's bytes without the line ending(s) an editor adds.
fn read_secret_file(path: &Path) -> Result<Secret, String> {
    let fail = |reason: &dyn std::fmt::Display| format!("secret file {}: {reason}", path.display());
    let mut bytes = std::fs::read(path).map_err(|e| fail(&e))?;
    while bytes.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(fail(&"it is empty"));
    }
    let mut warning = None;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| fail(&e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            warning = Some(format!(
                "secret file {} can be read by other users (mode {:o}); make it private: chmod 600",
                path.display(),
                mode & 0o777
            ));
        }
    }
    Ok(Secret { bytes, warning })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_secret_file_loses_its_line_ending_and_must_not_be_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, b"s3cret value\r\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let secret = load(Some(&path)).unwrap().unwrap();
        assert_eq!(secret.bytes, b"s3cret value");
        assert!(secret.warning.is_none());

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let warning = load(Some(&path)).unwrap().unwrap().warning.unwrap();
        assert!(warning.contains("mode 644"), "{warning}");

        std::fs::write(&path, b"\n").unwrap();
        let err = load(Some(&path)).err().unwrap();
        assert!(err.contains("is empty"), "{err}");
        let err = load(Some(&dir.path().join("missing"))).err().unwrap();
        assert!(err.contains("missing"), "{err}");
    }
}
