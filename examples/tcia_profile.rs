//! Writes the built-in `tcia` profile from TCIA's dispositions:
//!
//!     cargo run --example tcia_profile
//!
//! It reads `reference/tcia/deid-dispositions.json` (as compiled into the
//! tool); for a new edition, replace that file (and the knowledge base,
//! see `reference/README.md`), run this, and review the diff of
//! `profiles/tcia.toml`.

use std::path::Path;

use dicommanager::profile::tcia::generate::{self, DISPOSITIONS, PROFILE};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listed = generate::parse(DISPOSITIONS)?;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("profiles")
        .join(format!("{PROFILE}.toml"));
    std::fs::write(&path, generate::generate(&listed))?;
    println!(
        "wrote {} ({} attributes listed by TCIA)",
        path.display(),
        listed.len()
    );
    Ok(())
}
