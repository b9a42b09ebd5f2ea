//! File paths as audit text, without loss. On Unix a path is bytes, not
//! always UTF-8; `to_string_lossy` would turn a Latin-1 name into U+FFFD
//! and nothing could find the file again. Bytes that are not UTF-8 are
//! written `\xNN` (and a backslash `\\`, so that the escape reads back
//! one way only); every other character stays as it is.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// `path` as text that [`text_to_path`] turns back into it.
pub fn path_to_text(path: &Path) -> Cow<'_, str> {
    let bytes = path.as_os_str().as_encoded_bytes();
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.contains('\\') => Cow::Borrowed(text),
        _ => Cow::Owned(escape(bytes)),
    }
}

/// The path [`path_to_text`] wrote as `text`.
pub fn text_to_path(text: &str) -> PathBuf {
    if !text.contains('\\') {
        return PathBuf::from(text);
    }
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        match (first, tail) {
            (b'\\', [b'\\', after @ ..]) => {
                bytes.push(b'\\');
                rest = after;
            }
            (b'\\', [b'x', high, low, after @ ..]) if hex(*high).zip(hex(*low)).is_some() => {
                let (high, low) = hex(*high).zip(hex(*low)).unwrap_or_default();
                bytes.push(high << 4 | low);
                rest = after;
            }
            _ => {
                bytes.push(first);
                rest = tail;
            }
        }
    }
    path_from_bytes(bytes)
}

fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(&chunk.valid().replace('\\', "\\\\"));
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02X}"));
        }
    }
    out
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).map(|d| d as u8)
}

#[cfg(unix)]
fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

#[cfg(not(unix))]
fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn every_path_reads_back_as_it_was() {
        for bytes in [
            &b"/data/scan_\xff\xfe.dcm"[..],
            b"/data/M\xfcller/1.dcm",
            b"/data/back\\slash",
            b"/data/\\xFF literally",
            "/data/Müller/ünïcode.dcm".as_bytes(),
        ] {
            let path = Path::new(std::ffi::OsStr::from_bytes(bytes));
            let text = path_to_text(path);
            assert_eq!(text_to_path(&text), path, "{text}");
        }
        assert_eq!(path_to_text(Path::new("/plain/a.dcm")), "/plain/a.dcm");
        let latin = Path::new(std::ffi::OsStr::from_bytes(b"/M\xfcller"));
        assert_eq!(path_to_text(latin), "/M\\xFCller");
    }
}
