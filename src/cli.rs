//! The command line, as clap derive types; help texts live in the doc comments.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use dicommanager::render::{Depth, Window, WindowChoice};

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
    /// Ctrl-C stops cleanly: files in progress are finished, the audit so
    /// far is written, and `--resume` finishes the run later.
    ///
    /// Exit code: 0 all files OK, 1 some files failed, 2 bad arguments,
    /// profile or destination (nothing done), 3 stopped because DEST could
    /// not be written (disk full: `--resume` finishes), 130 interrupted.
    #[command(visible_alias = "anonymize")]
    Anomize(AnomizeArgs),

    /// Print the attributes of one DICOM file.
    ///
    /// By default a table of the patient, study, series and image
    /// attributes, text decoded with the file's Specific Character Set.
    /// Only the header is read, never the pixel data. A file that is not
    /// DICOM or is damaged gives one line on stderr and exit code 1.
    Metadata(MetadataArgs),

    /// Move files into subfolders named after the start of their names.
    ///
    /// Every file of DIR (not its subfolders) whose name ends with MASK
    /// moves to DIR/PREFIX/, PREFIX being the part of its name before the
    /// first DELIM: `17_001.png` goes to `17/17_001.png`. Files without
    /// DELIM stay and are listed. Nothing is overwritten: a file whose
    /// target exists stays, is listed as a clash, and sets exit code 1.
    Splitby(SplitbyArgs),

    /// Render DICOM images to PNG files.
    ///
    /// SOURCE is a DICOM file or a folder (searched recursively; files are
    /// recognised by content). For a file, DEST is the PNG to write (or a
    /// folder to write into); for a folder, DEST is a folder that receives
    /// one PNG per image, in the same subfolders, named after the input.
    /// The Modality LUT (rescale) and VOI window are applied, MONOCHROME1
    /// is inverted and colour images become RGB. Files without pixel data
    /// are reported and skipped; exit code 1 if some image failed.
    Export(ExportArgs),

    /// Check the output of `anomize` for PHI of its sources that survived.
    ///
    /// For every file that `DEST/_out.csv` lists as OK, the source file is
    /// read and its identifying values are collected: person names (whole
    /// and by name component), patient IDs, accession number, birth date,
    /// addresses, telephone numbers, institution, and the UIDs that DICOM
    /// PS3.15 says to replace. The output file is then searched for each of
    /// them: every element at every depth, file meta and private elements
    /// included (pixel data excepted), and its file name. Case is ignored;
    /// names and IDs count only as whole words.
    ///
    /// Each leak is one line on stdout: the output file, where the value
    /// sits in it, and which source attribute it came from. The values
    /// themselves are not printed (the report must not spread PHI) unless
    /// --show-values is given. A summary goes to stderr. Sources are only
    /// read; the audit files are never searched.
    ///
    /// Exit code: 0 nothing leaked, 1 something leaked or a listed file
    /// could not be read, 2 bad arguments (SOURCE or DEST missing, no
    /// `_out.csv` in DEST).
    Verify(VerifyArgs),

    /// See the built-in profiles, or what a profile does once resolved.
    #[command(subcommand)]
    Profile(ProfileCommand),

    /// Print a shell completion script (bash, zsh, fish, elvish,
    /// powershell) to standard output.
    ///
    /// For bash: `dicommanager completions bash > /etc/bash_completion.d/dicommanager`.
    Completions(CompletionsArgs),

    /// Print the manual page (roff) to standard output:
    /// `dicommanager man > dicommanager.1; man ./dicommanager.1`.
    Man,

    /// Look into or fill a patient registry (see `anomize --registry`).
    ///
    /// A registry keeps patient indices and image numbers across runs. It
    /// stores patients only as keyed hashes: `lookup` and `import` need the
    /// secret the registry was made with; `show` prints counts only.
    #[command(subcommand)]
    Registry(RegistryCommand),

    /// Run one export in stages, spread over many machines by a scheduler
    /// (Slurm job arrays, Kubernetes Indexed Jobs), with the result of
    /// one `anomize` run.
    ///
    /// `scan --shard K/N` on N machines, then `number` once, then `write
    /// --shard K/N` on N machines, then `merge` once; every stage reads
    /// and writes files in WORK, a folder all machines share. DEST and its
    /// audit come out byte for byte as `anomize` makes them (the XLSX
    /// workbook cell for cell: it holds its time of writing). See the
    /// README, "More than one machine".
    #[command(subcommand)]
    Stage(StageCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum StageCommand {
    /// Shard K of N: walk SOURCE and read the headers of this shard's
    /// files (a hash of each path chooses its shard) into
    /// WORK/scan-K-of-N.csv. Takes anomize's settings.
    Scan(StageScanArgs),
    /// Number the files of all scans in one run's order (the registry, if
    /// any, is written here only) into WORK/numbered.csv; writes DEST's
    /// `_metadata.csv`, `_outputs.csv` and `_run.json`.
    Number(StageNumberArgs),
    /// Shard K of N: de-identify this shard's files into DEST, its audit
    /// rows into WORK/audit-K-of-N.csv. Run again after an interruption,
    /// it keeps the outputs that are complete and writes the rest.
    Write(StageWriteArgs),
    /// Join the audit parts into `_out.csv` and `_out.xlsx`, in one run's
    /// order, checking that every numbered file has its row.
    Merge(StageMergeArgs),
}

/// What every stage that reads or rewrites files needs.
#[derive(Debug, clap::Args)]
pub struct StageCommon {
    /// The work folder every machine shares (it holds PHI-grade plans:
    /// keep it as safe as the audit).
    #[arg(short, long, value_name = "WORK")]
    pub work: PathBuf,

    /// The profile(s), as `anomize --profile` (the same in every stage).
    #[arg(short, long, value_name = "NAME|FILE")]
    pub profile: Vec<String>,

    /// Read the secret from this file (else DICOMMANAGER_SECRET_FILE or
    /// DICOMMANAGER_SECRET); the same in every stage.
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,

    /// Run a profile that hashes without a secret (see anomize).
    #[arg(long)]
    pub allow_unkeyed: bool,

    #[command(flatten)]
    pub verbosity: Verbosity,
}

#[derive(Debug, clap::Args)]
pub struct StageScanArgs {
    #[command(flatten)]
    pub common: StageCommon,

    /// This machine's share: K of N (K from 1 to N).
    #[arg(long, value_name = "K/N")]
    pub shard: dicommanager::engine::stages::Shard,

    /// Folder to read DICOM files from (recursively; only read).
    #[arg(short, long, value_name = "SOURCE")]
    pub source: PathBuf,

    /// Folder the `write` stage writes into.
    #[arg(short, long, value_name = "DEST")]
    pub dest: PathBuf,

    /// Threads reading headers (default: one per core).
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    /// As `anomize --audit-dir`.
    #[arg(long, value_name = "DIR")]
    pub audit_dir: Option<PathBuf>,

    /// As `anomize --quarantine-burned-in`.
    #[arg(long)]
    pub quarantine_burned_in: bool,

    /// As `anomize --registry` (only `number` opens it).
    #[arg(long, value_name = "FILE")]
    pub registry: Option<PathBuf>,

    /// As `anomize --force-registry`.
    #[arg(long, requires = "registry")]
    pub force_registry: bool,
}

#[derive(Debug, clap::Args)]
pub struct StageNumberArgs {
    #[command(flatten)]
    pub common: StageCommon,
}

#[derive(Debug, clap::Args)]
pub struct StageWriteArgs {
    #[command(flatten)]
    pub common: StageCommon,

    /// This machine's share: K of N, N as in the scan.
    #[arg(long, value_name = "K/N")]
    pub shard: dicommanager::engine::stages::Shard,

    /// Worker threads (default: one per core).
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
}

#[derive(Debug, clap::Args)]
pub struct StageMergeArgs {
    /// The work folder every machine shares.
    #[arg(short, long, value_name = "WORK")]
    pub work: PathBuf,

    #[command(flatten)]
    pub verbosity: Verbosity,
}

#[derive(Debug, clap::Subcommand)]
pub enum ProfileCommand {
    /// The built-in profiles, each with its description.
    List,
    /// The resolved profile as TOML: every `extends` and layer applied,
    /// each rule with the file and line it came from. The output is itself
    /// a profile that does the same (its fingerprint is printed too).
    Show(ProfileShowArgs),
    /// What the profile does to every element of one file, at every depth,
    /// and which profile line decided it. Values (PHI) only with
    /// --show-values, computed as for patient index 1.
    Explain(ProfileExplainArgs),
}

#[derive(Debug, clap::Args)]
pub struct ProfileExplainArgs {
    /// Profiles to layer, as `anomize --profile` takes them (default basic).
    #[arg(value_name = "NAME|FILE")]
    pub profile: Vec<String>,

    /// The DICOM file to explain the profile on.
    #[arg(short, long, value_name = "FILE")]
    pub file: PathBuf,

    /// Also print each value before and after. They are PHI: not where
    /// the output is logged or shared.
    #[arg(long)]
    pub show_values: bool,

    /// The secret for keyed hashes and date shifts (else
    /// DICOMMANAGER_SECRET_FILE or DICOMMANAGER_SECRET); only needed to
    /// show the values they make.
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ProfileShowArgs {
    /// Profiles to layer, as `anomize --profile` takes them (default basic).
    #[arg(value_name = "NAME|FILE")]
    pub profile: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Subcommand)]
pub enum RegistryCommand {
    /// Counts of patients, images and files, and the runs (no identities).
    Show(RegistryShowArgs),
    /// Which patient index an identity has (for staff who hold the secret).
    ///
    /// Give the values of the profile's patient key in its order (by
    /// default the Patient ID alone). Prints the index and the number of
    /// images issued; exit code 1 when the registry does not know it.
    Lookup(RegistryLookupArgs),
    /// Add the patients of an earlier run or of a lookup table.
    ///
    /// From a run's `_out.csv` or `_out.xlsx` (--audit): each Patient ID with its index,
    /// and its files as images already issued. From a two-column CSV
    /// `identity,index` (--table; a key of several attributes gives their
    /// values separated by `\`). Nothing is imported if anything conflicts
    /// with the registry or within the input; the conflicts are listed.
    Import(RegistryImportArgs),
}

/// Options every registry command that reads identities needs.
#[derive(Debug, clap::Args)]
pub struct RegistryAccess {
    /// The registry file.
    #[arg(short, long, value_name = "FILE")]
    pub registry: PathBuf,

    /// The profile whose patient key the registry uses (default basic:
    /// Patient ID).
    #[arg(short, long, value_name = "NAME|FILE")]
    pub profile: Vec<String>,

    /// Read the registry's secret from this file (else
    /// DICOMMANAGER_SECRET_FILE or DICOMMANAGER_SECRET).
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RegistryShowArgs {
    /// The registry file.
    #[arg(short, long, value_name = "FILE")]
    pub registry: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RegistryLookupArgs {
    #[command(flatten)]
    pub access: RegistryAccess,

    /// Look the values up as the key's fallback attributes.
    #[arg(long)]
    pub fallback: bool,

    /// The values of the patient key, in its order.
    #[arg(required = true, value_name = "VALUE")]
    pub values: Vec<String>,
}

#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false, id = "import_source")]
pub struct RegistryImportArgs {
    #[command(flatten)]
    pub access: RegistryAccess,

    /// An earlier run's audit, `_out.csv` or `_out.xlsx`.
    #[arg(long, value_name = "FILE", group = "import_source")]
    pub audit: Option<PathBuf>,

    /// A lookup table: `identity,index` per line.
    #[arg(long, value_name = "FILE", group = "import_source")]
    pub table: Option<PathBuf>,
}

/// How much a command says besides its results and errors (as DCMTK's
/// `-q` and `-v`).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Verbosity {
    /// Say nothing but results, warnings and errors: no progress bar, no
    /// summary, no line per file done.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Say more: every failed file in anomize's summary (not the first
    /// five), a line per file written by export and splitby, and per
    /// clean file in verify.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub verbosity: Verbosity,

    /// The folder anomize read (source files are only read).
    #[arg(short, long, value_name = "SOURCE")]
    pub source: PathBuf,

    /// The folder anomize wrote, with its `_out.csv`.
    #[arg(short, long, value_name = "DEST")]
    pub dest: PathBuf,

    /// The folder with the run's `_out.csv`, if anomize wrote its audit
    /// there (`--audit-dir`).
    #[arg(long, value_name = "DIR")]
    pub audit_dir: Option<PathBuf>,

    /// Also print each leaked value. They are PHI: do not use this where
    /// the output is logged or shared.
    #[arg(long)]
    pub show_values: bool,

    /// Also count values found in attributes the standard does not list
    /// as identifying, when they are unchanged from the source (a
    /// manufacturer named like the institution, a coil named like a
    /// phantom patient). Without it they are only counted in the summary.
    #[arg(long)]
    pub strict: bool,

    /// Also write what the de-identification cost research: per
    /// attribute, how many values were kept, cleaned, shifted, remapped,
    /// replaced and removed over the run. JSON when FILE ends in `.json`,
    /// else CSV. It names attributes, never values.
    #[arg(long, value_name = "FILE")]
    pub utility_report: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct MetadataArgs {
    /// The DICOM file(s) to read (`-f a.dcm b.dcm`, or the files after
    /// the options).
    #[arg(short = 'f', long = "file", value_name = "FILE", num_args = 1..)]
    pub file: Vec<PathBuf>,

    /// More files to read.
    #[arg(value_name = "FILE", required_unless_present = "file")]
    pub more: Vec<PathBuf>,

    /// Dump every element (file meta included), sequences indented.
    #[arg(long, conflicts_with = "json")]
    pub all: bool,

    /// Print the DICOM JSON model (PS3.18 F.2) of the header.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct SplitbyArgs {
    #[command(flatten)]
    pub verbosity: Verbosity,

    /// Folder whose files are grouped (not searched recursively).
    #[arg(short, long, value_name = "DIR")]
    pub source: PathBuf,

    /// Only files whose names end with this (e.g. `.png`).
    #[arg(short, long, value_name = "MASK")]
    pub mask: String,

    /// The subfolder is the part of the name before the first DELIM.
    #[arg(short, long, value_name = "DELIM", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub delimiter: String,

    /// Print what would move, and move nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// A DICOM file, or a folder of them.
    #[arg(short, long, value_name = "FILE|DIR")]
    pub source: PathBuf,

    /// The PNG file to write, or the folder to write into.
    ///
    /// With one source file: a name ending in .png is the image file (any
    /// other extension is refused: only PNG is written); an existing
    /// folder, or a name without extension, is a folder to write into.
    /// Missing folders are created.
    #[arg(short, long, value_name = "OUT.png|DIR")]
    pub dest: PathBuf,

    /// VOI window: `file` (the file's first window, else its VOI LUT, else
    /// min-max), `minmax` (the full range of the frame), or `CENTER,WIDTH`.
    #[arg(long, value_name = "file|minmax|C,W", default_value = "file", value_parser = parse_window)]
    pub window: WindowChoice,

    /// Bits per sample of the PNG: 8 or 16.
    #[arg(long, value_name = "8|16", default_value = "8", value_parser = parse_bits)]
    pub bits: Depth,

    /// The frame to write, counted from 1.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "all_frames")]
    pub frame: Option<u32>,

    /// Write every frame, as NAME_0001.png, NAME_0002.png, ...
    #[arg(long)]
    pub all_frames: bool,

    /// Worker threads for a folder (default: one per CPU core).
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    #[command(flatten)]
    pub verbosity: Verbosity,
}

fn parse_window(text: &str) -> Result<WindowChoice, String> {
    match text {
        "file" => Ok(WindowChoice::File),
        "minmax" | "min-max" => Ok(WindowChoice::MinMax),
        _ => {
            let (c, w) = text
                .split_once(',')
                .ok_or("expected file, minmax or CENTER,WIDTH (e.g. 40,400)")?;
            let center: f64 = c.trim().parse().map_err(|_| format!("bad center {c:?}"))?;
            let width: f64 = w.trim().parse().map_err(|_| format!("bad width {w:?}"))?;
            if !center.is_finite() || !width.is_finite() || width < 1.0 {
                return Err("the width must be at least 1".into());
            }
            Ok(WindowChoice::Fixed(Window { center, width }))
        }
    }
}

fn parse_bits(text: &str) -> Result<Depth, String> {
    match text {
        "8" => Ok(Depth::Eight),
        "16" => Ok(Depth::Sixteen),
        _ => Err("expected 8 or 16".into()),
    }
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
    /// blanked). Keyed hashes and date shifts use the secret of
    /// --secret-file, DICOMMANAGER_SECRET_FILE or DICOMMANAGER_SECRET.
    #[arg(short, long, value_name = "NAME|FILE")]
    pub profile: Vec<String>,

    /// Read the secret for keyed hashes, UIDs and date shifts from this
    /// file (its line ending is ignored).
    ///
    /// Without it, the file named by DICOMMANAGER_SECRET_FILE, else the
    /// value of DICOMMANAGER_SECRET. Keep the file private (chmod 600) and
    /// use the same secret for every export that must link up.
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,

    /// Run a profile that hashes identifiers or UIDs, or shifts dates,
    /// without a secret.
    ///
    /// Unkeyed hashes of IDs and UIDs can be reversed by anyone who hashes
    /// candidate values, so such a profile refuses to run without a secret
    /// unless this is given.
    #[arg(long)]
    pub allow_unkeyed: bool,

    /// Worker threads (default: one per CPU core). Results are identical
    /// whatever the number.
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    #[command(flatten)]
    pub verbosity: Verbosity,

    /// Plan only: walk SOURCE, read the headers and print (as CSV, the
    /// audit's columns) what would happen to each file: its patient index,
    /// output path, burned-in risk or why it would fail. No DICOM is
    /// written; DEST is neither created nor looked into.
    #[arg(long, conflicts_with_all = ["resume", "overwrite", "registry"])]
    pub dry_run: bool,

    /// Write the audit (_out.xlsx, _out.csv, _metadata.csv) to this folder
    /// instead of DEST.
    ///
    /// The audit maps pseudonyms back to patients: kept apart, DEST can be
    /// shared (zipped, uploaded) without the key to it. The folder is
    /// created private to its owner; give the same one to --resume.
    #[arg(long, value_name = "DIR")]
    pub audit_dir: Option<PathBuf>,

    /// Also write the end summary as JSON to FILE, for pipelines: counts,
    /// time, the first failed files and where the audit is (even with
    /// --quiet).
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,

    /// Write into a DEST that already holds the output of a previous run.
    #[arg(long, conflicts_with = "resume")]
    pub overwrite: bool,

    /// Write images that may carry burned-in text (BurnedInAnnotation YES;
    /// or ultrasound, secondary capture, angiography ... or a derived
    /// image, without an explicit BurnedInAnnotation NO) to
    /// DEST/_quarantine/ instead, for someone to check the pixels before
    /// they are shared. The audit's burned_in_risk column says why either
    /// way.
    #[arg(long)]
    pub quarantine_burned_in: bool,

    /// Keep patient indices and image numbers in this registry (an SQLite
    /// file, created if missing), so that they hold across runs.
    ///
    /// A patient known from an earlier run keeps its index and its images
    /// go on where they stopped; new patients get the next free indices; a
    /// file an earlier run exported (same SOP Instance UID) is reported and
    /// not written again. Needs the secret (patients are stored as keyed
    /// hashes); a registry made with another secret or patient key is
    /// refused. Two runs may share one registry at the same time.
    #[arg(long, value_name = "FILE")]
    pub registry: Option<PathBuf>,

    /// Use a registry made with another secret or patient key (its
    /// numbers then no longer match for the patients it knows).
    #[arg(long, requires = "registry")]
    pub force_registry: bool,

    /// Finish an interrupted run (Ctrl-C, a crash, a reboot) into the same
    /// DEST: outputs already complete are kept, the rest are written, and
    /// the audit covers every file once. SOURCE must still hold the same
    /// files; use the same profile and secret as the interrupted run.
    #[arg(long)]
    pub resume: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn window_option_forms() {
        assert_eq!(parse_window("file"), Ok(WindowChoice::File));
        assert_eq!(parse_window("minmax"), Ok(WindowChoice::MinMax));
        assert_eq!(
            parse_window("-600, 1500"),
            Ok(WindowChoice::Fixed(Window {
                center: -600.0,
                width: 1500.0
            }))
        );
        assert!(parse_window("40").is_err());
        assert!(parse_window("40,0").is_err());
        assert!(parse_window("a,b").is_err());
        assert!(parse_bits("12").is_err());
    }
}
