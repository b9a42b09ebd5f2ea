//! Writes the built-in PS3.15 profiles from Table E.1-1:
//!
//!     cargo run --example ps315_profiles [-- TABLE.csv EDITION]
//!
//! Without arguments it reads `reference/ps3.15-e1-1.csv` (the edition the
//! tool ships). For a new edition of the standard, replace that file (see
//! `reference/README.md`), set `EDITION` in src/profile/ps315/mod.rs, run
//! this, and review the diff of `profiles/`.

use std::path::Path;

use dicommanager::profile::ps315::{self, Addition, EDITION};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (text, edition) = match args.as_slice() {
        [] => (ps315::TABLE_E1_1.to_string(), EDITION.to_string()),
        [path, edition] => (std::fs::read_to_string(path)?, edition.clone()),
        _ => return Err("usage: ps315_profiles [TABLE.csv EDITION]".into()),
    };
    let rows = ps315::parse(&text)?;
    let profiles_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    for profile in ps315::generate(&rows, &edition) {
        let path = profiles_dir.join(format!("{}.toml", profile.name));
        std::fs::write(&path, profile.text)?;
        println!("wrote {}", path.display());
    }
    report_additions(&rows);
    Ok(())
}

/// Lists what the profiles handle although the table does not list it:
/// the part of the profile a reviewer should read.
fn report_additions(rows: &[ps315::Row]) {
    let additions = ps315::additions(rows);
    for kind in [
        Addition::IdentityGroup,
        Addition::IdentityGroupException,
        Addition::IdentityGroupCoded,
        Addition::IdentityGroupRequired,
        Addition::Date,
        Addition::FreeText,
        Addition::SourceLayout,
    ] {
        let names: Vec<&str> = additions
            .iter()
            .filter(|a| a.3 == kind)
            .map(|a| a.1)
            .collect();
        println!(
            "\n{kind:?}: {} attributes not in the table\n  {}",
            names.len(),
            names.join(" ")
        );
    }
}
