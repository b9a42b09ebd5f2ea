//! TCIA's de-identification practice as data: its Private Tag Knowledge
//! Base ([`kb`]) and its dispositions for standard attributes, from which
//! the built-in `tcia` profile is generated.

pub mod generate;
pub mod kb;
mod kb_csv;
