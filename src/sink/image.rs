//! The image side of the sinks: where rendered frames go. PNG is the one
//! shipped; a site can add another format by implementing [`ImageSink`].

use std::path::{Path, PathBuf};

use super::SinkError;
use crate::render::Image;

/// A destination format for rendered frames.
pub trait ImageSink: Send + Sync {
    /// The file name extension of this format, without the dot.
    fn extension(&self) -> &'static str;

    /// Writes `image` to `path`. A failed write must not leave a file at
    /// `path` that looks complete.
    fn write(&self, image: &Image, path: &Path) -> Result<(), SinkError>;
}

/// A hidden temporary name beside `path`: renamed into place when complete,
/// so no reader ever sees a half-written image under the final name.
pub(crate) fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

/// Writes through `write_to` into a temporary file, then renames it to `path`.
pub(crate) fn write_atomically(
    path: &Path,
    write_to: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<(), String>,
) -> Result<(), SinkError> {
    let tmp = temporary_path(path);
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
        let mut out = std::io::BufWriter::new(file);
        write_to(&mut out)?;
        let file = out.into_inner().map_err(|e| e.to_string())?;
        file.sync_all().map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, path).map_err(|e| e.to_string())
    })();
    result.map_err(|message| {
        // Best effort: the temporary file is not the output, so a failed
        // removal leaves nothing that looks complete.
        let _ = std::fs::remove_file(&tmp);
        SinkError::new(path, message)
    })
}
