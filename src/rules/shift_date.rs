//! `shift-date`: dates move by one keyed offset per patient, so intervals
//! between a patient's dates stay exact while the dates themselves are no
//! longer true (PS3.15 Retain Longitudinal Temporal Information with
//! Modified Dates).
//!
//! DA values and the date part of DT values move; times, time zones and
//! fractions stay. A value that is not a date becomes a dummy date
//! (1900-01-01) moved by the same offset: a date the tool cannot read is a
//! date it cannot shift, and it must not stay as it was; nor may a date the
//! source had come out empty.

use std::sync::Arc;

use dicom_core::VR;

use super::hash::hmac;
use super::{ActionDef, ElementValue, FileContext, Rule, RuleError};

pub const ACTION: ActionDef = ActionDef {
    name: "shift-date",
    summary: "move the date back by the patient's keyed offset (key: DICOMMANAGER_SECRET); times are kept",
    takes_value: false,
    fits,
    fits_description: "dates and date-times (DA DT)",
    build: |_| Arc::new(ShiftDate),
};

fn fits(vr: VR) -> bool {
    matches!(vr, VR::DA | VR::DT)
}

/// Offsets lie between one and eleven years back: never zero, and wide
/// enough that a shifted date does not give the true one away.
const MIN_SHIFT_DAYS: u32 = 365;
const SHIFT_RANGE_DAYS: u32 = 3653;

/// The offset of one patient's dates, in days (negative: into the past).
/// The same patient ID and secret always give the same offset.
pub fn date_shift_days(secret: &[u8], patient_id: &str) -> i32 {
    let digest = hmac(secret, "date-shift", patient_id.as_bytes());
    let draw = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    let days = MIN_SHIFT_DAYS + draw % SHIFT_RANGE_DAYS;
    -i32::try_from(days).unwrap_or(i32::MAX)
}

#[derive(Debug)]
struct ShiftDate;

impl Rule for ShiftDate {
    fn action(&self) -> &'static ActionDef {
        &ACTION
    }

    fn rewrite(
        &self,
        element: &ElementValue<'_>,
        file: &FileContext<'_>,
    ) -> Result<Vec<u8>, RuleError> {
        let text = String::from_utf8_lossy(element.bytes);
        Ok(shift_values(&text, element.vr, file.date_shift_days).into_bytes())
    }

    fn uses_secret(&self) -> bool {
        true
    }

    fn needs_date_shift(&self) -> bool {
        true
    }
}

/// The dummy an unreadable date becomes (before it is shifted).
const DUMMY_DATE: &str = "19000101";

/// Shifts every value of a DA (or, for `VR::DT`, DT) element; a value that
/// is not a date becomes the shifted dummy date, an empty one stays empty.
pub(crate) fn shift_values(text: &str, vr: VR, days: i32) -> String {
    let shifted: Vec<String> = text
        .split('\\')
        .map(|value| value.trim_matches([' ', '\0']))
        .map(|value| {
            let shifted = match vr {
                VR::DT => separated_date(value)
                    .map(|date| date.add_days(days).to_da())
                    .or_else(|| shift_dt(value, days)),
                _ => shift_da(value, days),
            };
            shifted.unwrap_or_else(|| shift_da(DUMMY_DATE, days).unwrap_or_default())
        })
        .collect();
    shifted.join("\\")
}

/// Shifts one DA value (`YYYYMMDD`, the ACR-NEMA `YYYY.MM.DD`, `YYYY-MM-DD`
/// or `YYYY/MM/DD` as private attributes write it, or a range); an empty
/// value stays empty.
fn shift_da(value: &str, days: i32) -> Option<String> {
    if value.is_empty() {
        return Some(String::new());
    }
    if let Some(date) = separated_date(value) {
        return Some(date.add_days(days).to_da());
    }
    if let Some((from, to)) = value.split_once('-') {
        let from = shift_da(from, days)?;
        let to = shift_da(to, days)?;
        return Some(format!("{from}-{to}"));
    }
    let compact: String = value.chars().filter(|c| *c != '.').collect();
    let date = Date::parse(&compact)?;
    Some(date.add_days(days).to_da())
}

/// `YYYY-MM-DD` or `YYYY/MM/DD`.
fn separated_date(value: &str) -> Option<Date> {
    let bytes = value.as_bytes();
    let separated = bytes.len() == 10 && bytes[4] == bytes[7] && matches!(bytes[4], b'-' | b'/');
    if !separated {
        return None;
    }
    Date::parse(&format!("{}{}{}", &value[..4], &value[5..7], &value[8..]))
}

/// Shifts the date part of one DT value, keeping its precision and the
/// time, fraction and offset that follow.
fn shift_dt(value: &str, days: i32) -> Option<String> {
    if value.is_empty() {
        return Some(String::new());
    }
    let digits = value.bytes().take_while(u8::is_ascii_digit).count();
    let (date_part, rest) = value.split_at(digits.min(8));
    let precision = date_part.len();
    let padded = match precision {
        4 => format!("{date_part}0101"),
        6 => format!("{date_part}01"),
        8 => date_part.to_string(),
        _ => return None,
    };
    let shifted = Date::parse(&padded)?.add_days(days).to_da();
    Some(format!("{}{rest}", &shifted[..precision]))
}

/// A day of the proleptic Gregorian calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Date {
    year: i64,
    month: u32,
    day: u32,
}

impl Date {
    fn parse(text: &str) -> Option<Date> {
        if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year = text[..4].parse().ok()?;
        let month = text[4..6].parse().ok()?;
        let day = text[6..].parse().ok()?;
        let date = Date { year, month, day };
        ((1..=12).contains(&month) && day >= 1 && day <= date.days_in_month()).then_some(date)
    }

    fn days_in_month(&self) -> u32 {
        match self.month {
            2 if self.is_leap_year() => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    fn is_leap_year(&self) -> bool {
        (self.year % 4 == 0 && self.year % 100 != 0) || self.year % 400 == 0
    }

    fn add_days(self, days: i32) -> Date {
        Date::from_days(self.to_days() + i64::from(days))
    }

    fn to_da(self) -> String {
        // Years before 0001 cannot be written; real dates never get there.
        format!(
            "{:04}{:02}{:02}",
            self.year.clamp(1, 9999),
            self.month,
            self.day
        )
    }

    /// Days since 1970-01-01 (H. Hinnant's `days_from_civil`).
    fn to_days(self) -> i64 {
        let year = if self.month <= 2 {
            self.year - 1
        } else {
            self.year
        };
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month = i64::from(self.month);
        let day_of_year =
            (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// The inverse of [`Date::to_days`] (`civil_from_days`).
    fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let mp = (5 * day_of_year + 2) / 153;
        let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        Date { year, month, day }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::run_action_with;

    fn shift(vr: VR, value: &[u8], days: i32) -> String {
        let out = run_action_with(&ACTION, vr, value, |file| file.date_shift_days = days).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn dates_move_across_months_years_and_leap_days() {
        assert_eq!(shift(VR::DA, b"20240301", -1), "20240229");
        assert_eq!(shift(VR::DA, b"20230301", -1), "20230228");
        assert_eq!(shift(VR::DA, b"20000101", -1), "19991231");
        assert_eq!(shift(VR::DA, b"19000301", -1), "19000228");
        assert_eq!(shift(VR::DA, b"20200115", -400), "20181211");
    }

    #[test]
    fn every_day_round_trips_through_the_day_count() {
        let mut date = Date {
            year: 1890,
            month: 1,
            day: 1,
        };
        let mut days = date.to_days();
        while date.year < 2110 {
            assert_eq!(Date::from_days(days), date);
            date = date.add_days(1);
            days += 1;
            assert_eq!(date.to_days(), days);
        }
    }

    #[test]
    fn multiple_values_ranges_and_old_style_dates() {
        assert_eq!(
            shift(VR::DA, b"20240301\\20240302", -1),
            "20240229\\20240301"
        );
        assert_eq!(shift(VR::DA, b"20240301-20240302", -1), "20240229-20240301");
        assert_eq!(shift(VR::DA, b"2024.03.01", -1), "20240229");
        assert_eq!(shift(VR::DA, b"", -1), "");
    }

    #[test]
    fn date_times_keep_time_fraction_offset_and_precision() {
        assert_eq!(
            shift(VR::DT, b"20240301123000.123456+0100 ", -1),
            "20240229123000.123456+0100"
        );
        assert_eq!(shift(VR::DT, b"202403", -1), "202402");
        assert_eq!(shift(VR::DT, b"2024", -1), "2023");
    }

    #[test]
    fn what_is_not_a_date_becomes_a_shifted_dummy_never_itself_nor_empty() {
        assert_eq!(shift(VR::DA, b"20241301", -1), "18991231");
        assert_eq!(shift(VR::DA, b"yesterday", -1), "18991231");
        assert_eq!(shift(VR::DT, b"20240", -1), "18991231");
        assert_eq!(shift(VR::DA, b"20240301\\junk", -1), "20240229\\18991231");
    }

    #[test]
    fn separated_dates_as_private_attributes_write_them() {
        assert_eq!(shift(VR::DA, b"2024-03-01", -1), "20240229");
        assert_eq!(shift(VR::DA, b"2024/03/01", -1), "20240229");
    }

    #[test]
    fn offsets_are_per_patient_keyed_and_never_small() {
        let a = date_shift_days(b"secret", "PAT-1");
        assert_eq!(a, date_shift_days(b"secret", "PAT-1"));
        assert_ne!(a, date_shift_days(b"other secret", "PAT-1"));
        let spread: std::collections::HashSet<i32> = (0..50)
            .map(|i| date_shift_days(b"secret", &format!("PAT-{i}")))
            .collect();
        assert!(spread.len() > 40, "{spread:?}");
        assert!(spread.iter().all(|d| (-4018..=-365).contains(d)));
    }
}
