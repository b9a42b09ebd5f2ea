//! End-to-end tests: the real `dicommanager` binary run on fixtures.

mod anomize;
mod commands;
mod corpus;
mod integrity;
mod ps315;
mod registry;
mod reliability;
mod stages;
mod util;
mod verify;
