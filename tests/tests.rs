//! End-to-end tests: the real `dicommanager` binary run on fixtures.

mod accounting;
mod anomize;
mod commands;
mod corpus;
mod dicomdir;
mod integrity;
mod iod;
mod ps315;
mod registry;
mod reliability;
mod stages;
mod tcia;
mod util;
mod verify;
