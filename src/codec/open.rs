//! Opening a DICOM file up to the first byte of its data set: preamble,
//! file meta (tolerant of a missing group length or transfer syntax), and
//! an inflating reader for deflated data sets.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use dicom_dictionary_std::uids;
use flate2::read::DeflateDecoder;

use super::{FileMeta, Layout, Source, StreamError, Syntax, meta};

/// Read buffer per open file: large enough that copying pixel data runs at
/// the speed of the disk, small enough for many parallel workers.
pub const IO_BUFFER: usize = 256 * 1024;

/// Why a file could not be opened up to its data set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    #[error("cannot open: {0}")]
    Io(#[source] std::io::Error),
    #[error("no file meta information after the DICM marker")]
    NoMeta,
    #[error(transparent)]
    Stream(#[from] StreamError),
}

/// A file positioned at its data set.
pub struct OpenedFile<'a> {
    /// The file meta group; `None` for a bare data set.
    pub meta: Option<FileMeta>,
    /// How the data set is encoded.
    pub syntax: Syntax,
    /// The transfer syntax UID the output will declare.
    pub transfer_syntax: String,
    /// The data set, inflated if it was deflated.
    pub dataset: Source<Box<dyn Read + Send + 'a>>,
}

const IMPLICIT_VR_LE: &str = uids::IMPLICIT_VR_LITTLE_ENDIAN;
const EXPLICIT_VR_LE: &str = uids::EXPLICIT_VR_LITTLE_ENDIAN;

/// Opens a source file for reading without touching it: read-only, and on
/// Linux without updating its access time where the system allows that
/// (the owner of the file, or root), so that a run leaves no trace on the
/// archive it reads.
pub fn open_source(path: &Path) -> std::io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let no_atime = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOATIME)
            .open(path);
        match no_atime {
            Err(err) if err.raw_os_error() == Some(libc::EPERM) => {}
            other => return other,
        }
    }
    File::open(path)
}

/// Opens a file on disk.
pub fn open_file(path: &Path, layout: Layout) -> Result<OpenedFile<'static>, OpenError> {
    let file = open_source(path).map_err(OpenError::Io)?;
    // Small files need no large buffer (allocated and zeroed per file).
    let size = file.metadata().map_err(OpenError::Io)?.len();
    let capacity = (size as usize).clamp(8 * 1024, IO_BUFFER);
    open_reader(BufReader::with_capacity(capacity, file), layout)
}

/// Reads the preamble and file meta of any byte stream (a file, or bytes
/// in memory for benchmarks and fuzzing).
pub fn open_reader<'a, R: Read + Send + 'a>(
    reader: R,
    layout: Layout,
) -> Result<OpenedFile<'a>, OpenError> {
    let mut source = Source::new(reader);
    let mut skipped = vec![0u8; layout.header_skip() as usize];
    source.read_exact(&mut skipped, "the preamble")?;
    let (meta, syntax, transfer_syntax) = match layout {
        Layout::Bare(syntax) => {
            let uid = match (syntax.explicit_vr, syntax.big_endian) {
                // Retired in 2004, but such files exist and are read.
                #[allow(deprecated)]
                (true, true) => uids::EXPLICIT_VR_BIG_ENDIAN,
                (true, false) => uids::EXPLICIT_VR_LITTLE_ENDIAN,
                (false, _) => uids::IMPLICIT_VR_LITTLE_ENDIAN,
            };
            (None, syntax, uid.to_string())
        }
        Layout::Part10 | Layout::MetaWithoutPreamble | Layout::MetaWithoutMarker => {
            let meta = FileMeta::read(&mut source)?;
            if meta.elements.is_empty() {
                return Err(OpenError::NoMeta);
            }
            let (syntax, uid) = match meta.text(meta::TRANSFER_SYNTAX_UID) {
                Some(uid) if !uid.is_empty() => {
                    let declared = Syntax::from_uid(&uid)?;
                    // Some writers declare Explicit VR Little Endian over an
                    // implicit VR data set; believe the data set.
                    if declared == Syntax::EXPLICIT_VR_LITTLE_ENDIAN
                        && first_element_is_implicit(&mut source)?
                    {
                        (
                            Syntax::IMPLICIT_VR_LITTLE_ENDIAN,
                            IMPLICIT_VR_LE.to_string(),
                        )
                    } else {
                        (declared, uid)
                    }
                }
                _ => infer_syntax(&mut source)?,
            };
            (Some(meta), syntax, uid)
        }
    };
    let position = source.position();
    let reader = source.into_reader();
    let dataset: Box<dyn Read + Send + 'a> = if syntax.deflated {
        Box::new(DeflateDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    Ok(OpenedFile {
        meta,
        syntax,
        transfer_syntax,
        dataset: Source::starting_at(dataset, if syntax.deflated { 0 } else { position }),
    })
}

/// Whether the first data set element has no valid VR where an explicit VR
/// would be (an empty data set counts as explicit).
fn first_element_is_implicit<R: Read>(source: &mut Source<R>) -> Result<bool, StreamError> {
    let mut head = [0u8; 6];
    if !source.read_exact_or_eof(&mut head, "the first data set element")? {
        return Ok(false);
    }
    source.unread(&head);
    Ok(super::vr_from_bytes([head[4], head[5]]).is_none())
}

/// A file meta group without a transfer syntax: the first element tells
/// explicit from implicit VR (little endian, the only kinds seen in practice).
fn infer_syntax<R: Read>(source: &mut Source<R>) -> Result<(Syntax, String), StreamError> {
    let mut head = [0u8; 6];
    source.read_exact(&mut head, "the first data set element")?;
    source.unread(&head);
    if super::vr_from_bytes([head[4], head[5]]).is_some() {
        Ok((
            Syntax::EXPLICIT_VR_LITTLE_ENDIAN,
            EXPLICIT_VR_LE.to_string(),
        ))
    } else {
        Ok((
            Syntax::IMPLICIT_VR_LITTLE_ENDIAN,
            IMPLICIT_VR_LE.to_string(),
        ))
    }
}
