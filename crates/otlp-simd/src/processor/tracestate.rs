//! W3C `tracestate` with its OpenTelemetry `ot` member, parsed and written
//! back as the Collector's `pkg/sampling` does (so the same input gives the
//! same output and the same errors).

use crate::threshold::{MASK56, NEVER_SAMPLE};

/// Why a tracestate was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TsError {
    Size,
    Syntax,
    RValue,
    TValue,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TraceState {
    /// `rv`: 14 hex digits and its value.
    pub rv: Option<(String, u64)>,
    /// `th`: its text and the threshold.
    pub th: Option<(String, u64)>,
    /// Other `ot` sub-keys, in order.
    pub ot_extra: Vec<(String, String)>,
    /// Other vendors' members, in order.
    pub others: Vec<(String, String)>,
}

fn lc_alpha(c: u8) -> bool {
    c.is_ascii_lowercase()
}

fn key_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'*' | b'/')
}

fn key_ok(key: &str) -> bool {
    let k = key.as_bytes();
    match key.find('@') {
        Some(at) => {
            let (t, s) = (&k[..at], &k[at + 1..]);
            !t.is_empty()
                && !s.is_empty()
                && (lc_alpha(t[0]) || t[0].is_ascii_digit())
                && lc_alpha(s[0])
                && t[1..].iter().all(|&c| key_char(c))
                && s[1..].iter().all(|&c| key_char(c))
        }
        None => !k.is_empty() && lc_alpha(k[0]) && k[1..].iter().all(|&c| key_char(c)),
    }
}

fn nonblank(c: u8) -> bool {
    matches!(c, 0x21..=0x2b | 0x2d..=0x3c | 0x3e..=0x7e)
}

fn value_ok(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 256
        && nonblank(b[b.len() - 1])
        && b[..b.len() - 1].iter().all(|&c| c == b' ' || nonblank(c))
}

fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// 14 lower-case hex digits.
pub(crate) fn hex14(v: u64) -> String {
    format!("{v:014x}")
}

/// The `th` text of a threshold: 14 digits less trailing zeros, `0` for
/// always-sample.
pub(crate) fn tvalue(th: u64) -> String {
    if th == 0 {
        return "0".to_owned();
    }
    hex14(th).trim_end_matches('0').to_owned()
}

fn parse_hex(s: &str) -> Option<u64> {
    // Go's strconv.ParseUint(s, 16, 64): hex digits of either case, no sign.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// An r-value: exactly 14 hex digits (the Collector's `RValueToRandomness`).
pub(crate) fn parse_rvalue(s: &str) -> Option<u64> {
    (s.len() == 14).then(|| parse_hex(s)).flatten()
}

/// A t-value: 1 to 14 hex digits, trailing zeros left out (the
/// Collector's `TValueToThreshold`).
pub(crate) fn parse_tvalue(s: &str) -> Option<u64> {
    (s.len() <= 14)
        .then(|| parse_hex(s))
        .flatten()
        .map(|t| t << (4 * (14 - s.len())))
}

fn parse_ot(v: &str, ts: &mut TraceState) -> Result<(), TsError> {
    if v.len() > 256 {
        return Err(TsError::Size);
    }
    // ^key:value(;key:value)*$, key = [a-z][a-z0-9]*, value = [a-zA-Z0-9._-]*
    for member in v.split(';') {
        let Some((k, val)) = member.split_once(':') else {
            return Err(TsError::Syntax);
        };
        let kb = k.as_bytes();
        if kb.is_empty()
            || !lc_alpha(kb[0])
            || !kb[1..]
                .iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            || !val
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
        {
            return Err(TsError::Syntax);
        }
    }
    let mut err = None;
    for member in v.split(';') {
        let (k, val) = member.split_once(':').unwrap_or((member, ""));
        match k {
            "rv" => match parse_rvalue(val) {
                Some(r) => ts.rv = Some((val.to_owned(), r & MASK56)),
                None => {
                    ts.rv = None;
                    err.get_or_insert(TsError::RValue);
                }
            },
            "th" => match parse_tvalue(val) {
                Some(t) => ts.th = Some((val.to_owned(), t)),
                None => {
                    ts.th = None;
                    err.get_or_insert(TsError::TValue);
                }
            },
            _ => ts.ot_extra.push((k.to_owned(), val.to_owned())),
        }
    }
    err.map_or(Ok(()), Err)
}

impl TraceState {
    /// Parses a W3C tracestate header value.
    pub(crate) fn parse(input: &str) -> Result<TraceState, TsError> {
        let (ts, err) = TraceState::parse_partial(input);
        err.map_or(Ok(ts), Err)
    }

    /// [`parse`](Self::parse), with what the Collector's parser keeps of
    /// an erroneous value (its `NewW3CTraceState`): nothing when the whole
    /// is too long or malformed; else the members read before a 32nd,
    /// less those too long and the `ot` values (`rv`, `th`) that do not
    /// parse.
    pub(crate) fn parse_partial(input: &str) -> (TraceState, Option<TsError>) {
        let mut ts = TraceState::default();
        if input.is_empty() {
            return (ts, None);
        }
        if input.len() > 1024 {
            return (ts, Some(TsError::Size));
        }
        for member in input.split(',') {
            let m = trim_ows(member);
            if m.is_empty() {
                continue;
            }
            let valid = m
                .find('=')
                .filter(|&eq| eq >= 1 && key_ok(&m[..eq]) && value_ok(&m[eq + 1..]));
            if valid.is_none() {
                return (ts, Some(TsError::Syntax));
            }
        }
        let mut items = 0;
        let mut err = None;
        let mut rest = input;
        // The Collector's scanner: a trailing separator ends the list
        // without a member of its own; empty members count.
        while !rest.is_empty() {
            items += 1;
            if items >= 32 {
                return (ts, Some(TsError::Size));
            }
            let member = match rest.split_once(',') {
                Some((m, r)) => {
                    rest = r;
                    m
                }
                None => std::mem::take(&mut rest),
            };
            let m = trim_ows(member);
            let Some((k, v)) = m.split_once('=') else {
                continue;
            };
            if k.len() > 256 {
                err.get_or_insert(TsError::Size);
                continue;
            }
            if let Some((t, s)) = k.split_once('@') {
                if t.len() > 241 || s.len() > 14 {
                    err.get_or_insert(TsError::Size);
                    continue;
                }
            }
            if k == "ot" {
                let mut fresh = TraceState::default();
                if let Err(e) = parse_ot(v, &mut fresh) {
                    err.get_or_insert(e);
                }
                ts.rv = fresh.rv;
                ts.th = fresh.th;
                ts.ot_extra = fresh.ot_extra;
            } else {
                ts.others.push((k.to_owned(), v.to_owned()));
            }
        }
        (ts, err)
    }

    /// Writes it back: `ot=` first (rv, th, then other sub-keys), then the
    /// other vendors in their order.
    pub(crate) fn serialize(&self) -> String {
        let mut ot = Vec::new();
        if let Some((s, _)) = &self.rv {
            ot.push(format!("rv:{s}"));
        }
        if let Some((s, _)) = &self.th {
            ot.push(format!("th:{s}"));
        }
        for (k, v) in &self.ot_extra {
            ot.push(format!("{k}:{v}"));
        }
        let mut out = Vec::new();
        if !ot.is_empty() {
            out.push(format!("ot={}", ot.join(";")));
        }
        for (k, v) in &self.others {
            out.push(format!("{k}={v}"));
        }
        out.join(",")
    }

    /// Sets `th` unless that would raise the sampling probability of a
    /// threshold already there (the Collector's `UpdateTValueWithSampling`).
    pub(crate) fn update_threshold(&mut self, th: u64) {
        debug_assert!(th < NEVER_SAMPLE);
        if let Some((_, old)) = self.th {
            if old > th {
                return;
            }
        }
        self.th = Some((tvalue(th), th));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_back() {
        let ts = TraceState::parse("vendor=x , ot=th:c;rv:0123456789abcd;foo:bar,b@a=1").unwrap();
        assert_eq!(ts.th, Some(("c".into(), 0xc0000000000000)));
        assert_eq!(ts.rv.as_ref().map(|r| r.1), Some(0x0123456789abcd));
        assert_eq!(
            ts.serialize(),
            "ot=rv:0123456789abcd;th:c;foo:bar,vendor=x,b@a=1"
        );
        assert_eq!(
            TraceState::parse("ot=th:123456789abcdef"),
            Err(TsError::TValue)
        );
        assert_eq!(TraceState::parse("ot=rv:abc"), Err(TsError::RValue));
        assert_eq!(TraceState::parse("Bad=1"), Err(TsError::Syntax));
        assert_eq!(TraceState::parse("ot=th;x"), Err(TsError::Syntax));
        assert_eq!(tvalue(0), "0");
        assert_eq!(tvalue(0x80000000000000), "8");
        assert_eq!(tvalue(0xfff00000000000), "fff");
    }
}
