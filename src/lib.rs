//! dicommanager: bulk de-identification of DICOM files, and the tools
//! around it (metadata, PNG export, grouping per patient).
//!
//! Layers, lowest first; each uses only those above it in this list:
//! - [`charset`]: text under a Specific Character Set.
//! - [`stream`]: DICOM read and written element by element.
//! - [`profile`]: TOML profiles as data (what to do to which attribute).
//! - [`rules`]: the actions (how), compiled from a profile into a lookup.
//! - [`walk`], [`sink`]: finding files; writing audit tables.
//! - [`engine`]: the `anomize` run itself.

pub mod charset;
pub mod engine;
pub mod profile;
pub mod rules;
pub mod sink;
pub mod stream;
pub mod walk;
