//! `remove`: the element is left out of the output, sequences with all their items.

use std::sync::Arc;

use dicom_core::VR;

use super::{ActionDef, Disposition, Rule};

pub const ACTION: ActionDef = ActionDef {
    name: "remove",
    summary: "leave the attribute out of the output (a sequence goes with all its items)",
    takes_value: false,
    fits: |_| true,
    fits_description: "every VR",
    build: |_| Arc::new(Remove),
};

#[derive(Debug)]
struct Remove;

impl Rule for Remove {
    fn action(&self) -> &'static ActionDef {
        &ACTION
    }

    fn disposition(&self, _: VR) -> Disposition {
        Disposition::Remove
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_removes() {
        assert_eq!(
            (ACTION.build)(None).disposition(VR::LO),
            Disposition::Remove
        );
    }
}
