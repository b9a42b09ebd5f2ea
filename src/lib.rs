//! dicommanager: bulk de-identification of DICOM files, and the tools
//! around it (metadata, PNG export, grouping per patient).
//!
//! Layers, lowest first; each uses only those above it in this list:
//! - [`guard`]: panics of code we cannot change turned into errors;
//!   [`pathtext`]: file paths as text that reads back without loss.
//! - [`charset`]: text under a Specific Character Set.
//! - [`codec`]: DICOM read and written element by element (headers,
//!   values, file meta, sequences skipped or walked), or read into a tree
//!   of raw values.
//! - [`profile`]: TOML profiles as data (what to do to which attribute).
//! - [`rules`]: the actions (how), compiled from a profile into a lookup.
//! - [`registry`]: patient indices and image numbers kept across runs.
//! - [`walk`], [`dest`], [`sink`]: finding files; creating files in DEST
//!   that no planted link can redirect; writing audit tables.
//! - [`dicomdir`]: a DICOMDIR of SOURCE read, and a new one made from the
//!   outputs.
//! - [`engine`]: the `anomize` run itself.
//! - [`render`], [`export`], [`metadata`], [`splitby`]: the other commands
//!   (pixels to images, header views, grouping files by name).
//! - [`verify`]: searching `anomize` outputs for the PHI of their sources.

pub mod charset;
pub mod codec;
pub mod dest;
pub mod dicomdir;
pub mod engine;
pub mod export;
pub mod guard;
pub mod metadata;
pub mod pathtext;
pub mod profile;
pub mod registry;
pub mod render;
pub mod rules;
pub mod sink;
pub mod splitby;
/// The former name of [`codec`].
pub mod verify;
pub mod walk;
