//! `keep`: the element stays as it is (inside a sequence, the rules still
//! apply to the items).

use std::sync::Arc;

use dicom_core::VR;

use super::{ActionDef, Disposition, Rule};

pub const ACTION: ActionDef = ActionDef {
    name: "keep",
    summary: "leave the attribute as it is (rules still apply inside a kept sequence)",
    takes_value: false,
    fits: |_| true,
    fits_description: "every VR",
    build: |_| Arc::new(Keep),
};

#[derive(Debug)]
struct Keep;

impl Rule for Keep {
    fn action(&self) -> &'static ActionDef {
        &ACTION
    }

    fn disposition(&self, _: VR) -> Disposition {
        Disposition::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_keeps() {
        assert_eq!((ACTION.build)(None).disposition(VR::LO), Disposition::Keep);
    }
}
