//! What both fuzz targets de-identify with: the PS3.15 profile with
//! modified dates and cleaned descriptors, so that every kind of action
//! runs (remove, blank, dummy, keyed UIDs, date shifts, cleaning, the
//! stamp).

use std::sync::LazyLock;

use dicommanager::rules::{FileContext, Identifiers, RuleSet};

pub static RULES: LazyLock<RuleSet> = LazyLock::new(|| {
    let layers = [
        "ps3.15-basic",
        "retain-long-modified-dates",
        "clean-descriptors",
    ];
    RuleSet::load(&layers.map(String::from)).expect("the built-in profiles compile")
});

pub fn context() -> FileContext<'static> {
    FileContext {
        patient_index: 7,
        secret: b"fuzz",
        date_shift_days: -1000,
        identifiers: Identifiers::none(),
    }
}
