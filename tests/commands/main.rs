//! End-to-end tests of `metadata`, `splitby` and `export`: the real binary
//! run on fixtures built in code, and (when `DICOMMANAGER_CORPUS` points at
//! the shared corpus) over every corpus file, compared with DCMTK.

mod harness;

mod corpus;
mod export;
mod metadata;
mod splitby;
