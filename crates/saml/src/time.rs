//! `xs:dateTime` (XML Schema Part 2 §3.2.7), as SAML core §1.3.3 uses it for every
//! time value, read into Unix seconds.

use tollgate_core::clock::days_from_civil;

/// `YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)?`. SAML requires UTC; a value without a
/// zone is read as UTC (as SAML intends), a numeric offset is applied. The fraction is
/// dropped (the checks work in whole seconds). `None` for anything else, including
/// out-of-range fields and years before 1970 or after 9999.
pub(crate) fn parse_xs_date_time(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    if sep(i, b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match b.get(i..)? {
        [] | [b'Z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 14 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let (month, day) = (u32::try_from(month).ok()?, u32::try_from(day).ok()?);
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_xs_date_time as p;

    proptest::proptest! {
        #[test]
        fn reads_what_the_calendar_writes(t in 0i64..253_402_300_799) {
            let (y, mo, d, h, mi, s) = tollgate_core::clock::civil_from_unix(t).unwrap();
            let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z");
            proptest::prop_assert_eq!(p(&text), Some(t));
        }
    }

    #[test]
    fn reads_utc_fractions_and_offsets() {
        assert_eq!(p("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(p("2026-12-07T20:49:21Z"), Some(1_796_676_561));
        assert_eq!(p("2026-12-07T20:49:21.999Z"), Some(1_796_676_561));
        assert_eq!(p("2026-12-07T20:49:21"), Some(1_796_676_561));
        assert_eq!(p("2026-12-07T21:49:21+01:00"), Some(1_796_676_561));
        assert_eq!(p("2026-12-07T19:49:21-01:00"), Some(1_796_676_561));
        assert_eq!(p("2024-02-29T00:00:00Z"), Some(1_709_164_800));
    }

    #[test]
    fn refuses_what_is_not_a_date_time() {
        for s in [
            "",
            "2026-12-07",
            "2026-12-07 20:49:21Z",
            "2026-13-07T20:49:21Z",
            "2025-02-29T00:00:00Z",
            "2026-12-07T24:00:00Z",
            "2026-12-07T20:49:21.Z",
            "2026-12-07T20:49:21+0100",
            "2026-12-07T20:49:21Zjunk",
            "+2026-12-07T20:49:21Z",
            "1969-12-31T23:59:59Z",
            "２026-12-07T20:49:21Z",
        ] {
            assert_eq!(p(s), None, "{s}");
        }
    }
}
