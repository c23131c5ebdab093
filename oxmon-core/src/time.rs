//! Time in oxmon: milliseconds since the Unix epoch (`i64`) everywhere, from
//! a [`Clock`](crate::Clock). The constants and conversions every crate
//! shares are defined here, once.

/// Milliseconds in one UTC day, the width of a storage partition.
pub const DAY_MS: i64 = 86_400_000;

/// Seconds (from configuration) as milliseconds, saturating at `i64::MAX`.
pub fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// The days from `from_ms` to `to_ms`, fractional (negative when `to_ms`
/// is earlier).
pub fn days_between(from_ms: i64, to_ms: i64) -> f64 {
    to_ms.saturating_sub(from_ms) as f64 / DAY_MS as f64
}

/// A time as RFC 3339 UTC with its milliseconds when it has any
/// (`2026-02-08T10:00:00Z`, `2026-02-08T10:00:00.25Z`): the REST API's form.
/// A time outside what RFC 3339 can write is given as the epoch.
pub fn rfc3339(ms: i64) -> String {
    let mut out = Vec::with_capacity(24);
    Rfc3339Writer::default().write(&mut out, ms);
    // Only ASCII is written.
    String::from_utf8(out).unwrap_or_default()
}

/// The last millisecond of the own formatter, 9999-12-29T23:59:59.999Z
/// (later ones, near the end of what jiff can write, go to jiff).
const LAST_WRITABLE_MS: i64 = 253_402_127_999_999;

/// The first millisecond of year 0000.
const YEAR_0000_START_MS: i64 = -62_167_219_200_000;

/// Writes times as [`rfc3339`] does, straight into a byte buffer, without
/// allocating for years 0000 to 9999, and remembering the date of the
/// last day written: a long response of points (8,640 for a day at 10 s)
/// formats a timestamp per point.
#[derive(Debug, Clone, Default)]
pub struct Rfc3339Writer {
    /// The day (since the epoch) whose `YYYY-MM-DD` is in `date`.
    day: Option<i64>,
    date: [u8; 10],
}

/// `00` to `99`.
const TWO_DIGITS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

fn two_digits(v: i64) -> [u8; 2] {
    let i = (v.rem_euclid(100) * 2) as usize;
    [TWO_DIGITS[i], TWO_DIGITS[i + 1]]
}

impl Rfc3339Writer {
    /// Appends `ms` as [`rfc3339`] writes it.
    pub fn write(&mut self, out: &mut Vec<u8>, ms: i64) {
        if !(YEAR_0000_START_MS..=LAST_WRITABLE_MS).contains(&ms) {
            let t = jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            out.extend_from_slice(t.to_string().as_bytes());
            return;
        }
        let day = ms.div_euclid(DAY_MS);
        if self.day != Some(day) {
            let (y, m, d) = civil_from_days(day);
            let [a, b] = two_digits(y / 100);
            let [c, e] = two_digits(y);
            let [m1, m2] = two_digits(m);
            let [d1, d2] = two_digits(d);
            self.date = [a, b, c, e, b'-', m1, m2, b'-', d1, d2];
            self.day = Some(day);
        }
        let in_day = ms.rem_euclid(DAY_MS);
        let (secs, millis) = (in_day / 1000, in_day % 1000);
        let [h1, h2] = two_digits(secs / 3600);
        let [n1, n2] = two_digits(secs / 60 % 60);
        let [s1, s2] = two_digits(secs % 60);
        out.extend_from_slice(&self.date);
        out.extend_from_slice(&[b'T', h1, h2, b':', n1, n2, b':', s1, s2]);
        if millis != 0 {
            // Trailing zeros trimmed, as jiff writes fractions: .25, not .250.
            let [f2, f3] = two_digits(millis);
            let f = [b'.', b'0' + (millis / 100) as u8, f2, f3];
            let mut n = 4;
            while f[n - 1] == b'0' {
                n -= 1;
            }
            out.extend_from_slice(&f[..n]);
        }
        out.push(b'Z');
    }
}

/// (year, month, day) of the day `days` after 1970-01-01 (proleptic
/// Gregorian; Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A time as RFC 3339 UTC to the second (`2026-02-06T10:30:00Z`): the form
/// of notifications and alert messages. A time outside what RFC 3339 can
/// write is given as its number of milliseconds.
pub fn rfc3339_secs(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(secs_to_ms(90), 90_000);
        assert_eq!(secs_to_ms(u64::MAX), i64::MAX);
        assert_eq!(days_between(0, DAY_MS / 2), 0.5);
        assert_eq!(days_between(DAY_MS, 0), -1.0);
    }

    /// The own formatter writes what jiff writes, over the whole range and
    /// its edges (leap days, centuries, fractions).
    #[test]
    fn own_rfc3339_matches_jiff() {
        let jiff = |ms: i64| {
            jiff::Timestamp::from_millisecond(ms)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
                .to_string()
        };
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut cases: Vec<i64> = vec![
            0,
            -1,
            1,
            YEAR_0000_START_MS,
            YEAR_0000_START_MS - 1,
            LAST_WRITABLE_MS,
            LAST_WRITABLE_MS + 1,
            253_402_207_200_999,
            253_402_207_201_000,
            951_782_400_000,    // 2000-02-29
            4_107_542_400_000,  // 2100-03-01
            -2_203_891_200_000, // 1900-03-01
            1_770_544_800_250,
            1_770_544_800_001,
            1_770_544_800_100,
            i64::MIN,
            i64::MAX,
        ];
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let span = 2 * (LAST_WRITABLE_MS as u64) + 4;
            cases.push((state % span) as i64 - LAST_WRITABLE_MS - 2);
        }
        for &ms in &cases {
            assert_eq!(rfc3339(ms), jiff(ms), "{ms}");
        }
        // One writer over a series of times keeps the right date as days
        // change (and come back).
        cases.sort_unstable();
        cases.extend((0..3000).map(|i| 1_770_508_800_000 + i * 37_777));
        cases.push(1_770_508_800_000);
        let mut writer = Rfc3339Writer::default();
        for &ms in &cases {
            let mut out = Vec::new();
            writer.write(&mut out, ms);
            assert_eq!(String::from_utf8(out).unwrap(), jiff(ms), "{ms}");
        }
    }

    #[test]
    fn formats() {
        assert_eq!(rfc3339(1_770_544_800_000), "2026-02-08T10:00:00Z");
        assert_eq!(rfc3339(1_770_544_800_250), "2026-02-08T10:00:00.25Z");
        assert_eq!(rfc3339(i64::MAX), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_secs(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_secs(1_770_544_800_250), "2026-02-08T10:00:00Z");
        assert_eq!(rfc3339_secs(i64::MAX), i64::MAX.to_string());
    }
}
