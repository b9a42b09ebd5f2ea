//! The command line, as clap derive types; help texts live in the doc comments.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// De-identify DICOM files in bulk, keeping every image linked to a stable
/// per-patient index, with an audit of what happened to each file.
#[derive(Debug, Parser)]
#[command(name = "dicommanager", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Copy every DICOM file of SOURCE to DEST with PHI removed by a profile.
    ///
    /// Files are recognised as DICOM by their content, whatever their name.
    /// DEST receives one de-identified copy per file (named by the profile's
    /// output template, by default `{patient_index}_{image_number:03}.dcm`),
    /// `_metadata.csv` (sequence, source path, size of every DICOM file) and
    /// the audit `_out.xlsx` / `_out.csv` (one row per file: OK or ERROR and
    /// why). The audit maps pseudonyms back to patients: keep it safe.
    ///
    /// Exit code: 0 all files OK, 1 some files failed, 2 bad arguments,
    /// profile or destination (nothing done).
    #[command(visible_alias = "anonymize")]
    Anomize(AnomizeArgs),
}

#[derive(Debug, clap::Args)]
pub struct AnomizeArgs {
    /// Folder to read (recursively); never written to.
    #[arg(short, long, value_name = "SOURCE")]
    pub source: PathBuf,

    /// Folder to write to; created if missing.
    #[arg(short, long, value_name = "DEST")]
    pub dest: PathBuf,

    /// Profile: a built-in name (basic) or a TOML file. Repeat to layer
    /// profiles; later ones override earlier ones.
    ///
    /// An existing file always wins over a built-in name. Without this
    /// option the built-in `basic` profile is used (patient name and ID
    /// replaced by the patient index, address and study description
    /// blanked). Keyed hashes use the secret in the environment variable
    /// DICOMMANAGER_SECRET.
    #[arg(short, long, value_name = "NAME|FILE")]
    pub profile: Vec<String>,

    /// Worker threads (default: one per CPU core). Results are identical
    /// whatever the number.
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    /// No progress bar and no summary.
    #[arg(short, long)]
    pub quiet: bool,

    /// Write into a DEST that already holds the output of a previous run.
    #[arg(long)]
    pub overwrite: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
