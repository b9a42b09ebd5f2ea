//! End-to-end tests of `metadata`, `splitby` and `export`: the real binary
//! run on fixtures built in code, and (when the developer corpus is found) over every corpus file, compared with DCMTK.

mod harness;

mod corpus;
mod export;
mod metadata;
mod splitby;
