//! Generates a PACS-like export tree of real DICOM files for benchmarks
//! (issue 5): several patients, studies and series in nested folders
//! (`PA000001/ST000001/SE000001/IM000001`, some `IM000001.dcm`), realistic
//! headers (character sets, names, IDs, dates, UIDs, nested sequences,
//! private tags), uncompressed 16-bit pixel data, and about 1% non-DICOM
//! files (notes, thumbnails caches, a DICOMDIR-like index, empty lock files).
//!
//! Headers are synthesised in code, so no corpus is needed. The same
//! `--mode`, `--files` and `--seed` always give byte-identical trees.
//!
//! ```sh
//! cargo run --release --example make_pacs_tree -- --mode small --files 2000 --out /dev/shm/small
//! cargo run --release --example make_pacs_tree -- --mode ct --files 500 --out /dev/shm/ct --seed 7
//! ```
//!
//! `small`: MR images of 176×192 16-bit pixels with a CSA-like private
//! header, about 72 KiB a file (2,000 files ≈ 141 MiB). `ct`: 512×512
//! 16-bit CT slices, about 518 KiB a file (500 files ≈ 253 MiB).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use dicom_core::value::{C, DataSetSequence};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::uids;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use rayon::prelude::*;

/// What kind of images the tree holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// MR images of about 72 KiB.
    Small,
    /// CT slices of 512×512 pixels, about 518 KiB.
    Ct,
}

/// Generates a PACS-like tree of DICOM files for benchmarks.
#[derive(Debug, Parser)]
struct Args {
    /// Image size and modality.
    #[arg(long, value_enum, default_value = "small")]
    mode: Mode,
    /// Number of DICOM files; about 1% more non-DICOM files are added.
    #[arg(long, default_value_t = 2000)]
    files: usize,
    /// Output folder (created; must not exist or be empty).
    #[arg(long)]
    out: PathBuf,
    /// Seed of the generator: the same seed gives the same tree.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.files == 0 {
        bail!("--files must be at least 1");
    }
    if args.out.exists() && fs::read_dir(&args.out)?.next().is_some() {
        bail!("{} exists and is not empty", args.out.display());
    }
    let plan = plan_tree(args.mode, args.files, args.seed);
    plan.images
        .par_iter()
        .try_for_each(|image| write_image(&args.out, &plan, image))?;
    for (i, junk) in plan.junk.iter().enumerate() {
        write_junk(&args.out, junk, args.seed ^ i as u64)?;
    }
    let bytes: u64 = plan
        .images
        .iter()
        .map(|i| args.out.join(&i.path))
        .chain(plan.junk.iter().map(|j| args.out.join(&j.path)))
        .map(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    println!(
        "{}: {} DICOM files ({} patients, {} studies, {} series) + {} non-DICOM, {:.1} MiB",
        args.out.display(),
        plan.images.len(),
        plan.patients.len(),
        plan.studies.len(),
        plan.series.len(),
        plan.junk.len(),
        bytes as f64 / 1_048_576.0
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Deterministic randomness (no dependency needed for a benchmark fixture).

/// SplitMix64: small, fast, and good enough for test data.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// A UID under the UUID-derived root 2.25 (PS3.5 B.2).
    fn uid(&mut self) -> String {
        let value = (u128::from(self.next()) << 64) | u128::from(self.next());
        format!("2.25.{}", value >> 2)
    }

    fn date(&mut self, from_year: u64, years: u64) -> String {
        format!(
            "{}{:02}{:02}",
            from_year + self.below(years),
            1 + self.below(12),
            1 + self.below(28)
        )
    }

    fn time(&mut self) -> String {
        format!(
            "{:02}{:02}{:02}.{:06}",
            7 + self.below(12),
            self.below(60),
            self.below(60),
            self.below(1_000_000)
        )
    }
}

// ---------------------------------------------------------------------------
// The tree: who is in it and where each file goes, decided sequentially so
// that the files themselves can be written in parallel.

struct Patient {
    name: String,
    id: String,
    birth_date: String,
    sex: &'static str,
    address: String,
    /// `ISO_IR 100` (Latin-1, ASCII names here) or `ISO_IR 192` (UTF-8).
    charset: &'static str,
}

struct Study {
    patient: usize,
    uid: String,
    date: String,
    time: String,
    accession: String,
    id: String,
    description: &'static str,
    referring: String,
}

struct Series {
    study: usize,
    uid: String,
    frame_of_reference: String,
    number: u32,
    description: &'static str,
    /// Implicit VR Little Endian instead of Explicit VR Little Endian.
    implicit: bool,
    /// File names end in `.dcm` (some exports do, most do not).
    dcm_extension: bool,
}

struct Image {
    series: usize,
    /// Instance number within the series, from 1.
    number: u32,
    uid: String,
    /// The previous instance of the series (for Referenced Image Sequence).
    previous: Option<String>,
    path: PathBuf,
    seed: u64,
}

enum JunkKind {
    Notes,
    Thumbs,
    DicomDirLike,
    Lock,
}

struct Junk {
    path: PathBuf,
    kind: JunkKind,
}

struct Tree {
    mode: Mode,
    patients: Vec<Patient>,
    studies: Vec<Study>,
    series: Vec<Series>,
    images: Vec<Image>,
    junk: Vec<Junk>,
}

const FAMILY: &[&str] = &[
    "SMITH", "JOHNSON", "GARCIA", "MARTIN", "BERNARD", "ROSSI", "NOVAK", "KOWALSKI", "JANSEN",
    "DUBOIS", "SILVA", "OLSEN", "MEYER", "PETIT", "MORENO",
];
const GIVEN: &[&str] = &[
    "JOHN", "MARIA", "PETER", "ANNA", "LUCAS", "EMMA", "NOAH", "SOFIA", "DAVID", "CLARA",
];
/// UTF-8 names for the patients whose files declare ISO_IR 192.
const FAMILY_UTF8: &[&str] = &["MÜLLER", "ØDEGÅRD", "GONZÁLEZ", "ŁUKASZEWICZ", "ÇELIK"];
const GIVEN_UTF8: &[&str] = &["JÜRGEN", "ÅSE", "JOSÉ", "MAŁGORZATA", "ŞEYMA"];
const STREETS: &[&str] = &["Main Street", "Rue de la Paix", "Hauptstrasse", "Via Roma"];
const CT_STUDIES: &[&str] = &["CT CHEST W/O CONTRAST", "CT ABDOMEN PELVIS", "CT HEAD"];
const CT_SERIES: &[&str] = &["AXIAL 5MM", "AXIAL 1.25MM", "LOCALIZER", "CORONAL MPR"];
const MR_STUDIES: &[&str] = &["MR BRAIN W/WO", "MR KNEE LEFT", "MR LUMBAR SPINE"];
const MR_SERIES: &[&str] = &["T1 SAG", "T2 AX", "FLAIR AX", "LOCALIZER"];
const PHYSICIANS: &[&str] = &["WHO^DOCTOR", "HOUSE^GREGORY", "GREY^MEREDITH"];

fn plan_tree(mode: Mode, files: usize, seed: u64) -> Tree {
    let mut rng = Rng::new(seed);
    let mut tree = Tree {
        mode,
        patients: Vec::new(),
        studies: Vec::new(),
        series: Vec::new(),
        images: Vec::new(),
        junk: Vec::new(),
    };
    let mut remaining = files;
    while remaining > 0 {
        // About 40 images per patient, between 20 and 60.
        let count = remaining.min(20 + rng.below(41) as usize);
        remaining -= count;
        add_patient(&mut tree, &mut rng, count);
    }
    // About 1% non-DICOM files, spread over the tree.
    let junk = files.div_ceil(100);
    for i in 0..junk {
        let anchor = &tree.images[rng.below(tree.images.len() as u64) as usize];
        let series_dir = anchor.path.parent().unwrap_or(Path::new("")).to_path_buf();
        let (path, kind) = match i % 4 {
            0 => (
                series_dir
                    .parent()
                    .unwrap_or(Path::new(""))
                    .join("REPORT.TXT"),
                JunkKind::Notes,
            ),
            1 => (series_dir.join("Thumbs.db"), JunkKind::Thumbs),
            2 => (
                series_dir
                    .ancestors()
                    .nth(2)
                    .unwrap_or(Path::new(""))
                    .join("DICOMDIR.BAK"),
                JunkKind::DicomDirLike,
            ),
            _ => (series_dir.join(".lock"), JunkKind::Lock),
        };
        // Two junk files may land on one name; keep one of each.
        if !tree.junk.iter().any(|j| j.path == path) {
            tree.junk.push(Junk { path, kind });
        }
    }
    tree
}

fn add_patient(tree: &mut Tree, rng: &mut Rng, images: usize) {
    let p = tree.patients.len();
    let utf8 = p % 5 == 3;
    let name = if utf8 {
        format!("{}^{}", rng.pick(FAMILY_UTF8), rng.pick(GIVEN_UTF8))
    } else {
        format!("{}^{}", rng.pick(FAMILY), rng.pick(GIVEN))
    };
    tree.patients.push(Patient {
        name,
        id: format!("{:08}", 10_000_000 + rng.below(89_999_999)),
        birth_date: rng.date(1930, 80),
        sex: rng.pick(&["M", "F", "O"]),
        address: format!("{} {}", 1 + rng.below(200), rng.pick(STREETS)),
        charset: if utf8 { "ISO_IR 192" } else { "ISO_IR 100" },
    });
    let studies = if images >= 30 { 1 + rng.below(2) } else { 1 } as usize;
    let patient_dir = PathBuf::from(format!("PA{:06}", p + 1));
    for (s, study_images) in split(images, studies).into_iter().enumerate() {
        let st = tree.studies.len();
        tree.studies.push(Study {
            patient: p,
            uid: rng.uid(),
            date: rng.date(2015, 10),
            time: rng.time(),
            accession: format!("ACC{:07}", rng.below(10_000_000)),
            id: format!("{}", 1000 + rng.below(9000)),
            description: rng.pick(match tree.mode {
                Mode::Small => MR_STUDIES,
                Mode::Ct => CT_STUDIES,
            }),
            referring: rng.pick(PHYSICIANS).to_string(),
        });
        let series = (1 + rng.below(3) as usize).min(study_images);
        let study_dir = patient_dir.join(format!("ST{:06}", s + 1));
        for (r, series_images) in split(study_images, series).into_iter().enumerate() {
            let se = tree.series.len();
            tree.series.push(Series {
                study: st,
                uid: rng.uid(),
                frame_of_reference: rng.uid(),
                number: r as u32 + 1,
                description: rng.pick(match tree.mode {
                    Mode::Small => MR_SERIES,
                    Mode::Ct => CT_SERIES,
                }),
                implicit: se % 7 == 5,
                dcm_extension: se % 4 == 2,
            });
            let series_dir = study_dir.join(format!("SE{:06}", r + 1));
            let mut previous = None;
            for n in 0..series_images {
                let uid = rng.uid();
                let name = if tree.series[se].dcm_extension {
                    format!("IM{:06}.dcm", n + 1)
                } else {
                    format!("IM{:06}", n + 1)
                };
                tree.images.push(Image {
                    series: se,
                    number: n as u32 + 1,
                    uid: uid.clone(),
                    previous: previous.replace(uid),
                    path: series_dir.join(name),
                    seed: rng.next(),
                });
            }
        }
    }
}

/// `total` split into `parts` near-equal non-empty counts.
fn split(total: usize, parts: usize) -> Vec<usize> {
    let parts = parts.clamp(1, total.max(1));
    (0..parts)
        .map(|i| total / parts + usize::from(i < total % parts))
        .collect()
}

// ---------------------------------------------------------------------------
// One DICOM file.

fn write_image(root: &Path, tree: &Tree, image: &Image) -> Result<()> {
    let series = &tree.series[image.series];
    let study = &tree.studies[series.study];
    let patient = &tree.patients[study.patient];
    let mut rng = Rng::new(image.seed);
    let (sop_class, modality, model, rows, columns) = match tree.mode {
        Mode::Small => (uids::MR_IMAGE_STORAGE, "MR", "Signa HDxt", 192u16, 176u16),
        Mode::Ct => (uids::CT_IMAGE_STORAGE, "CT", "LightSpeed VCT", 512, 512),
    };

    let mut obj = InMemDicomObject::new_empty();
    let mut put = |tag: (u16, u16), vr: VR, value: PrimitiveValue| {
        obj.put(DataElement::new(Tag(tag.0, tag.1), vr, value));
    };
    let text = |s: &str| PrimitiveValue::from(s);
    put((0x0008, 0x0005), VR::CS, text(patient.charset));
    put((0x0008, 0x0008), VR::CS, text("ORIGINAL\\PRIMARY\\AXIAL"));
    put((0x0008, 0x0012), VR::DA, text(&study.date));
    put((0x0008, 0x0013), VR::TM, text(&rng.time()));
    put((0x0008, 0x0016), VR::UI, text(sop_class));
    put((0x0008, 0x0018), VR::UI, text(&image.uid));
    for element in [0x0020, 0x0021, 0x0022, 0x0023] {
        put((0x0008, element), VR::DA, text(&study.date));
    }
    put((0x0008, 0x0030), VR::TM, text(&study.time));
    put((0x0008, 0x0031), VR::TM, text(&study.time));
    put((0x0008, 0x0032), VR::TM, text(&rng.time()));
    put((0x0008, 0x0033), VR::TM, text(&rng.time()));
    put((0x0008, 0x0050), VR::SH, text(&study.accession));
    put((0x0008, 0x0060), VR::CS, text(modality));
    put((0x0008, 0x0070), VR::LO, text("GE MEDICAL SYSTEMS"));
    put((0x0008, 0x0080), VR::LO, text("GENERAL HOSPITAL"));
    put(
        (0x0008, 0x0081),
        VR::ST,
        text("1 Hospital Road, Springfield"),
    );
    put((0x0008, 0x0090), VR::PN, text(&study.referring));
    put((0x0008, 0x1010), VR::SH, text("RAD01_OC0"));
    put((0x0008, 0x1030), VR::LO, text(study.description));
    put((0x0008, 0x103E), VR::LO, text(series.description));
    put((0x0008, 0x1040), VR::LO, text("RADIOLOGY"));
    put((0x0008, 0x1050), VR::PN, text("TECH^ANNE"));
    put((0x0008, 0x1090), VR::LO, text(model));
    put((0x0009, 0x0010), VR::LO, text("GEMS_IDEN_01"));
    put((0x0009, 0x1001), VR::LO, text("CT_LIGHTSPEED"));
    put((0x0009, 0x1002), VR::SH, text("CT01"));
    put((0x0009, 0x1004), VR::SH, text(model));
    put(
        (0x0009, 0x1027),
        VR::SL,
        PrimitiveValue::from(1_234_567_i32),
    );
    put((0x0010, 0x0010), VR::PN, text(&patient.name));
    put((0x0010, 0x0020), VR::LO, text(&patient.id));
    put((0x0010, 0x0030), VR::DA, text(&patient.birth_date));
    put((0x0010, 0x0040), VR::CS, text(patient.sex));
    put((0x0010, 0x1010), VR::AS, text("054Y"));
    put((0x0010, 0x1030), VR::DS, text("72.5"));
    put((0x0010, 0x1040), VR::LO, text(&patient.address));
    put((0x0018, 0x0015), VR::CS, text("CHEST"));
    put((0x0018, 0x0050), VR::DS, text("1.25"));
    put((0x0018, 0x0060), VR::DS, text("120"));
    put((0x0018, 0x1020), VR::LO, text("LightSpeedverrel"));
    put((0x0018, 0x1030), VR::LO, text("5.1 ROUTINE CHEST"));
    put((0x0018, 0x1150), VR::IS, text("570"));
    put((0x0018, 0x1151), VR::IS, text("300"));
    put((0x0018, 0x1210), VR::SH, text("STANDARD"));
    put((0x0018, 0x5100), VR::CS, text("HFS"));
    put((0x0020, 0x000D), VR::UI, text(&study.uid));
    put((0x0020, 0x000E), VR::UI, text(&series.uid));
    put((0x0020, 0x0010), VR::SH, text(&study.id));
    put((0x0020, 0x0011), VR::IS, text(&series.number.to_string()));
    put((0x0020, 0x0012), VR::IS, text("1"));
    put((0x0020, 0x0013), VR::IS, text(&image.number.to_string()));
    let z = -100.0 + 1.25 * f64::from(image.number);
    put(
        (0x0020, 0x0032),
        VR::DS,
        text(&format!("-250\\-250\\{z:.2}")),
    );
    put((0x0020, 0x0037), VR::DS, text("1\\0\\0\\0\\1\\0"));
    put((0x0020, 0x0052), VR::UI, text(&series.frame_of_reference));
    put((0x0020, 0x1041), VR::DS, text(&format!("{z:.2}")));
    put((0x0028, 0x0002), VR::US, PrimitiveValue::from(1_u16));
    put((0x0028, 0x0004), VR::CS, text("MONOCHROME2"));
    put((0x0028, 0x0010), VR::US, PrimitiveValue::from(rows));
    put((0x0028, 0x0011), VR::US, PrimitiveValue::from(columns));
    put((0x0028, 0x0030), VR::DS, text("0.976562\\0.976562"));
    put((0x0028, 0x0100), VR::US, PrimitiveValue::from(16_u16));
    put((0x0028, 0x0101), VR::US, PrimitiveValue::from(12_u16));
    put((0x0028, 0x0102), VR::US, PrimitiveValue::from(11_u16));
    put((0x0028, 0x0103), VR::US, PrimitiveValue::from(0_u16));
    put((0x0028, 0x1050), VR::DS, text("40"));
    put((0x0028, 0x1051), VR::DS, text("400"));
    put((0x0028, 0x1052), VR::DS, text("-1024"));
    put((0x0028, 0x1053), VR::DS, text("1"));
    put((0x0043, 0x0010), VR::LO, text("GEMS_PARM_01"));
    put((0x0043, 0x1010), VR::US, PrimitiveValue::from(300_u16));
    put(
        (0x0043, 0x1028),
        VR::OB,
        bytes((0..80).map(|_| rng.next() as u8)),
    );
    if tree.mode == Mode::Small {
        // MR files carry large private headers (Siemens CSA is several KiB).
        put((0x0029, 0x0010), VR::LO, text("SIEMENS CSA HEADER"));
        put((0x0029, 0x1010), VR::OB, bytes(csa_like(&mut rng, 3000)));
        put((0x0029, 0x1020), VR::OB, bytes(csa_like(&mut rng, 1200)));
    } else {
        // GE CT files carry histogram tables and similar private blobs.
        put(
            (0x0043, 0x1029),
            VR::OB,
            bytes((0..4300).map(|_| rng.next() as u8)),
        );
    }

    obj.put(sequence(
        (0x0008, 0x1032),
        vec![code_item("ZZ9999", "LOCAL", study.description)],
    ));
    if let Some(previous) = &image.previous {
        obj.put(sequence(
            (0x0008, 0x1140),
            vec![item(&[
                ((0x0008, 0x1150), VR::UI, sop_class),
                ((0x0008, 0x1155), VR::UI, previous),
            ])],
        ));
    }
    // Request Attributes Sequence, with a code sequence nested in its item.
    let mut request = item(&[
        ((0x0040, 0x0009), VR::SH, &study.accession),
        ((0x0040, 0x1001), VR::SH, &study.id),
    ]);
    request.put(sequence(
        (0x0040, 0x0008),
        vec![code_item("P1-48000", "SRT", "Imaging procedure")],
    ));
    obj.put(sequence((0x0040, 0x0275), vec![request]));
    obj.put(DataElement::new(
        Tag(0x7FE0, 0x0010),
        VR::OW,
        PrimitiveValue::U16(phantom(&mut rng, rows, columns)),
    ));

    let transfer_syntax = if series.implicit {
        uids::IMPLICIT_VR_LITTLE_ENDIAN
    } else {
        uids::EXPLICIT_VR_LITTLE_ENDIAN
    };
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(transfer_syntax)
                .media_storage_sop_class_uid(sop_class)
                .media_storage_sop_instance_uid(image.uid.as_str())
                .implementation_class_uid("2.25.1234567890")
                .implementation_version_name("PACS_EXPORT_1")
                .source_application_entity_title("PACS01"),
        )
        .context("file meta")?;
    let mut encoded = Vec::with_capacity(usize::from(rows) * usize::from(columns) * 2 + 16_384);
    file.write_all(&mut encoded)
        .with_context(|| format!("encoding {}", image.path.display()))?;
    let path = root.join(&image.path);
    create_parent(&path)?;
    fs::write(&path, encoded).with_context(|| format!("writing {}", path.display()))
}

fn bytes(values: impl Iterator<Item = u8>) -> PrimitiveValue {
    PrimitiveValue::U8(values.collect::<C<u8>>())
}

/// Binary private data with text inside, like a Siemens CSA header.
fn csa_like(rng: &mut Rng, len: usize) -> impl Iterator<Item = u8> {
    let mut data = b"SV10\x04\x03\x02\x01".to_vec();
    while data.len() < len {
        data.extend_from_slice(b"MrPhoenixProtocol\0");
        data.extend((0..46).map(|_| rng.next() as u8));
    }
    data.truncate(len);
    data.into_iter()
}

fn item(elements: &[((u16, u16), VR, &str)]) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(
        elements.iter().map(|&((g, e), vr, value)| {
            DataElement::new(Tag(g, e), vr, PrimitiveValue::from(value))
        }),
    )
}

fn code_item(value: &str, scheme: &str, meaning: &str) -> InMemDicomObject {
    item(&[
        ((0x0008, 0x0100), VR::SH, value),
        ((0x0008, 0x0102), VR::SH, scheme),
        ((0x0008, 0x0104), VR::LO, meaning),
    ])
}

fn sequence(tag: (u16, u16), items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(Tag(tag.0, tag.1), VR::SQ, DataSetSequence::from(items))
}

/// A body-like disc in air with noise, 12 bits stored (CT numbers + 1024).
fn phantom(rng: &mut Rng, rows: u16, columns: u16) -> C<u16> {
    let (cy, cx) = (f64::from(rows) / 2.0, f64::from(columns) / 2.0);
    let radius2 = (cy.min(cx) * 0.8).powi(2);
    let mut noise = rng.next();
    (0..rows)
        .flat_map(|y| (0..columns).map(move |x| (y, x)))
        .map(|(y, x)| {
            noise ^= noise << 13;
            noise ^= noise >> 7;
            noise ^= noise << 17;
            let jitter = (noise & 0x3F) as u16;
            let (dy, dx) = (f64::from(y) - cy, f64::from(x) - cx);
            if dy * dy + dx * dx < radius2 {
                1024 + 20 + jitter
            } else {
                jitter / 4
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Non-DICOM files that real exports carry along.

fn write_junk(root: &Path, junk: &Junk, seed: u64) -> Result<()> {
    let mut rng = Rng::new(seed);
    let path = root.join(&junk.path);
    create_parent(&path)?;
    let mut file = fs::File::create(&path).with_context(|| format!("{}", path.display()))?;
    match junk.kind {
        JunkKind::Notes => writeln!(
            file,
            "Exported by PACS01. Burned CD contents. Do not distribute.\r\nStudy notes: none."
        )?,
        JunkKind::Thumbs => {
            let data: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
            file.write_all(&data)?;
        }
        JunkKind::DicomDirLike => {
            // Looks like a broken directory record file; not DICOM.
            file.write_all(b"DICOMDIR index v2\n")?;
            let data: Vec<u8> = (0..1024).map(|_| rng.next() as u8).collect();
            file.write_all(&data)?;
        }
        JunkKind::Lock => {}
    }
    Ok(())
}

fn create_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    Ok(())
}
