//! `xs:dateTime` (XML Schema Part 2 §3.2.7), as SAML core §1.3.3 uses it for every
//! time value, read into Unix seconds.

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

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day, seconds into the day) of a Unix time, for years 1970–9999.
pub(crate) fn civil_from_unix(now: i64) -> Option<(i64, i64, i64, i64)> {
    let days = now.div_euclid(86_400);
    let secs = now.rem_euclid(86_400);
    // The inverse of `days_from_civil` (same source).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (1970..=9999)
        .contains(&year)
        .then_some((year, month, day, secs))
}

#[cfg(test)]
mod tests {
    use super::parse_xs_date_time as p;

    proptest::proptest! {
        #[test]
        fn civil_round_trips(t in 0i64..253_402_300_799) {
            let (y, mo, d, s) = super::civil_from_unix(t).unwrap();
            let text = format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s % 3600 / 60, s % 60);
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
