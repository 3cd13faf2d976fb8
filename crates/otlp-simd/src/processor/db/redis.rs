//! Redis / Valkey command obfuscation for the redaction processor's
//! `db_sanitizer`.
//!
//! This is a byte-for-byte port of `(*Obfuscator).ObfuscateRedisString` from
//! datadog-agent `pkg/obfuscate` (`redis.go` and its tokenizer
//! `redis_tokenizer.go`, version
//! `v0.77.0-devel.0.20260213154712-e02b9359151a`), as the OpenTelemetry
//! Collector's redaction processor (v0.165.0, `internal/db`) calls it for both
//! Redis and Valkey. The Collector configures the obfuscator with
//! `RemoveAllArgs: true`, but `ObfuscateRedisString` ignores that setting (it
//! only affects `RemoveAllRedisArgs`, which the processor does not call), so it
//! is not ported.
//!
//! License attribution: the original Go code is licensed under the Apache
//! License Version 2.0. Its source file header reads: "Unless explicitly stated
//! otherwise all files in this repository are licensed under the Apache License
//! Version 2.0. This product includes software developed at Datadog
//! (<https://www.datadoghq.com/>). Copyright 2016-present Datadog, Inc."
//!
//! # What it does
//!
//! The input is split into commands (one per line) and each command into a
//! command word and arguments. Depending on the (case-insensitive) command
//! name, some arguments are replaced by `?` (for example `SET key value`
//! becomes `SET key ?`, `AUTH secret` becomes `AUTH ?`). Commands are
//! re-joined with `\n`, arguments with a single space. Unknown commands are
//! kept as they are (re-spaced).
//!
//! # Go behaviour kept on purpose
//!
//! The port reproduces the Go output exactly, including these quirks:
//!
//! * The input is first trimmed at both ends with Go's `unicode.IsSpace`
//!   (ASCII `\t \n \v \f \r` and space, plus U+0085, U+00A0, U+1680,
//!   U+2000..=U+200A, U+2028, U+2029, U+202F, U+205F, U+3000). Inside the
//!   input only `\n` separates commands and only `' '` separates tokens; tabs
//!   and `\r` are skipped only when they follow a space. So `"SET\tk v"` has
//!   the command word `"SET\tk"`, and `"GET k\r\nGET j"` keeps the `\r` in the
//!   argument `"k\r"`.
//! * Only `"` starts/ends a quoted argument (single quotes are ordinary
//!   bytes). Inside quotes spaces and newlines belong to the argument; a
//!   backslash only stops the next `"` from toggling the quoted mode. Quotes
//!   and backslashes are kept verbatim. An unterminated quote swallows the rest
//!   of the input, newlines included, into one argument. Quotes in the command
//!   word are not special.
//! * A blank line (`"a\n\nb"`) is dropped. A line made only of spaces is
//!   different: the tokenizer then reads the *next* line's command word as an
//!   argument of an empty command, which is printed as `" b c"`
//!   (`"a\n  \n  b c"` gives `"a\n b c"`), and if yet another line follows,
//!   that empty command and its arguments are dropped without output.
//! * Command names are compared after Go's `strings.ToUpper`, which uses the
//!   simple Unicode case mapping: `ı` (U+0131) upper-cases to `I` and `ſ`
//!   (U+017F) to `S` (so `"ſet k v"` gives `"ſet k ?"`), while ligatures such
//!   as `ﬆ` do not expand (unlike Rust's `to_uppercase`).
//! * `ZADD` flags (`NX`, `XX`, `CH`, `INCR`) are matched case-sensitively.
//!   `BITFIELD` only obfuscates the value of the first `SET` sub-command found
//!   after the key (a `SET` in the key position is ignored).
//!   `CONFIG` only obfuscates `CONFIG SET parameter value` (`SET` in any case).
//! * The output keeps the original spelling of commands and arguments; `?`
//!   replaces whole arguments, quoted or not.
//!
//! # Bounds
//!
//! Time is linear in the input length. The output is never longer than the
//! input (in bytes): every token is copied from a distinct part of the input,
//! every separator written stands for at least one separator byte consumed,
//! and `?` only replaces non-empty arguments. The tests check
//! `output.len() <= input.len()`.

/// Replacement written in place of an obfuscated argument.
const REDACTED: &[u8] = b"?";

/// Obfuscates a Redis (or Valkey) command string, possibly holding several
/// commands on several lines, exactly like datadog-agent's
/// `ObfuscateRedisString`.
///
/// Never panics; runs in linear time; the result is never longer than
/// `command`.
pub fn obfuscate_redis(command: &str) -> String {
    let mut tokenizer = Tokenizer::new(go_trim_space(command).as_bytes());
    let mut out: Vec<u8> = Vec::with_capacity(command.len());
    let mut cmd: Vec<u8> = Vec::new();
    let mut args: Vec<Vec<u8>> = Vec::new();
    loop {
        let (tok, typ, done) = tokenizer.scan();
        match typ {
            TokenType::Command => {
                // A new command starts: a previous command was buffered, so
                // obfuscate it (an empty command is silently dropped).
                if !cmd.is_empty() {
                    obfuscate_cmd(&mut out, &cmd, &mut args);
                    out.push(b'\n');
                }
                cmd = tok;
                args.clear();
            }
            TokenType::Argument => args.push(tok),
        }
        if done {
            // Last command.
            obfuscate_cmd(&mut out, &cmd, &mut args);
            break;
        }
    }
    // Every token is a contiguous run of the (valid UTF-8) input cut only next
    // to ASCII bytes, and everything else written is ASCII, so this conversion
    // always succeeds; the lossy fallback only avoids a panic path.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Go's `bytes.TrimSpace` for valid UTF-8: trims `unicode.IsSpace` runes from
/// both ends.
fn go_trim_space(s: &str) -> &str {
    s.trim_matches(is_go_space)
}

/// Go's `unicode.IsSpace` (the full list, so it does not depend on the Rust
/// Unicode version).
fn is_go_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n'
            | '\u{0B}'
            | '\u{0C}'
            | '\r'
            | ' '
            | '\u{85}'
            | '\u{A0}'
            | '\u{1680}'
            | '\u{2000}'
            ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// Go's `strings.ToUpper(s)` when its result is pure ASCII, else `None`.
///
/// Go upper-cases rune by rune with the simple case mapping; the only
/// non-ASCII runes that map into ASCII are `ı` (U+0131, to `I`) and `ſ`
/// (U+017F, to `S`). Any other non-ASCII rune stays non-ASCII, so the result
/// can then never equal one of the ASCII command names we compare against.
fn go_upper_ascii(s: &[u8]) -> Option<Vec<u8>> {
    let mut upper = Vec::with_capacity(s.len());
    let mut rest = s;
    loop {
        rest = match rest {
            [] => return Some(upper),
            [0xC4, 0xB1, tail @ ..] => {
                upper.push(b'I');
                tail
            }
            [0xC5, 0xBF, tail @ ..] => {
                upper.push(b'S');
                tail
            }
            [b, tail @ ..] if b.is_ascii() => {
                upper.push(b.to_ascii_uppercase());
                tail
            }
            _ => return None,
        };
    }
}

/// Whether Go's `strings.ToUpper(s) == target` for an ASCII upper-case
/// `target`.
fn upper_eq(s: &[u8], target: &[u8]) -> bool {
    // Each matching rune yields one output byte from at least one input byte,
    // so a longer upper-case result needs a longer input; skip the allocation
    // for inputs that are far too long to match.
    s.len() <= 2 * target.len() && go_upper_ascii(s).as_deref() == Some(target)
}

/// Writes one command and its (partly obfuscated) arguments to `out`, like
/// Go's `obfuscateRedisCmd`. `args` is modified in place.
fn obfuscate_cmd(out: &mut Vec<u8>, cmd: &[u8], args: &mut [Vec<u8>]) {
    out.extend_from_slice(cmd);
    if args.is_empty() {
        return;
    }
    out.push(b' ');

    // Number of arguments written (AUTH and the GEOHASH group truncate).
    let mut keep = args.len();
    let upper = go_upper_ascii(cmd);
    match upper.as_deref() {
        Some(b"AUTH") => {
            // AUTH password: obfuscate everything after the command.
            redact(&mut args[..1], 0);
            keep = 1;
        }
        Some(
            b"APPEND" | b"GETSET" | b"LPUSHX" | b"GEORADIUSBYMEMBER" | b"RPUSHX" | b"SET"
            | b"SETNX" | b"SISMEMBER" | b"ZRANK" | b"ZREVRANK" | b"ZSCORE",
        ) => {
            // Obfuscate the 2nd argument (e.g. SET key value).
            redact(args, 1);
        }
        Some(
            b"HSETNX" | b"LREM" | b"LSET" | b"SETBIT" | b"SETEX" | b"PSETEX" | b"SETRANGE"
            | b"ZINCRBY" | b"SMOVE" | b"RESTORE",
        ) => {
            // Obfuscate the 3rd argument (e.g. SETEX key seconds value).
            redact(args, 2);
        }
        Some(b"LINSERT") => {
            // LINSERT key BEFORE|AFTER pivot value: the 4th argument.
            redact(args, 3);
        }
        Some(
            b"GEOHASH" | b"GEOPOS" | b"GEODIST" | b"LPUSH" | b"RPUSH" | b"SREM" | b"ZREM" | b"SADD",
        ) if args.len() > 1 => {
            // Obfuscate all arguments after the first one, written as one `?`.
            // (With a single argument the guard fails and the no-op arm runs.)
            redact(args, 1);
            keep = 2;
        }
        Some(b"GEOADD") => {
            // GEOADD key longitude latitude member [...]: every member.
            redact_step(args, 1, 3);
        }
        Some(b"HSET" | b"HMSET") => {
            // HSET key field value [field value ...]: every value.
            redact_step(args, 1, 2);
        }
        Some(b"MSET" | b"MSETNX") => {
            // MSET key value [key value ...]: every value.
            redact_step(args, 0, 2);
        }
        Some(b"CONFIG") if args.first().is_some_and(|a| upper_eq(a, b"SET")) => {
            // CONFIG SET parameter value (other sub-commands reach the no-op
            // arm).
            redact(args, 2);
        }
        Some(b"BITFIELD") => {
            // BITFIELD key [SET type offset value] ...: the value of the first
            // SET found after position 0.
            let mut n = 0;
            for i in 0..args.len() {
                if upper_eq(&args[i], b"SET") {
                    n = i;
                }
                if n > 0 && i - n == 3 {
                    redact(args, i);
                    break;
                }
            }
        }
        Some(b"ZADD") => {
            // ZADD key [NX|XX] [CH] [INCR] score member [score member ...]:
            // every member after the optional (case-sensitive) flags. As in Go,
            // `i` ends on the last index when only flags follow the key.
            let mut i = 0;
            for (j, arg) in args.iter().enumerate() {
                i = j;
                if j == 0 {
                    continue; // key
                }
                if !matches!(arg.as_slice(), b"NX" | b"XX" | b"CH" | b"INCR") {
                    break;
                }
            }
            redact_step(args, i, 2);
        }
        _ => {
            // Obfuscate nothing.
        }
    }

    for (i, arg) in args.iter().take(keep).enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(arg);
    }
}

/// Replaces `args[n]` with `?` if it exists (Go's `obfuscateRedisArgN`).
fn redact(args: &mut [Vec<u8>], n: usize) {
    if let Some(arg) = args.get_mut(n) {
        arg.clear();
        arg.extend_from_slice(REDACTED);
    }
}

/// Replaces every `step`-th argument starting at `start + step - 1` with `?`
/// (Go's `obfuscateRedisArgsStep`; `step` is never 0).
fn redact_step(args: &mut [Vec<u8>], start: usize, step: usize) {
    let mut i = start + step - 1;
    while i < args.len() {
        redact(args, i);
        i += step;
    }
}

/// Kind of a token returned by [`Tokenizer::scan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TokenType {
    /// A command word (only the first word of compound commands).
    Command,
    /// An argument of the current command.
    Argument,
}

/// What the tokenizer is about to parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// A command: at the start or after a new line.
    Command,
    /// An argument.
    Argument,
}

/// Port of Go's `redisTokenizer`: splits a (possibly multi-line) Redis command
/// string into command and argument tokens, handling quoted strings and
/// escaped quotes inside them.
struct Tokenizer<'a> {
    /// The trimmed input.
    data: &'a [u8],
    /// Current byte (kept unchanged once `done`, as in Go).
    ch: u8,
    /// Go's `off + 1`: the number of bytes read so far (0 before the first).
    pos: usize,
    /// Set when reading past the end.
    done: bool,
    /// What comes next.
    state: State,
}

impl<'a> Tokenizer<'a> {
    /// Creates a tokenizer for already trimmed `data`.
    fn new(data: &'a [u8]) -> Self {
        Tokenizer {
            data,
            ch: 0,
            pos: 0,
            done: false,
            state: State::Command,
        }
    }

    /// Returns the next token, its type and whether it was the last one.
    fn scan(&mut self) -> (Vec<u8>, TokenType, bool) {
        match self.state {
            State::Command => self.scan_command(),
            State::Argument => self.scan_arg(),
        }
    }

    /// Advances to the next byte, or sets `done` past the end.
    fn next(&mut self) {
        self.pos = self.pos.saturating_add(1);
        match self.data.get(self.pos - 1) {
            Some(&b) => self.ch = b,
            None => self.done = true,
        }
    }

    /// Scans a command word.
    fn scan_command(&mut self) -> (Vec<u8>, TokenType, bool) {
        let mut tok = Vec::new();
        let mut started = false;
        loop {
            self.next();
            if self.done {
                // Go returns its zero-valued type here, i.e. "command".
                return (tok, TokenType::Command, true);
            }
            match self.ch {
                b' ' => {
                    if started {
                        // Done scanning the command.
                        self.state = State::Argument;
                        self.skip_space();
                        return (tok, TokenType::Command, self.done);
                    }
                    // Skip spaces preceding the token.
                    self.skip_space();
                }
                b'\n' => return (tok, TokenType::Command, self.done),
                b => tok.push(b),
            }
            started = true;
        }
    }

    /// Scans an argument.
    fn scan_arg(&mut self) -> (Vec<u8>, TokenType, bool) {
        let mut tok = Vec::new();
        let mut quoted = false;
        let mut escape = false;
        loop {
            self.next();
            if self.done {
                return (tok, TokenType::Argument, true);
            }
            match self.ch {
                b'\\' => {
                    tok.push(b'\\');
                    if !escape {
                        // The next byte could be escaped.
                        escape = true;
                        continue;
                    }
                }
                b'\n' => {
                    if !quoted {
                        // Last argument, a new command follows.
                        self.state = State::Command;
                        return (tok, TokenType::Argument, self.done);
                    }
                    tok.push(b'\n');
                }
                b'"' => {
                    tok.push(b'"');
                    if !escape {
                        // This quote was not escaped: toggle quoted mode.
                        quoted = !quoted;
                    }
                }
                b' ' => {
                    if !quoted {
                        self.skip_space();
                        return (tok, TokenType::Argument, self.done);
                    }
                    tok.push(b' ');
                }
                b => tok.push(b),
            }
            escape = false;
        }
    }

    /// Steps back one byte (never before the first byte).
    fn unread(&mut self) {
        if self.pos < 2 {
            return;
        }
        self.pos -= 1;
        if let Some(&b) = self.data.get(self.pos - 1) {
            self.ch = b;
        }
    }

    /// Moves past a run of spaces, tabs and carriage returns. A newline ending
    /// the run is consumed and makes the next token a command; otherwise the
    /// first non-space byte is left unread.
    ///
    /// Go loops while `ch == ' ' || ch == '\t' || ch == '\r' && !done`, which
    /// would never end if the input ended in a space or tab; the input is
    /// trimmed so that cannot happen, and here the loop also stops at the end.
    fn skip_space(&mut self) {
        while !self.done && matches!(self.ch, b' ' | b'\t' | b'\r') {
            self.next();
        }
        if self.ch == b'\n' {
            self.state = State::Command;
        } else {
            self.unread();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Port of `TestRedisObfuscator`.
    #[test]
    fn go_redis_obfuscator_table() {
        let cases: &[(&str, &str)] = &[
            ("AUTH my-secret-password", "AUTH ?"),
            ("AUTH james my-secret-password", "AUTH ?"),
            ("AUTH", "AUTH"),
            ("APPEND key value", "APPEND key ?"),
            ("GETSET key value", "GETSET key ?"),
            ("LPUSHX key value", "LPUSHX key ?"),
            (
                "GEORADIUSBYMEMBER key member radius m|km|ft|mi [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count] [ASC|DESC] [STORE key] [STOREDIST key]",
                "GEORADIUSBYMEMBER key ? radius m|km|ft|mi [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count] [ASC|DESC] [STORE key] [STOREDIST key]",
            ),
            ("RPUSHX key value", "RPUSHX key ?"),
            ("SET key value", "SET key ?"),
            (
                "SET key value [expiration EX seconds|PX milliseconds] [NX|XX]",
                "SET key ? [expiration EX seconds|PX milliseconds] [NX|XX]",
            ),
            ("SETNX key value", "SETNX key ?"),
            ("SISMEMBER key member", "SISMEMBER key ?"),
            ("ZRANK key member", "ZRANK key ?"),
            ("ZREVRANK key member", "ZREVRANK key ?"),
            ("ZSCORE key member", "ZSCORE key ?"),
            (
                "BITFIELD key GET type offset SET type offset value INCRBY type",
                "BITFIELD key GET type offset SET type offset ? INCRBY type",
            ),
            (
                "BITFIELD key SET type offset value INCRBY type",
                "BITFIELD key SET type offset ? INCRBY type",
            ),
            (
                "BITFIELD key GET type offset INCRBY type",
                "BITFIELD key GET type offset INCRBY type",
            ),
            ("BITFIELD key SET type offset", "BITFIELD key SET type offset"),
            ("CONFIG SET parameter value", "CONFIG SET parameter ?"),
            ("CONFIG foo bar baz", "CONFIG foo bar baz"),
            (
                "GEOADD key longitude latitude member longitude latitude member longitude latitude member",
                "GEOADD key longitude latitude ? longitude latitude ? longitude latitude ?",
            ),
            (
                "GEOADD key longitude latitude member longitude latitude member",
                "GEOADD key longitude latitude ? longitude latitude ?",
            ),
            ("GEOADD key longitude latitude member", "GEOADD key longitude latitude ?"),
            ("GEOADD key longitude latitude", "GEOADD key longitude latitude"),
            ("GEOADD key", "GEOADD key"),
            (
                "GEOHASH key\nGEOPOS key\n GEODIST key",
                "GEOHASH key\nGEOPOS key\nGEODIST key",
            ),
            (
                "GEOHASH key member\nGEOPOS key member\nGEODIST key member\n",
                "GEOHASH key ?\nGEOPOS key ?\nGEODIST key ?",
            ),
            (
                "GEOHASH key member member member\nGEOPOS key member member \n  GEODIST key member member member",
                "GEOHASH key ?\nGEOPOS key ?\nGEODIST key ?",
            ),
            ("GEOPOS key member [member ...]", "GEOPOS key ?"),
            ("SREM key member [member ...]", "SREM key ?"),
            ("ZREM key member [member ...]", "ZREM key ?"),
            ("SADD key member [member ...]", "SADD key ?"),
            ("GEODIST key member1 member2 [unit]", "GEODIST key ?"),
            ("LPUSH key value [value ...]", "LPUSH key ?"),
            ("RPUSH key value [value ...]", "RPUSH key ?"),
            (
                "HSET key field value \nHSETNX key field value\nBLAH",
                "HSET key field ?\nHSETNX key field ?\nBLAH",
            ),
            ("HSET key field value", "HSET key field ?"),
            ("HSET key field1 value field2 value", "HSET key field1 ? field2 ?"),
            ("HSETNX key field value", "HSETNX key field ?"),
            ("LREM key count value", "LREM key count ?"),
            ("LSET key index value", "LSET key index ?"),
            ("SETBIT key offset value", "SETBIT key offset ?"),
            ("SETRANGE key offset value", "SETRANGE key offset ?"),
            ("SETEX key seconds value", "SETEX key seconds ?"),
            ("PSETEX key milliseconds value", "PSETEX key milliseconds ?"),
            ("ZINCRBY key increment member", "ZINCRBY key increment ?"),
            ("SMOVE source destination member", "SMOVE source destination ?"),
            (
                "RESTORE key ttl serialized-value [REPLACE]",
                "RESTORE key ttl ? [REPLACE]",
            ),
            ("LINSERT key BEFORE pivot value", "LINSERT key BEFORE pivot ?"),
            ("LINSERT key AFTER pivot value", "LINSERT key AFTER pivot ?"),
            ("HMSET key field value field value", "HMSET key field ? field ?"),
            (
                "HMSET key field value \n HMSET key field value\n\n ",
                "HMSET key field ?\nHMSET key field ?",
            ),
            ("HMSET key field", "HMSET key field"),
            ("MSET key value key value", "MSET key ? key ?"),
            ("MSET\nMSET key value", "MSET\nMSET key ?"),
            ("MSET key value", "MSET key ?"),
            ("MSETNX key value key value", "MSETNX key ? key ?"),
            ("ZADD key score member score member", "ZADD key score ? score ?"),
            (
                "ZADD key NX score member score member",
                "ZADD key NX score ? score ?",
            ),
            (
                "ZADD key NX CH score member score member",
                "ZADD key NX CH score ? score ?",
            ),
            (
                "ZADD key NX CH INCR score member score member",
                "ZADD key NX CH INCR score ? score ?",
            ),
            (
                "ZADD key XX INCR score member score member",
                "ZADD key XX INCR score ? score ?",
            ),
            ("ZADD key XX INCR score member", "ZADD key XX INCR score ?"),
            ("ZADD key XX INCR score", "ZADD key XX INCR score"),
            (
                "\nCONFIG command\nSET k v\n\t\t\t",
                "CONFIG command\nSET k ?",
            ),
        ];
        for (i, (input, want)) in cases.iter().enumerate() {
            assert_eq!(obfuscate_redis(input), *want, "case {i}: {input:?}");
        }
    }

    /// Quirks of the Go code, with outputs checked against the Go program.
    #[test]
    fn go_quirks() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            (" \t\r\n ", ""),
            ("\u{3000}SET k v\u{A0}", "SET k ?"),
            ("\u{A0}SET k v\u{2003}\u{85}", "SET k ?"),
            ("set k v", "set k ?"),
            ("SeT k v", "SeT k ?"),
            ("ſet k v", "ſet k ?"),
            ("aıth pw", "aıth pw"),
            ("auth pw", "auth ?"),
            ("ſetex k 1 v", "ſetex k 1 ?"),
            ("REﬆORE k 0 v", "REﬆORE k 0 v"),
            ("SET\tk v", "SET\tk v"),
            ("SET k\tv", "SET k\tv"),
            ("SET k \t v", "SET k ?"),
            ("GET k\r\nGET j", "GET k\r\nGET j"),
            ("SET k v\r\nGET j", "SET k ?\nGET j"),
            ("SET k v \r\nGET j", "SET k ?\nGET j"),
            ("a\n\nb", "a\nb"),
            ("a\n  \n  b c", "a\n b c"),
            ("a\n  \n  b c\n d", "a\nd"),
            ("SET k \"v 1\" x", "SET k ? x"),
            ("SET \"k 1\" \"v\" x", "SET \"k 1\" ? x"),
            ("SET k \"unterminated\nGET x", "SET k ?"),
            ("GET \"a\nb\"\nGET c", "GET \"a\nb\"\nGET c"),
            ("GET \"a\\\" b\" c", "GET \"a\\\" b\" c"),
            ("GET 'a b' c", "GET 'a b' c"),
            ("GET \"a\\\\\" b", "GET \"a\\\\\" b"),
            ("AUTH a b c", "AUTH ?"),
            ("ZADD k nx 1 m", "ZADD k nx ? m"),
            ("ZADD k NX", "ZADD k NX"),
            ("ZADD k NX XX", "ZADD k NX XX"),
            ("ZADD k NX XX m", "ZADD k NX XX m"),
            ("ZADD k", "ZADD k"),
            ("BITFIELD SET a b c d", "BITFIELD SET a b c d"),
            ("BITFIELD k set t o v", "BITFIELD k set t o ?"),
            ("BITFIELD k SET t SET o v w", "BITFIELD k SET t SET o v ?"),
            (
                "BITFIELD k SET t o v SET t o v",
                "BITFIELD k SET t o ? SET t o v",
            ),
            ("CONFIG set p v", "CONFIG set p ?"),
            ("CONFIG GET p v", "CONFIG GET p v"),
            ("config SET p v extra", "config SET p ? extra"),
            ("GEOHASH k", "GEOHASH k"),
            ("sadd k a b c", "sadd k ?"),
            ("UNKNOWN  a   b", "UNKNOWN a b"),
            ("héllo wörld 🎉", "héllo wörld 🎉"),
            ("SET 🔑 🎉\nGET 🔑", "SET 🔑 ?\nGET 🔑"),
        ];
        for (input, want) in cases {
            assert_eq!(obfuscate_redis(input), *want, "{input:?}");
        }
    }

    /// Tokenizes trimmed `input` into all its tokens, like the Go test does.
    fn tokens(input: &str) -> Vec<(String, TokenType, bool)> {
        let mut t = Tokenizer::new(go_trim_space(input).as_bytes());
        let mut out = Vec::new();
        loop {
            let (tok, typ, done) = t.scan();
            out.push((String::from_utf8_lossy(&tok).into_owned(), typ, done));
            if done || out.len() > input.len() + 1 {
                return out;
            }
        }
    }

    /// Port of `TestRedisTokenizer`.
    #[test]
    fn go_redis_tokenizer_table() {
        use TokenType::{Argument as A, Command as C};
        type Expected<'a> = &'a [(&'a str, TokenType, bool)];
        let cases: &[(&str, Expected<'_>)] = &[
            ("", &[("", C, true)]),
            (
                "BAD\"\"INPUT\" \"boo\n  Weird13\\Stuff",
                &[
                    ("BAD\"\"INPUT\"", C, false),
                    ("\"boo\n  Weird13\\Stuff", A, true),
                ],
            ),
            ("CMD", &[("CMD", C, true)]),
            ("\n  \nCMD\n  \n", &[("CMD", C, true)]),
            ("  CMD  ", &[("CMD", C, true)]),
            ("CMD1\nCMD2", &[("CMD1", C, false), ("CMD2", C, true)]),
            (
                "  CMD1  \n  CMD2  ",
                &[("CMD1", C, false), ("CMD2", C, true)],
            ),
            (
                "CMD1\nCMD2\nCMD3",
                &[("CMD1", C, false), ("CMD2", C, false), ("CMD3", C, true)],
            ),
            (
                "CMD1 \n CMD2 \n CMD3 ",
                &[("CMD1", C, false), ("CMD2", C, false), ("CMD3", C, true)],
            ),
            ("CMD arg", &[("CMD", C, false), ("arg", A, true)]),
            ("  CMD  arg  ", &[("CMD", C, false), ("arg", A, true)]),
            (
                "CMD arg1 arg2",
                &[("CMD", C, false), ("arg1", A, false), ("arg2", A, true)],
            ),
            (
                " \t CMD   arg1 \t  arg2 ",
                &[("CMD", C, false), ("arg1", A, false), ("arg2", A, true)],
            ),
            (
                "CMD arg1\nCMD2 arg2",
                &[
                    ("CMD", C, false),
                    ("arg1", A, false),
                    ("CMD2", C, false),
                    ("arg2", A, true),
                ],
            ),
            (
                "CMD arg1 arg2\nCMD2 arg3\nCMD3\nCMD4 arg4 arg5 arg6",
                &[
                    ("CMD", C, false),
                    ("arg1", A, false),
                    ("arg2", A, false),
                    ("CMD2", C, false),
                    ("arg3", A, false),
                    ("CMD3", C, false),
                    ("CMD4", C, false),
                    ("arg4", A, false),
                    ("arg5", A, false),
                    ("arg6", A, true),
                ],
            ),
            (
                "CMD arg1   arg2  \n CMD2  arg3 \n CMD3 \n  CMD4 arg4 arg5 arg6\nCMD5 ",
                &[
                    ("CMD", C, false),
                    ("arg1", A, false),
                    ("arg2", A, false),
                    ("CMD2", C, false),
                    ("arg3", A, false),
                    ("CMD3", C, false),
                    ("CMD4", C, false),
                    ("arg4", A, false),
                    ("arg5", A, false),
                    ("arg6", A, false),
                    ("CMD5", C, true),
                ],
            ),
            ("CMD \"\"", &[("CMD", C, false), ("\"\"", A, true)]),
            (
                "CMD  \"foo bar\"",
                &[("CMD", C, false), ("\"foo bar\"", A, true)],
            ),
            (
                "CMD  \"foo bar\\ \" baz",
                &[
                    ("CMD", C, false),
                    ("\"foo bar\\ \"", A, false),
                    ("baz", A, true),
                ],
            ),
            (
                "CMD \"foo \n bar\" \"\"  baz ",
                &[
                    ("CMD", C, false),
                    ("\"foo \n bar\"", A, false),
                    ("\"\"", A, false),
                    ("baz", A, true),
                ],
            ),
            (
                "CMD \"foo \\\" bar\" baz",
                &[
                    ("CMD", C, false),
                    ("\"foo \\\" bar\"", A, false),
                    ("baz", A, true),
                ],
            ),
            (
                "CMD  \"foo bar\"  baz",
                &[
                    ("CMD", C, false),
                    ("\"foo bar\"", A, false),
                    ("baz", A, true),
                ],
            ),
            (
                "CMD \"foo bar\" baz\nCMD2 \"baz\\\\bar\"",
                &[
                    ("CMD", C, false),
                    ("\"foo bar\"", A, false),
                    ("baz", A, false),
                    ("CMD2", C, false),
                    ("\"baz\\\\bar\"", A, true),
                ],
            ),
            (
                " CMD  \"foo bar\"  baz \n CMD2  \"baz\\\\bar\"  ",
                &[
                    ("CMD", C, false),
                    ("\"foo bar\"", A, false),
                    ("baz", A, false),
                    ("CMD2", C, false),
                    ("\"baz\\\\bar\"", A, true),
                ],
            ),
        ];
        for (i, (input, want)) in cases.iter().enumerate() {
            let got = tokens(input);
            let want: Vec<(String, TokenType, bool)> = want
                .iter()
                .map(|&(tok, typ, done)| (tok.to_owned(), typ, done))
                .collect();
            assert_eq!(got, want, "case {i}: {input:?}");
        }
    }

    #[test]
    fn go_upper_matches_go_simple_mapping() {
        assert_eq!(go_upper_ascii(b"set").as_deref(), Some(&b"SET"[..]));
        assert_eq!(
            go_upper_ascii("ſet".as_bytes()).as_deref(),
            Some(&b"SET"[..])
        );
        assert_eq!(
            go_upper_ascii("ınfo".as_bytes()).as_deref(),
            Some(&b"INFO"[..])
        );
        assert_eq!(go_upper_ascii("ﬆ".as_bytes()), None);
        assert_eq!(go_upper_ascii("ß".as_bytes()), None);
        assert_eq!(go_upper_ascii("é".as_bytes()), None);
        assert!(upper_eq("ſEt".as_bytes(), b"SET"));
        assert!(!upper_eq(b"SETX", b"SET"));
    }

    #[test]
    fn go_space_list() {
        for c in [
            '\t', '\n', '\u{0B}', '\u{0C}', '\r', ' ', '\u{85}', '\u{A0}', '\u{1680}', '\u{2000}',
            '\u{200A}', '\u{2028}', '\u{2029}', '\u{202F}', '\u{205F}', '\u{3000}',
        ] {
            assert!(is_go_space(c), "{c:?}");
        }
        for c in ['\u{180E}', '\u{200B}', '\u{FEFF}', 'a', '\u{1C}'] {
            assert!(!is_go_space(c), "{c:?}");
        }
    }

    #[test]
    fn bound_on_large_inputs() {
        let big = "SET key \"value with spaces\" \n".repeat(10_000);
        let out = obfuscate_redis(&big);
        assert!(out.len() <= big.len());
        let quotes = "\"".repeat(50_000);
        assert!(obfuscate_redis(&quotes).len() <= quotes.len());
        let spaces = format!("A{}B", " \n".repeat(50_000));
        assert!(obfuscate_redis(&spaces).len() <= spaces.len());
    }

    /// Strategy producing Redis-like text from interesting pieces.
    fn redis_like() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("SET".to_owned()),
            Just("set".to_owned()),
            Just("AUTH".to_owned()),
            Just("ZADD".to_owned()),
            Just("NX".to_owned()),
            Just("BITFIELD".to_owned()),
            Just("CONFIG".to_owned()),
            Just("GEOADD".to_owned()),
            Just("HSET".to_owned()),
            Just("MSET".to_owned()),
            Just("GEOHASH".to_owned()),
            Just("ſet".to_owned()),
            Just(" ".to_owned()),
            Just("\n".to_owned()),
            Just("\t".to_owned()),
            Just("\r".to_owned()),
            Just("\"".to_owned()),
            Just("\\".to_owned()),
            Just("\u{A0}".to_owned()),
            Just("é🎉".to_owned()),
            "[a-z0-9]{1,4}",
        ];
        prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn never_panics_and_bounded(s in any::<String>()) {
            let out = obfuscate_redis(&s);
            prop_assert!(out.len() <= s.len());
        }

        #[test]
        fn redis_like_bounded(s in redis_like()) {
            let out = obfuscate_redis(&s);
            prop_assert!(out.len() <= s.len());
        }
    }
}
