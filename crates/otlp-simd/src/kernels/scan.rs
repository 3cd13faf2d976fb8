//! Scanning string values for sensitive data, and masking what is found.
//!
//! Two stages. A vector prefilter finds the bytes where a finding can
//! start or be anchored (`@` for e-mail addresses, ASCII digits for card
//! numbers, the first byte of each configured prefix and literal) with an
//! exact byte-set test: two 16-entry shuffles of the low nibble, selected by
//! the high bit, ANDed with a bit for the high nibble. [`Scanner::find`]
//! runs that test for four sets in one pass over the value: the trigger
//! bytes that only start prefixes which must start a word (`s` of `sk-`,
//! `g` of `ghp_`: common letters), the other trigger bytes, the digits and
//! the word bytes. A scanner without word-led triggers, such as one for
//! e-mail addresses and card numbers alone, has no use for the word bytes:
//! on AVX2 and in the scalar twin it tests two sets, the other trigger
//! bytes and the digits. A word-led trigger right after a word byte, and a
//! digit that does not start a run long enough for a card number, are
//! dropped with a few bit operations per 64 bytes
//! ([`Scanner::candidates_with`] gives the positions left). Only they go to
//! the scalar confirmers (an e-mail address around the `@`, 13 to 19
//! digits passing the Luhn check, a prefix followed by a token, a literal),
//! in the text's order; at one position they are tried in a fixed order
//! (the literals and prefixes starting with that byte, in the order they
//! were added, then a card number, then an e-mail address) and the first
//! that matches is the finding, which the next candidate cannot overlap.
//! A text shorter than the shortest finding of the confirmers (`a@b.cd`,
//! 13 digits, a prefix with its shortest token, a literal) is not marked
//! at all: most short attribute values (`GET`, `https`, `1.1`) cost a
//! length compare. A value of up to 64 bytes (nearly every other one) is
//! marked with one call (on AVX2 and AVX-512 in registers), and one
//! without candidates returns from there.
//! Configured regular expressions run afterwards over the whole string
//! with the `regex` crate, which has its own prefilters. Their matches and
//! the findings above are merged where they overlap: the one starting
//! first wins, the longer one on a tie.

use super::Isa;
use regex::Regex;

/// What a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// An e-mail address.
    Email,
    /// A payment card number (13 to 19 digits, spaces or dashes between
    /// them allowed, Luhn check passed).
    Card,
    /// A token after a configured prefix (index into the prefixes).
    Prefix(usize),
    /// A configured literal (index into the literals).
    Literal(usize),
    /// A match of a configured regular expression (index into them).
    Regex(usize),
}

/// One finding: `text[start..end]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset past the last byte.
    pub end: usize,
    /// What was found.
    pub kind: Kind,
}

/// A prefix that announces a secret, such as `Bearer ` or `sk_live_`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prefix {
    text: String,
    min_token: usize,
    mask_prefix: bool,
}

impl Prefix {
    /// The prefix must be followed by at least `min_token` token characters
    /// (`A-Z a-z 0-9 - . _ ~ + / =`). Unless the prefix itself ends in a
    /// space, it must start a word (the byte before is not a letter, digit
    /// or `_`), so `task_name` is no `sk_` key.
    pub fn new(text: impl Into<String>, min_token: usize) -> Prefix {
        Prefix {
            text: text.into(),
            min_token: min_token.max(1),
            mask_prefix: true,
        }
    }

    /// Keep the prefix itself visible and mask only the token
    /// (`Bearer ****`); by default the prefix is masked too.
    pub fn with_visible_prefix(mut self) -> Prefix {
        self.mask_prefix = false;
        self
    }

    /// The prefix text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// The prefixes [`ScannerBuilder::with_default_prefixes`] adds: bearer
/// tokens and the API-key forms of common providers.
pub fn default_prefixes() -> Vec<Prefix> {
    let mut v = vec![
        Prefix::new("Bearer ", 8).with_visible_prefix(),
        Prefix::new("bearer ", 8).with_visible_prefix(),
    ];
    for (p, n) in [
        ("sk_live_", 16),
        ("sk_test_", 16),
        ("rk_live_", 16),
        ("sk-", 20),
        ("ghp_", 30),
        ("gho_", 30),
        ("github_pat_", 30),
        ("glpat-", 20),
        ("xoxb-", 20),
        ("xoxp-", 20),
        ("AKIA", 16),
        ("AIza", 30),
    ] {
        v.push(Prefix::new(p, n));
    }
    v
}

/// Builds a [`Scanner`].
#[derive(Clone, Debug, Default)]
pub struct ScannerBuilder {
    emails: bool,
    cards: bool,
    prefixes: Vec<Prefix>,
    literals: Vec<String>,
    regexes: Vec<Regex>,
    /// Bytes that are candidates with nothing to confirm, and the
    /// shortest text worth a look for them (see
    /// [`ScannerBuilder::with_trigger_bytes`]).
    triggers: Vec<u8>,
    trigger_len: Option<usize>,
}

impl ScannerBuilder {
    /// Find e-mail addresses.
    pub fn with_emails(mut self, on: bool) -> Self {
        self.emails = on;
        self
    }

    /// Find card numbers (Luhn-checked).
    pub fn with_cards(mut self, on: bool) -> Self {
        self.cards = on;
        self
    }

    /// Add a secret prefix.
    pub fn with_prefix(mut self, prefix: Prefix) -> Self {
        self.prefixes.push(prefix);
        self
    }

    /// Add [`default_prefixes`].
    pub fn with_default_prefixes(mut self) -> Self {
        self.prefixes.extend(default_prefixes());
        self
    }

    /// Add a literal to find anywhere (empty literals are ignored).
    pub fn with_literal(mut self, literal: impl Into<String>) -> Self {
        let l = literal.into();
        if !l.is_empty() {
            self.literals.push(l);
        }
        self
    }

    /// Add a regular expression; each match is a finding.
    pub fn with_regex(mut self, re: Regex) -> Self {
        self.regexes.push(re);
        self
    }

    /// Bytes that make a text worth a closer look when it is at least
    /// `min_len` bytes long, with no confirmer of their own: for
    /// [`Scanner::may_find`] on behalf of other rules (bytes of which
    /// every match of a regex holds one, and its shortest match). Such a
    /// scanner finds nothing at these bytes; `find_with` is not meant for
    /// it.
    pub(crate) fn with_trigger_bytes(
        mut self,
        bytes: impl IntoIterator<Item = u8>,
        min_len: usize,
    ) -> Self {
        self.triggers.extend(bytes);
        self.trigger_len = Some(self.trigger_len.map_or(min_len, |l| l.min(min_len)));
        self
    }

    /// The scanner.
    pub fn build(self) -> Scanner {
        let mut set = ByteSet::default();
        let mut triggers = ByteSet::default();
        for &b in &self.triggers {
            set.insert(b);
            triggers.insert(b);
        }
        if self.emails {
            set.insert(b'@');
        }
        if self.cards {
            for d in b'0'..=b'9' {
                set.insert(d);
            }
        }
        let mut starts: Vec<Vec<Start>> = vec![Vec::new(); 256];
        for (i, l) in self.literals.iter().enumerate() {
            let b = l.as_bytes()[0];
            set.insert(b);
            starts[usize::from(b)].push(Start::Literal {
                i,
                second: second_byte(l.as_bytes()),
            });
        }
        for (i, p) in self.prefixes.iter().enumerate() {
            if let Some(&b) = p.text.as_bytes().first() {
                set.insert(b);
                starts[usize::from(b)].push(Start::Prefix {
                    i,
                    second: second_byte(p.text.as_bytes()),
                    word: p.text.as_bytes().last() != Some(&b' '),
                });
            }
        }
        // Only the first digit of a run can start a card number, so when no
        // literal or prefix starts with a digit, the others need not be
        // looked at: the digit class marks them, and digits right after a
        // digit are dropped from the candidates.
        let digit_led = |t: &str| t.as_bytes().first().is_some_and(u8::is_ascii_digit);
        let digit_runs = self.cards
            && !self.literals.iter().any(|l| digit_led(l))
            && !self.prefixes.iter().any(|p| digit_led(&p.text))
            && !self.triggers.iter().any(u8::is_ascii_digit);
        // The one pass of `find_with` sorts the trigger bytes in two: those
        // that only start prefixes that must start a word (common letters,
        // mostly inside words) and the others; it also marks the digits
        // (for the digit-run checks) and the word bytes (letters, digits,
        // `_`), so that a word-led trigger inside a word never goes to the
        // confirmers, which would turn it down.
        // (A byte given by `with_trigger_bytes` has no prefix to start a
        // word: it is a candidate wherever it is.)
        let word_led = |b: u8| {
            let other = (self.emails && b == b'@')
                || (self.cards && b.is_ascii_digit())
                || triggers.contains(b);
            !other
                && starts[usize::from(b)]
                    .iter()
                    .all(|s| matches!(s, Start::Prefix { word: true, .. }))
        };
        let mut sets = [ByteSet::default(); CLASSES];
        for b in 0..=255u8 {
            if set.contains(b) {
                sets[if word_led(b) { WORD_LED } else { OTHER }].insert(b);
            }
            if digit_runs && b.is_ascii_digit() {
                sets[DIGIT].insert(b);
            }
        }
        // The word bytes matter only to word-led triggers: without any,
        // both classes are empty and the kernels skip them.
        let led = (0..=255u8).any(|b| sets[WORD_LED].contains(b));
        if led {
            for b in (0..=255u8).filter(|&b| is_word(b)) {
                sets[WORD].insert(b);
            }
        }
        // The shortest text a confirmer can find anything in: `a@b.cd`,
        // 13 digits, a prefix and its shortest token, a literal. (A prefix
        // without text starts nothing.)
        let shortest = [
            self.emails.then_some(SHORTEST_EMAIL),
            self.cards.then_some(SHORTEST_CARD),
        ]
        .into_iter()
        .flatten()
        .chain(
            self.prefixes
                .iter()
                .filter(|p| !p.text.is_empty())
                .map(|p| p.text.len().saturating_add(p.min_token)),
        )
        .chain(self.literals.iter().map(String::len))
        .chain(self.trigger_len)
        .min()
        .unwrap_or(usize::MAX);
        Scanner {
            emails: self.emails,
            cards: self.cards,
            digit_runs,
            shortest,
            prefixes: self.prefixes,
            literals: self.literals,
            regexes: self.regexes,
            classes: Classes::new(sets, if led { CLASSES } else { UNLED }),
            starts,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Start {
    /// Literal `i`, whose second byte is `second` (see [`second_byte`]).
    Literal { i: usize, second: u16 },
    /// Prefix `i`, whose second byte is `second`, and which must start a
    /// word when `word`.
    Prefix { i: usize, second: u16, word: bool },
}

/// `text`'s second byte, or 256 when it has none: kept beside each start
/// so that most candidates are turned down without reading the text.
fn second_byte(text: &[u8]) -> u16 {
    text.get(1).map_or(256, |&b| u16::from(b))
}

/// Whether `bytes[c + 1]` can be the second byte `second` stands for.
#[inline]
fn second_matches(bytes: &[u8], c: usize, second: u16) -> bool {
    second > 255 || bytes.get(c + 1).is_some_and(|&b| u16::from(b) == second)
}

/// An exact set of bytes.
#[derive(Clone, Copy, Debug)]
struct ByteSet([bool; 256]);

impl Default for ByteSet {
    fn default() -> Self {
        ByteSet([false; 256])
    }
}

impl ByteSet {
    fn insert(&mut self, b: u8) {
        self.0[usize::from(b)] = true;
    }

    fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b)]
    }

    /// For each low nibble, the set's high nibbles as bits: `ascii` for
    /// high nibbles 0-7, `high` for 8-15 (bit `h & 7`).
    fn tables(&self) -> ByteSetTables {
        let mut t = ByteSetTables::default();
        for b in 0..=255u8 {
            if self.contains(b) {
                let (hi, lo) = (b >> 4, usize::from(b & 0x0f));
                if hi < 8 {
                    t.ascii[lo] |= 1 << hi;
                } else {
                    t.high[lo] |= 1 << (hi - 8);
                }
            }
        }
        t
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct ByteSetTables {
    ascii: [u8; 16],
    high: [u8; 16],
}

/// `N` byte sets, as the kernels read them: for the scalar twin one table
/// of 256 entries, bit `k` of entry `b` telling whether `b` is in set `k`;
/// for the vector paths each set's nibble tables.
#[derive(Clone, Copy, Debug)]
struct Classes<const N: usize> {
    of: [u8; 256],
    tables: [ByteSetTables; N],
    /// The sets past the first `live` are empty; the AVX2 and scalar paths
    /// do not look at them.
    live: usize,
}

impl<const N: usize> Classes<N> {
    /// The classes of `sets`, of which those past the first `live` must be
    /// empty.
    fn new(sets: [ByteSet; N], live: usize) -> Self {
        debug_assert!(sets[live.min(N)..].iter().all(|s| s.0.iter().all(|&b| !b)));
        let mut of = [0u8; 256];
        for (k, set) in sets.iter().enumerate() {
            for (b, e) in of.iter_mut().enumerate() {
                *e |= u8::from(set.0[b]) << k;
            }
        }
        Classes {
            of,
            tables: sets.map(|s| s.tables()),
            live: live.min(N),
        }
    }
}

/// The classes `find_with` marks, in one pass (see [`ScannerBuilder::build`]):
/// trigger bytes that are not word-led,
const OTHER: usize = 0;
/// ASCII digits (when only digit-run starts need confirming; else none),
const DIGIT: usize = 1;
/// trigger bytes that only start prefixes that must start a word,
const WORD_LED: usize = 2;
/// and word bytes: ASCII letters and digits, and `_` (when there are
/// word-led trigger bytes; else none).
const WORD: usize = 3;
/// How many.
const CLASSES: usize = 4;
/// The classes a scanner without word-led trigger bytes marks (`OTHER`
/// and `DIGIT`; its other two are empty).
const UNLED: usize = 2;

/// Evaluates `$call` with the constant `$l` set to `$live`, which is
/// [`UNLED`] or [`CLASSES`]: the kernels take the number of sets to look
/// at as a const generic.
macro_rules! with_live {
    ($live:expr, |$l:ident| $call:expr) => {
        if $live == UNLED {
            const $l: usize = UNLED;
            $call
        } else {
            const $l: usize = CLASSES;
            $call
        }
    };
}

/// A byte that continues a word: a prefix that must start a word does not
/// start after one.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Finds sensitive values; see the module docs.
#[derive(Clone, Debug)]
pub struct Scanner {
    emails: bool,
    cards: bool,
    prefixes: Vec<Prefix>,
    literals: Vec<String>,
    regexes: Vec<Regex>,
    /// The classes `find_with` marks (`OTHER`, `WORD_LED`, `DIGIT`, `WORD`).
    classes: Classes<CLASSES>,
    starts: Vec<Vec<Start>>,
    /// Only digit-run starts need confirming among the digits.
    digit_runs: bool,
    /// No confirmer finds anything in a text shorter than this: such a
    /// text is not marked at all (the regexes still run on it).
    shortest: usize,
}

/// The shortest e-mail address `email_at` finds: `a@b.cd`.
const SHORTEST_EMAIL: usize = 6;

/// The fewest digits of a card number `card_at` finds.
const SHORTEST_CARD: usize = 13;

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// The Luhn check over ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

impl Scanner {
    /// A builder with nothing enabled.
    pub fn builder() -> ScannerBuilder {
        ScannerBuilder::default()
    }

    /// Whether the scanner looks for anything.
    pub fn is_empty(&self) -> bool {
        !self.emails
            && !self.cards
            && self.prefixes.is_empty()
            && self.literals.is_empty()
            && self.regexes.is_empty()
    }

    /// The length of the shortest finding this scanner can make: a text
    /// shorter than this has none (`usize::MAX` when it looks for
    /// nothing).
    pub fn shortest_finding(&self) -> usize {
        if self.regexes.is_empty() {
            self.shortest
        } else {
            // An empty match is no finding.
            self.shortest.min(1)
        }
    }

    /// The prefixes, in the order [`Kind::Prefix`] indexes them.
    pub fn prefixes(&self) -> &[Prefix] {
        &self.prefixes
    }

    /// Appends the findings in `text`, sorted and not overlapping, to `out`
    /// (cleared first). Returns how many.
    pub fn find(&self, text: &str, out: &mut Vec<Finding>) -> usize {
        self.find_with(Isa::detect(), text, out)
    }

    /// [`Scanner::find`] on an explicit instruction set.
    pub fn find_with(&self, isa: Isa, text: &str, out: &mut Vec<Finding>) -> usize {
        out.clear();
        if text.len() < self.shortest {
            return self.confirm_marked(text, std::iter::empty(), out);
        }
        if text.len() <= 64 {
            // One word (nearly every attribute value): its candidates come
            // back in a register, and a value without any (most) returns
            // here, before the confirmers' setup.
            let word = mark_one(isa, &self.classes, text.as_bytes(), self.digit_runs);
            if word == 0 && self.regexes.is_empty() {
                return 0;
            }
            return self.confirm_marked(text, std::iter::once(word), out);
        }
        self.with_marks(isa, text.as_bytes(), |marks| {
            self.confirm_marked(text, marks.iter().map(|m| m[OTHER]), out)
        })
    }

    /// Runs `f` on the marks of `bytes`: the byte classes, narrowed so that
    /// each word's `OTHER` holds the candidates to confirm.
    #[inline(always)]
    fn with_marks<R>(
        &self,
        isa: Isa,
        bytes: &[u8],
        f: impl FnOnce(&mut [[u64; CLASSES]]) -> R,
    ) -> R {
        // One word of each class per 64 bytes (see `CLASSES`). Values up to
        // 256 bytes (nearly all attribute values) keep them on the stack,
        // in an array small enough to be cleared without a call.
        let words = bytes.len().div_ceil(64);
        let mut stack = [[0u64; CLASSES]; 4];
        let mut heap = Vec::new();
        let marks: &mut [[u64; CLASSES]] = if words <= stack.len() {
            &mut stack[..words]
        } else {
            heap.resize(words, [0; CLASSES]);
            &mut heap
        };
        mark_with(isa, &self.classes, bytes, marks, self.digit_runs);
        f(marks)
    }

    /// Confirms the candidates, whose bits `marks` yields word by word,
    /// in order; then runs the regexes and merges their matches in.
    fn confirm_marked(
        &self,
        text: &str,
        marks: impl Iterator<Item = u64>,
        out: &mut Vec<Finding>,
    ) -> usize {
        let bytes = text.as_bytes();
        let mut pos = 0;
        let mut floor = 0;
        for (w, word) in marks.enumerate() {
            let mut word = word;
            while word != 0 {
                let c = w * 64 + word.trailing_zeros() as usize;
                word &= word - 1;
                if c < pos {
                    continue;
                }
                if let Some(f) = self.confirm(bytes, c, floor) {
                    pos = f.end.max(c + 1);
                    floor = f.end;
                    out.push(f);
                }
            }
        }
        if !self.regexes.is_empty() {
            for (i, re) in self.regexes.iter().enumerate() {
                for m in re.find_iter(text) {
                    if m.end() > m.start() {
                        out.push(Finding {
                            start: m.start(),
                            end: m.end(),
                            kind: Kind::Regex(i),
                        });
                    }
                }
            }
            out.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
            let mut end = 0;
            out.retain(|f| {
                let keep = f.start >= end;
                if keep {
                    end = f.end;
                }
                keep
            });
        }
        out.len()
    }

    /// Writes `text` with every finding replaced by `mask` into `out`
    /// (cleared first) and returns how many findings there were. A prefix
    /// made visible with [`Prefix::with_visible_prefix`] stays in the text.
    pub fn mask_with(
        &self,
        isa: Isa,
        text: &str,
        mask: &str,
        findings: &mut Vec<Finding>,
        out: &mut String,
    ) -> usize {
        out.clear();
        let n = self.find_with(isa, text, findings);
        let mut at = 0;
        for f in findings.iter() {
            let mut start = f.start;
            if let Kind::Prefix(i) = f.kind {
                let p = &self.prefixes[i];
                if !p.mask_prefix {
                    start += p.text.len();
                }
            }
            out.push_str(&text[at..start]);
            out.push_str(mask);
            at = f.end;
        }
        out.push_str(&text[at..]);
        n
    }

    /// Sets bit `i % 64` of `bits[i / 64]` for every byte of `bytes` that
    /// [`Scanner::find_with`] hands to its confirmers, clearing the others:
    /// the trigger bytes (the first bytes of literals and prefixes, `@`,
    /// digits) less those that can start no finding (a letter that only
    /// starts prefixes which must begin a word, inside a word; a digit not
    /// leading a run with 13 digits close enough for a card number).
    /// `bits` should be `bytes.len().div_ceil(64)` words; bytes beyond it
    /// are not looked at. This is the vector pass of the scanner; on
    /// [`Isa::Scalar`] it runs the scalar twin.
    pub fn candidates_with(&self, isa: Isa, bytes: &[u8], bits: &mut [u64]) {
        let bytes = &bytes[..bytes.len().min(bits.len() * 64)];
        if let ([first, rest @ ..], 1..=64) = (&mut *bits, bytes.len()) {
            // One word, as `find_with` marks it (in registers on AVX2 and
            // AVX-512).
            *first = mark_one(isa, &self.classes, bytes, self.digit_runs);
            rest.fill(0);
            return;
        }
        self.with_marks(isa, bytes, |marks| {
            for (i, b) in bits.iter_mut().enumerate() {
                *b = marks.get(i).map_or(0, |m| m[OTHER]);
            }
        })
    }

    /// Of the items whose bits are set in `items`, those whose text
    /// (`text(i)`) may hold a finding: all of them when the scanner has
    /// regexes; otherwise a text of up to 64 bytes, and no shorter than
    /// [`Scanner::shortest_finding`], with candidates, a longer text, and
    /// an item without a text to look at (`None`). [`Scanner::find_with`]
    /// finds nothing in the texts of the items left out. One pass over the
    /// items' texts; on AVX2 with the vector code inlined into it (the
    /// other paths call [`mark_one`] per text).
    #[inline]
    pub(crate) fn may_find<'a>(
        &self,
        isa: Isa,
        items: u64,
        text: impl Fn(usize) -> Option<&'a str>,
    ) -> u64 {
        if !self.regexes.is_empty() {
            return items;
        }
        #[cfg(target_arch = "x86_64")]
        if isa.effective() == Isa::Avx2 {
            let (t, shortest, runs) = (&self.classes.tables, self.shortest, self.digit_runs);
            // SAFETY: `effective` returned Avx2: the CPU has AVX2 and POPCNT.
            // (The sets past `live` are empty, so skipping them is exact.)
            return unsafe {
                with_live!(self.classes.live, |L| x86::may_find_avx2::<L, _>(
                    t, shortest, runs, items, text
                ))
            };
        }
        self.may_find_marking(isa, items, text)
    }

    /// [`Scanner::may_find`] without regexes, by [`mark_one`] (kept out of
    /// line: on x86-64 with AVX2 the caller, inlined, does not reach it).
    #[inline(never)]
    fn may_find_marking<'a>(
        &self,
        isa: Isa,
        items: u64,
        text: impl Fn(usize) -> Option<&'a str>,
    ) -> u64 {
        may_find_by(items, self.shortest, text, |bytes| {
            mark_one(isa, &self.classes, bytes, self.digit_runs)
        })
    }

    /// The finding anchored at `c`, if any; `floor` is where the previous
    /// finding ended (an e-mail's local part does not reach back past it).
    fn confirm(&self, bytes: &[u8], c: usize, floor: usize) -> Option<Finding> {
        let b = bytes[c];
        // Most candidates are a common letter inside a word, or one not
        // followed by a prefix's second byte: both are told from the
        // start entry, without reading the prefix.
        let in_word = c > 0 && (bytes[c - 1].is_ascii_alphanumeric() || bytes[c - 1] == b'_');
        for s in &self.starts[usize::from(b)] {
            match *s {
                Start::Literal { i, second } => {
                    let l = self.literals[i].as_bytes();
                    if second_matches(bytes, c, second) && bytes[c..].starts_with(l) {
                        return Some(Finding {
                            start: c,
                            end: c + l.len(),
                            kind: Kind::Literal(i),
                        });
                    }
                }
                Start::Prefix { i, second, word } => {
                    if (word && in_word) || !second_matches(bytes, c, second) {
                        continue;
                    }
                    if let Some(end) = self.prefix_at(bytes, c, &self.prefixes[i]) {
                        return Some(Finding {
                            start: c,
                            end,
                            kind: Kind::Prefix(i),
                        });
                    }
                }
            }
        }
        if self.cards && b.is_ascii_digit() {
            if let Some(end) = card_at(bytes, c) {
                return Some(Finding {
                    start: c,
                    end,
                    kind: Kind::Card,
                });
            }
        }
        if self.emails && b == b'@' {
            if let Some((start, end)) = email_at(bytes, c, floor) {
                return Some(Finding {
                    start,
                    end,
                    kind: Kind::Email,
                });
            }
        }
        None
    }

    fn prefix_at(&self, bytes: &[u8], c: usize, p: &Prefix) -> Option<usize> {
        let t = p.text.as_bytes();
        if !bytes[c..].starts_with(t) {
            return None;
        }
        let word = t.last() != Some(&b' ');
        if word && c > 0 && (bytes[c - 1].is_ascii_alphanumeric() || bytes[c - 1] == b'_') {
            return None;
        }
        let tok = bytes[c + t.len()..]
            .iter()
            .take_while(|&&b| is_token(b))
            .count();
        (tok >= p.min_token).then_some(c + t.len() + tok)
    }
}

/// The byte-set kernel: for every byte of `bytes` and each of the `N`
/// sets, sets the byte's bit (bit `i % 64` of `bits[i / 64][k]`) if it is
/// in set `k`, clearing the others. Bytes beyond `bits` are not looked at;
/// words of `bits` beyond `bytes` are cleared. The tests hold each path's
/// classes to the scalar twin's with it.
#[cfg(test)]
fn fill_classes<const N: usize>(
    isa: Isa,
    classes: &Classes<N>,
    bytes: &[u8],
    bits: &mut [[u64; N]],
) {
    let words = bytes.len().div_ceil(64).min(bits.len());
    let (bits, past) = bits.split_at_mut(words);
    past.fill([0; N]);
    let bytes = &bytes[..bytes.len().min(words * 64)];
    let t = &classes.tables;
    match isa.effective() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            // SAFETY: `effective` returned Avx512: the CPU has AVX-512 F/BW; bits covers bytes.
            unsafe { x86::classes_avx512(t, bytes, bits) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            // SAFETY: `effective` returned Avx2: the CPU has AVX2; bits covers bytes.
            unsafe { x86::classes_avx2(t, bytes, bits) }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => {
            // SAFETY: `effective` returned Neon: the CPU has NEON; bits covers bytes.
            unsafe { neon::classes_neon(t, bytes, bits) }
        }
        _ => scalar::classes(&classes.of, bytes, bits),
    }
}

/// The byte classes of `bytes` in `marks` (one word of each per 64 bytes,
/// `bytes.len().div_ceil(64)` of them), narrowed so that each word's
/// `OTHER` holds the candidates the confirmers look at. One dispatch for
/// both steps; the x86-64 paths count digits with POPCNT (every CPU with
/// AVX2 has it; without it a count is a dozen instructions a word).
fn mark_with(
    isa: Isa,
    classes: &Classes<CLASSES>,
    bytes: &[u8],
    marks: &mut [[u64; CLASSES]],
    digit_runs: bool,
) {
    debug_assert_eq!(marks.len(), bytes.len().div_ceil(64));
    let t = &classes.tables;
    match isa.effective() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            // SAFETY: `effective` returned Avx512: the CPU has AVX-512 F/BW,
            // AVX2 and POPCNT; marks covers bytes.
            unsafe { x86::mark_avx512(t, bytes, marks, digit_runs) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            // SAFETY: `effective` returned Avx2: the CPU has AVX2 and POPCNT;
            // marks covers bytes. (The sets past `live` are empty.)
            unsafe {
                with_live!(classes.live, |L| x86::mark_avx2::<L>(
                    t, bytes, marks, digit_runs
                ))
            }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => {
            // SAFETY: `effective` returned Neon: the CPU has NEON; marks covers bytes.
            unsafe { neon::classes_neon(t, bytes, marks) };
            narrow(marks, digit_runs)
        }
        _ => {
            with_live!(classes.live, |L| scalar::classes_live::<CLASSES, L>(
                &classes.of,
                bytes,
                marks
            ));
            narrow(marks, digit_runs)
        }
    }
}

/// [`Scanner::may_find`] without regexes, with `candidates` giving the
/// candidates of a text of 1 to 64 bytes (inlined: on AVX2 it is called
/// from a function with AVX2 enabled, whose closure inherits it).
#[inline(always)]
fn may_find_by<'a>(
    items: u64,
    shortest: usize,
    text: impl Fn(usize) -> Option<&'a str>,
    mut candidates: impl FnMut(&[u8]) -> u64,
) -> u64 {
    let mut out = 0;
    let mut rest = items;
    while rest != 0 {
        let i = rest.trailing_zeros() as usize;
        rest &= rest - 1;
        let may = match text(i) {
            None => true,
            Some(t) if t.len() < shortest || t.is_empty() => false,
            Some(t) if t.len() > 64 => true,
            Some(t) => candidates(t.as_bytes()) != 0,
        };
        out |= u64::from(may) << i;
    }
    out
}

/// The candidates of `bytes`, 1 to 64 bytes, as [`mark_with`] leaves
/// them in the `OTHER` word of its one word.
fn mark_one(isa: Isa, classes: &Classes<CLASSES>, bytes: &[u8], digit_runs: bool) -> u64 {
    debug_assert!(!bytes.is_empty() && bytes.len() <= 64);
    #[cfg(target_arch = "x86_64")]
    match isa.effective() {
        Isa::Avx512 => {
            // SAFETY: `effective` returned Avx512: the CPU has AVX-512 F/BW,
            // AVX2 and POPCNT; bytes is 1 to 64 bytes.
            return unsafe { x86::mark_one_avx512(&classes.tables, bytes, digit_runs) };
        }
        Isa::Avx2 => {
            let t = &classes.tables;
            // SAFETY: `effective` returned Avx2: the CPU has AVX2 and POPCNT;
            // bytes is 1 to 64 bytes. (The sets past `live` are empty.)
            return unsafe {
                with_live!(classes.live, |L| x86::mark_one_avx2::<L>(
                    t, bytes, digit_runs
                ))
            };
        }
        _ => {}
    }
    let mut marks = [[0u64; CLASSES]; 1];
    mark_with(isa, classes, bytes, &mut marks, digit_runs);
    marks[0][OTHER]
}

/// [`narrow`] after storing `last`, the class words of the last word when
/// `bytes` ends inside one: a value of one word (most values) is narrowed
/// in registers and stored once (stored and read back at once, its words
/// stall the reads).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn narrow_with_last(marks: &mut [[u64; CLASSES]], last: Option<[u64; CLASSES]>, digit_runs: bool) {
    if let Some(last) = last {
        if let [word] = marks {
            let mut one = [last];
            narrow(&mut one, digit_runs);
            *word = one[0];
            return;
        }
        if let Some(word) = marks.last_mut() {
            *word = last;
        }
    }
    narrow(marks, digit_runs);
}

/// Leaves in each word's `OTHER` the candidates (see [`mark_with`]).
#[inline(always)]
fn narrow(marks: &mut [[u64; CLASSES]], digit_runs: bool) {
    // The candidates, in each word's `OTHER`: the other triggers, and
    // the word-led ones that do not follow a word byte.
    let mut carry = 0;
    for m in marks.iter_mut() {
        let word = m[WORD];
        m[OTHER] |= m[WORD_LED] & !((word << 1) | carry);
        carry = word >> 63;
    }
    if digit_runs {
        // Fewer than 13 digits in the whole value: no card starts
        // anywhere, and no run needs a closer look.
        let total: u32 = marks.iter().map(|m| m[DIGIT].count_ones()).sum();
        let words_checked = if total < 13 {
            for m in marks.iter_mut() {
                m[OTHER] &= !m[DIGIT];
            }
            0
        } else {
            marks.len()
        };
        let mut carry = 0;
        for w in 0..words_checked {
            let d = marks[w][DIGIT];
            let mut run_starts = d & !((d << 1) | carry);
            // A card number's digits and the single separators between
            // them are 13 bytes or more in a row, each a digit or a byte
            // with a digit on both sides: a run start without 13 such
            // bytes from it starts no card (bit operations over this word
            // and the next, no loop over the starts; the byte before the
            // word is not needed: a byte at the word's start counts only
            // for a run starting there, and that byte is a digit).
            let next = marks.get(w + 1).map_or(0, |m| m[DIGIT]);
            let x = u128::from(d) | u128::from(next) << 64;
            let e = x | (!x & (x << 1) & (x >> 1));
            let e2 = e & (e >> 1);
            let e4 = e2 & (e2 >> 2);
            let e8 = e4 & (e4 >> 4);
            let e13 = e8 & (e4 >> 8) & (e >> 12);
            run_starts &= e13 as u64;
            carry = d >> 63;
            // A card number's first 13 digits lie within 25 bytes of
            // its start (one separator at most between two digits):
            // a run start with fewer digits there starts no card.
            let mut starts = run_starts;
            while starts != 0 {
                let c = w * 64 + starts.trailing_zeros() as usize;
                starts &= starts - 1;
                if digits_in(marks, c, CARD_WINDOW) < 13 {
                    run_starts &= !(1u64 << (c % 64));
                }
            }
            marks[w][OTHER] = (marks[w][OTHER] & !d) | run_starts;
        }
    }
}

/// Bytes from a card number's first digit to its thirteenth at most.
const CARD_WINDOW: usize = 25;

/// Digits marked in `marks` (one `DIGIT` bit per byte) in
/// `start..start + len`, `len` at most 64; bits past the end count as clear.
#[inline(always)]
fn digits_in(marks: &[[u64; CLASSES]], start: usize, len: usize) -> u32 {
    let (w, off) = (start / 64, start % 64);
    let lo = marks.get(w).map_or(0, |m| m[DIGIT] >> off);
    let hi = match (off, marks.get(w + 1)) {
        (0, _) | (_, None) => 0,
        (_, Some(m)) => m[DIGIT] << (64 - off),
    };
    let mask = if len >= 64 {
        u64::MAX
    } else {
        (1u64 << len) - 1
    };
    ((lo | hi) & mask).count_ones()
}

/// A card number starting at `c` (a digit not preceded by a digit): 13 to
/// 19 digits with single spaces or dashes between them, not followed by a
/// further digit, passing Luhn.
fn card_at(bytes: &[u8], c: usize) -> Option<usize> {
    if c > 0 && bytes[c - 1].is_ascii_digit() {
        return None;
    }
    let mut digits = [0u8; 20];
    let mut n = 0;
    let mut i = c;
    let mut end = c;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_digit() {
            if n == 20 {
                return None;
            }
            digits[n] = b;
            n += 1;
            i += 1;
            end = i;
        } else if (b == b' ' || b == b'-')
            && n > 0
            && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
        {
            i += 1;
        } else {
            break;
        }
    }
    ((SHORTEST_CARD..=19).contains(&n) && luhn(&digits[..n])).then_some(end)
}

/// An e-mail address around the `@` at `a`: a local part of up to 64
/// characters, not reaching before `floor`, and a domain with a dot and a
/// top-level label of two or more letters.
fn email_at(bytes: &[u8], a: usize, floor: usize) -> Option<(usize, usize)> {
    let low = floor.max(a.saturating_sub(64));
    let mut start = a;
    while start > low && is_local(bytes[start - 1]) {
        start -= 1;
    }
    while start < a && bytes[start] == b'.' {
        start += 1;
    }
    if start == a {
        return None;
    }
    let mut end = a + 1;
    while end < bytes.len() && end - a <= 255 && is_domain(bytes[end]) {
        end += 1;
    }
    while end > a + 1 && matches!(bytes[end - 1], b'.' | b'-') {
        end -= 1;
    }
    let domain = &bytes[a + 1..end];
    if domain.first().is_none_or(|&b| b == b'.' || b == b'-') {
        return None;
    }
    let dot = domain.iter().rposition(|&b| b == b'.')?;
    let tld = &domain[dot + 1..];
    (tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)).then_some((start, end))
}

/// The scalar twin of the prefilter.
pub mod scalar {
    /// Marks each byte of `bytes` in the sets its entry of `of` names
    /// (bit `k`: set `k`), one table read per byte, each word built in
    /// registers and stored once. (The tests' view of every set; the
    /// scanner calls [`classes_live`].)
    #[cfg(test)]
    pub(super) fn classes<const N: usize>(of: &[u8; 256], bytes: &[u8], bits: &mut [[u64; N]]) {
        classes_live::<N, N>(of, bytes, bits);
    }

    /// [`classes`] when the sets past the first `LIVE` are empty (their
    /// words are cleared without a look at the bytes).
    pub(super) fn classes_live<const N: usize, const LIVE: usize>(
        of: &[u8; 256],
        bytes: &[u8],
        bits: &mut [[u64; N]],
    ) {
        for (chunk, out) in bytes.chunks(64).zip(bits.iter_mut()) {
            let mut words = [0u64; N];
            for (i, &b) in chunk.iter().enumerate() {
                let c = of[usize::from(b)];
                for (k, word) in words.iter_mut().enumerate().take(LIVE) {
                    *word |= u64::from(c >> k & 1) << i;
                }
            }
            *out = words;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{ByteSetTables, CLASSES};
    use core::arch::x86_64::*;

    /// `1 << (h & 7)` for each high nibble `h`.
    const BIT: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];

    /// [`super::mark_with`] on AVX2, looking at the first `LIVE` sets only
    /// (exact when the others are empty).
    ///
    /// # Safety
    /// The CPU must support AVX2 and POPCNT; `marks` holds `bytes.len()`
    /// bits per set.
    #[target_feature(enable = "avx2,popcnt")]
    pub(super) unsafe fn mark_avx2<const LIVE: usize>(
        t: &[ByteSetTables; CLASSES],
        bytes: &[u8],
        marks: &mut [[u64; CLASSES]],
        digit_runs: bool,
    ) {
        // SAFETY: BIT is 16 bytes.
        let bit = _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(BIT.as_ptr().cast()) });
        let full = bytes.len() / 64;
        // SAFETY: the CPU has AVX2; marks[..full] covers bytes[..full * 64].
        unsafe { full_words::<_, LIVE>(t, &bytes[..full * 64], &mut marks[..full], bit) };
        let last = if full < marks.len() {
            // SAFETY: the CPU has AVX2; bytes[full * 64..] is 1 to 63 bytes.
            Some(unsafe { last_word::<_, LIVE>(t, bytes, full * 64, bit) })
        } else {
            None
        };
        super::narrow_with_last(marks, last, digit_runs);
    }

    /// [`super::mark_one`] on AVX2: the word is built and narrowed in
    /// registers, from the first `LIVE` sets (exact when the others are
    /// empty).
    ///
    /// # Safety
    /// The CPU must support AVX2 and POPCNT; `bytes` is 1 to 64 bytes.
    #[target_feature(enable = "avx2,popcnt")]
    pub(super) unsafe fn mark_one_avx2<const LIVE: usize>(
        t: &[ByteSetTables; CLASSES],
        bytes: &[u8],
        digit_runs: bool,
    ) -> u64 {
        // SAFETY: BIT is 16 bytes.
        let bit = _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(BIT.as_ptr().cast()) });
        // SAFETY: the CPU has AVX2; 0 < bytes.len() <= 64.
        let mut one = [unsafe { last_word::<_, LIVE>(t, bytes, 0, bit) }];
        super::narrow(&mut one, digit_runs);
        one[0][super::OTHER]
    }

    /// [`super::Scanner::may_find`] on AVX2, without regexes: each text's
    /// word built and narrowed in registers, in one loop over the items,
    /// from the first `LIVE` sets (exact when the others are empty).
    ///
    /// # Safety
    /// The CPU must support AVX2 and POPCNT.
    #[target_feature(enable = "avx2,popcnt")]
    pub(super) unsafe fn may_find_avx2<'a, const LIVE: usize, F>(
        t: &[ByteSetTables; CLASSES],
        shortest: usize,
        digit_runs: bool,
        items: u64,
        text: F,
    ) -> u64
    where
        F: Fn(usize) -> Option<&'a str>,
    {
        // SAFETY: BIT is 16 bytes.
        let bit = _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(BIT.as_ptr().cast()) });
        super::may_find_by(items, shortest, text, |bytes| {
            // SAFETY: the CPU has AVX2; `may_find_by` passes 1 to 64 bytes.
            let mut one = [unsafe { last_word::<_, LIVE>(t, bytes, 0, bit) }];
            super::narrow(&mut one, digit_runs);
            one[0][super::OTHER]
        })
    }

    /// [`super::mark_one`] on AVX-512.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F and BW and POPCNT; `bytes` is 1 to
    /// 64 bytes.
    #[target_feature(enable = "avx512f,avx512bw,popcnt")]
    pub(super) unsafe fn mark_one_avx512(
        t: &[ByteSetTables; CLASSES],
        bytes: &[u8],
        digit_runs: bool,
    ) -> u64 {
        let sets = Sets512::new(t);
        let mut one = if bytes.len() == 64 {
            // SAFETY: bytes is 64 bytes.
            [sets.masks(unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) })]
        } else {
            // SAFETY: the CPU has AVX-512 F/BW; bytes is 1 to 63 bytes.
            [unsafe { last_word512(&sets, bytes) }]
        };
        super::narrow(&mut one, digit_runs);
        one[0][super::OTHER]
    }

    /// [`super::mark_with`] on AVX-512.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F and BW and POPCNT; `marks` holds
    /// `bytes.len()` bits per set.
    #[target_feature(enable = "avx512f,avx512bw,popcnt")]
    pub(super) unsafe fn mark_avx512(
        t: &[ByteSetTables; CLASSES],
        bytes: &[u8],
        marks: &mut [[u64; CLASSES]],
        digit_runs: bool,
    ) {
        let sets = Sets512::new(t);
        let full = bytes.len() / 64;
        // SAFETY: the CPU has AVX-512 F/BW; marks[..full] covers bytes[..full * 64].
        unsafe { full_words512(&sets, &bytes[..full * 64], &mut marks[..full]) };
        let last = if full < marks.len() {
            // SAFETY: the CPU has AVX-512 F/BW; bytes[full * 64..] is 1 to 63 bytes.
            Some(unsafe { last_word512(&sets, &bytes[full * 64..]) })
        } else {
            None
        };
        super::narrow_with_last(marks, last, digit_runs);
    }

    /// What the byte-set test needs of 32 bytes `x`, shared by the sets:
    /// `x` with its high bit flipped (the index of the table for bytes
    /// 0x80-0xff), and `1 << (h & 7)` for each byte's high nibble `h`.
    #[derive(Clone, Copy)]
    struct Lanes32 {
        x: __m256i,
        flipped: __m256i,
        nibble_bit: __m256i,
    }

    #[target_feature(enable = "avx2")]
    fn lanes32(x: __m256i, bit: __m256i) -> Lanes32 {
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(x), _mm256_set1_epi8(0x0f));
        Lanes32 {
            x,
            flipped: _mm256_xor_si256(x, _mm256_set1_epi8(-0x80)),
            nibble_bit: _mm256_shuffle_epi8(bit, hi),
        }
    }

    /// The bytes of `l` in the set of tables `t`, as a bit mask. The
    /// tables are read where they are used: a value of a few dozen bytes
    /// uses each once or twice, and tables kept in registers for a whole
    /// call are stored to the stack and read back.
    /// `ASCII`: no byte of `l` is above 0x7f (the high table is not read).
    #[target_feature(enable = "avx2")]
    fn mask32<const ASCII: bool>(l: Lanes32, t: &ByteSetTables) -> u32 {
        // SAFETY: the table is 16 bytes.
        let ascii =
            unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(t.ascii.as_ptr().cast())) };
        // A shuffle reads its table at the index's low nibble and gives
        // zero where the index's high bit is set: the ASCII table answers
        // for bytes below 0x80, the high one (indexed by the flipped
        // byte) for the others.
        let row = if ASCII {
            _mm256_shuffle_epi8(ascii, l.x)
        } else {
            // SAFETY: the table is 16 bytes.
            let high =
                unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(t.high.as_ptr().cast())) };
            _mm256_or_si256(
                _mm256_shuffle_epi8(ascii, l.x),
                _mm256_shuffle_epi8(high, l.flipped),
            )
        };
        // One bit per byte in `nibble_bit`: the hit has it or is zero.
        let hit = _mm256_and_si256(row, l.nibble_bit);
        _mm256_movemask_epi8(_mm256_cmpeq_epi8(hit, l.nibble_bit)) as u32
    }

    /// The masks of the first `LIVE` of the `N` sets over 32 bytes `x`
    /// (the others' are zero).
    #[target_feature(enable = "avx2")]
    fn masks32<const N: usize, const LIVE: usize>(
        x: __m256i,
        t: &[ByteSetTables; N],
        bit: __m256i,
    ) -> [u32; N] {
        let l = lanes32(x, bit);
        let mut out = [0; N];
        // Most values are ASCII: their bytes need no high table.
        if _mm256_movemask_epi8(x) == 0 {
            for (o, t) in out.iter_mut().zip(t).take(LIVE) {
                *o = mask32::<true>(l, t);
            }
        } else {
            for (o, t) in out.iter_mut().zip(t).take(LIVE) {
                *o = mask32::<false>(l, t);
            }
        }
        out
    }

    /// Shuffle indices that move a 16-byte vector down: loaded from
    /// `SHIFT_DOWN[s..]`, byte `k` takes byte `k + s` (zero past the end).
    const SHIFT_DOWN: [i8; 32] = [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, -128, -128, -128, -128, -128, -128,
        -128, -128, -128, -128, -128, -128, -128, -128, -128, -128,
    ];

    /// # Safety
    /// The CPU must support AVX2; `bits` holds `bytes.len()` bits per set
    /// (each word is written).
    #[cfg(test)]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn classes_avx2<const N: usize>(
        t: &[ByteSetTables; N],
        bytes: &[u8],
        bits: &mut [[u64; N]],
    ) {
        // SAFETY: BIT is 16 bytes.
        let bit = _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(BIT.as_ptr().cast()) });
        let full = bytes.len() / 64;
        // SAFETY: the CPU has AVX2; bits[..full] covers bytes[..full * 64].
        unsafe { full_words::<N, N>(t, &bytes[..full * 64], &mut bits[..full], bit) };
        if full < bits.len() && full * 64 < bytes.len() {
            // SAFETY: the CPU has AVX2; bytes[full * 64..] is 1 to 63 bytes.
            bits[full] = unsafe { last_word::<N, N>(t, bytes, full * 64, bit) };
        }
    }

    /// The class words of the whole words of `bytes`, one per 64 bytes, of
    /// the first `LIVE` sets (the others' are zero).
    ///
    /// # Safety
    /// The CPU must support AVX2; `bits.len() * 64 == bytes.len()`.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn full_words<const N: usize, const LIVE: usize>(
        t: &[ByteSetTables; N],
        bytes: &[u8],
        bits: &mut [[u64; N]],
        bit: __m256i,
    ) {
        for (chunk, out) in bytes.chunks_exact(64).zip(bits) {
            // SAFETY: chunk is 64 bytes.
            let (a, b) = unsafe {
                (
                    _mm256_loadu_si256(chunk.as_ptr().cast()),
                    _mm256_loadu_si256(chunk.as_ptr().add(32).cast()),
                )
            };
            let (lo, hi) = (masks32::<N, LIVE>(a, t, bit), masks32::<N, LIVE>(b, t, bit));
            for (w, (lo, hi)) in out.iter_mut().zip(lo.into_iter().zip(hi)) {
                *w = u64::from(lo) | u64::from(hi) << 32;
            }
        }
    }

    /// The class words of `bytes[i..]`, 1 to 64 bytes (the last word of
    /// `bytes`, or a whole value of one word), built in registers and returned (a word stored
    /// and then updated in memory stalls the update's load).
    ///
    /// Inlined into its callers, which run with AVX2 (a function with
    /// `target_feature` is inlined only where the compiler sees fit: a
    /// call, and its words returned through memory, cost a value of one
    /// word a sixth of its scan).
    ///
    /// Only the first `LIVE` sets are looked at; the others' words are zero.
    ///
    /// # Safety
    /// The CPU must support AVX2; `i < bytes.len() <= i + 64`.
    #[inline(always)]
    unsafe fn last_word<const N: usize, const LIVE: usize>(
        t: &[ByteSetTables; N],
        bytes: &[u8],
        mut i: usize,
        bit: __m256i,
    ) -> [u64; N] {
        debug_assert!(i < bytes.len() && bytes.len() <= i + 64);
        let mut part = [0u64; N];
        if i + 32 <= bytes.len() {
            // SAFETY: bytes[i..i + 32] is in bounds.
            let a = unsafe { _mm256_loadu_si256(bytes.as_ptr().add(i).cast()) };
            // SAFETY: the CPU has AVX2 (this function's contract).
            for (p, m) in part
                .iter_mut()
                .zip(unsafe { masks32::<N, LIVE>(a, t, bit) })
            {
                *p = u64::from(m);
            }
            i += 32;
        }
        let n = bytes.len();
        let tail = n - i;
        if tail == 0 {
            return part;
        }
        let p = bytes.as_ptr();
        // AVX2 has no masked byte load; every load below stays inside
        // `bytes`. From 32 bytes on, the last 32 are loaded and the bits
        // of those looked at already shifted out; a shorter value is put
        // together with its bytes in place and zeros after them (whose
        // bits are cleared: NUL may be in a set).
        if n >= 32 {
            // SAFETY: bytes[n - 32..n] is in bounds.
            let a = unsafe { _mm256_loadu_si256(p.add(n - 32).cast()) };
            let shift = (32 - tail) as u32;
            // SAFETY: the CPU has AVX2 (this function's contract).
            for (p, m) in part
                .iter_mut()
                .zip(unsafe { masks32::<N, LIVE>(a, t, bit) })
            {
                *p |= u64::from(m >> shift) << (i % 64);
            }
            return part;
        }
        // Under 32 bytes: the value's only word (`i` is 0), in the low half.
        let x = if n >= 16 {
            // SAFETY: bytes[0..16] and bytes[n - 16..n] are in bounds,
            // and SHIFT_DOWN[32 - n..48 - n] (n is 16 to 31).
            unsafe {
                let lo = _mm_loadu_si128(p.cast());
                let hi = _mm_loadu_si128(p.add(n - 16).cast());
                // bytes[16..n] moved to the start of the high half.
                let down = _mm_loadu_si128(SHIFT_DOWN.as_ptr().add(32 - n).cast());
                _mm256_set_m128i(_mm_shuffle_epi8(hi, down), lo)
            }
        } else {
            // The first and the last (up to) eight bytes as integers,
            // the overlap shifted out.
            let (lo, hi) = if n >= 8 {
                // SAFETY: bytes[0..8] and bytes[n - 8..n] are in bounds.
                let (lo, hi) = unsafe {
                    (
                        p.cast::<u64>().read_unaligned(),
                        p.add(n - 8).cast::<u64>().read_unaligned(),
                    )
                };
                (lo, hi.checked_shr(8 * (16 - n) as u32).unwrap_or(0))
            } else if n >= 4 {
                // SAFETY: bytes[0..4] and bytes[n - 4..n] are in bounds.
                let (lo, hi) = unsafe {
                    (
                        p.cast::<u32>().read_unaligned(),
                        p.add(n - 4).cast::<u32>().read_unaligned(),
                    )
                };
                let hi = hi.checked_shr(8 * (8 - n) as u32).unwrap_or(0);
                (u64::from(lo) | u64::from(hi) << 32, 0)
            } else {
                let mut pad = [0u8; 8];
                pad[..n].copy_from_slice(bytes);
                (u64::from_le_bytes(pad), 0)
            };
            // SAFETY: the CPU has AVX2 (this function's contract).
            unsafe { _mm256_set_epi64x(0, 0, hi as i64, lo as i64) }
        };
        let keep = (1u32 << n) - 1;
        // SAFETY: the CPU has AVX2 (this function's contract).
        unsafe { masks32::<N, LIVE>(x, t, bit) }.map(|m| u64::from(m & keep))
    }

    /// The trigger bytes among 64, as a bit mask.
    #[target_feature(enable = "avx512f,avx512bw")]
    fn mask64(x: __m512i, ascii: __m512i, high: __m512i, bit: __m512i) -> u64 {
        let nib = _mm512_set1_epi8(0x0f);
        let lo = _mm512_and_si512(x, nib);
        let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(x), nib);
        let row = _mm512_mask_blend_epi8(
            _mm512_movepi8_mask(x),
            _mm512_shuffle_epi8(ascii, lo),
            _mm512_shuffle_epi8(high, lo),
        );
        _mm512_test_epi8_mask(row, _mm512_shuffle_epi8(bit, hi))
    }

    /// The `N` sets' tables, and [`BIT`], in registers.
    struct Sets512<const N: usize> {
        ascii: [__m512i; N],
        high: [__m512i; N],
        bit: __m512i,
    }

    impl<const N: usize> Sets512<N> {
        #[inline]
        #[target_feature(enable = "avx512f")]
        fn new(t: &[ByteSetTables; N]) -> Self {
            // SAFETY: BIT and each table are 16 bytes.
            let load = |p: &[u8; 16]| unsafe {
                _mm512_broadcast_i32x4(_mm_loadu_si128(p.as_ptr().cast()))
            };
            Sets512 {
                ascii: std::array::from_fn(|k| load(&t[k].ascii)),
                high: std::array::from_fn(|k| load(&t[k].high)),
                bit: load(&BIT),
            }
        }

        /// The masks of the sets over the 64 bytes `x`.
        #[inline]
        #[target_feature(enable = "avx512f,avx512bw")]
        fn masks(&self, x: __m512i) -> [u64; N] {
            std::array::from_fn(|k| mask64(x, self.ascii[k], self.high[k], self.bit))
        }
    }

    /// # Safety
    /// The CPU must support AVX-512 F and BW; `bits` holds `bytes.len()`
    /// bits per set (each word is written).
    #[cfg(test)]
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn classes_avx512<const N: usize>(
        t: &[ByteSetTables; N],
        bytes: &[u8],
        bits: &mut [[u64; N]],
    ) {
        let sets = Sets512::new(t);
        let full = bytes.len() / 64;
        // SAFETY: the CPU has AVX-512 F/BW; bits[..full] covers bytes[..full * 64].
        unsafe { full_words512(&sets, &bytes[..full * 64], &mut bits[..full]) };
        if full < bits.len() && full * 64 < bytes.len() {
            // SAFETY: the CPU has AVX-512 F/BW; bytes[full * 64..] is 1 to 63 bytes.
            bits[full] = unsafe { last_word512(&sets, &bytes[full * 64..]) };
        }
    }

    /// The class words of the whole words of `bytes`, one per 64 bytes.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F and BW; `bits.len() * 64 == bytes.len()`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn full_words512<const N: usize>(
        sets: &Sets512<N>,
        bytes: &[u8],
        bits: &mut [[u64; N]],
    ) {
        for (chunk, out) in bytes.chunks_exact(64).zip(bits) {
            // SAFETY: chunk is 64 bytes.
            let x = unsafe { _mm512_loadu_si512(chunk.as_ptr().cast()) };
            *out = sets.masks(x);
        }
    }

    /// The class words of `tail`, 1 to 63 bytes, read with a masked load
    /// (lanes past the end are neither read nor set).
    ///
    /// # Safety
    /// The CPU must support AVX-512 F and BW; `0 < tail.len() < 64`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn last_word512<const N: usize>(sets: &Sets512<N>, tail: &[u8]) -> [u64; N] {
        debug_assert!(!tail.is_empty() && tail.len() < 64);
        let m: u64 = (1u64 << tail.len()) - 1;
        // SAFETY: the mask limits the access to tail[..len], which is in bounds.
        let x = unsafe { _mm512_maskz_loadu_epi8(m, tail.as_ptr().cast()) };
        sets.masks(x).map(|w| w & m)
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::ByteSetTables;
    use core::arch::aarch64::*;

    /// `1 << (h & 7)` for each high nibble `h`; also the weight of each
    /// byte's bit within its group of eight when the hits become a mask.
    const BIT: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];

    /// The tables the byte-set test uses.
    #[derive(Clone, Copy)]
    struct Tables {
        ascii: uint8x16_t,
        high: uint8x16_t,
        bit: uint8x16_t,
    }

    /// All ones in each byte of `x` that is in the set, zero elsewhere.
    #[target_feature(enable = "neon")]
    fn hits(x: uint8x16_t, t: &Tables) -> uint8x16_t {
        let lo = vandq_u8(x, vdupq_n_u8(0x0f));
        let hi = vshrq_n_u8::<4>(x);
        // The high bit of each byte picks the table for high nibbles 8-15.
        let row = vbslq_u8(
            vcltzq_s8(vreinterpretq_s8_u8(x)),
            vqtbl1q_u8(t.high, lo),
            vqtbl1q_u8(t.ascii, lo),
        );
        vtstq_u8(row, vqtbl1q_u8(t.bit, hi))
    }

    /// The trigger bytes among the 64 at `p`, as a bit mask.
    ///
    /// # Safety
    /// The CPU must support NEON and 64 bytes must be readable at `p`.
    #[target_feature(enable = "neon")]
    unsafe fn mask64(p: *const u8, t: &Tables) -> u64 {
        // SAFETY: the caller guarantees 64 readable bytes at `p`.
        let x = unsafe { vld1q_u8_x4(p) };
        let (h0, h1, h2, h3) = (
            vandq_u8(hits(x.0, t), t.bit),
            vandq_u8(hits(x.1, t), t.bit),
            vandq_u8(hits(x.2, t), t.bit),
            vandq_u8(hits(x.3, t), t.bit),
        );
        // Pairwise additions sum each group of eight weighted bytes into
        // one byte, the groups in memory order.
        let s = vpaddq_u8(vpaddq_u8(h0, h1), vpaddq_u8(h2, h3));
        let s = vpaddq_u8(s, s);
        vgetq_lane_u64::<0>(vreinterpretq_u64_u8(s))
    }

    /// # Safety
    /// The CPU must support NEON; `bits` holds `bytes.len()` bits per set
    /// (each word is written).
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn classes_neon<const N: usize>(
        t: &[ByteSetTables; N],
        bytes: &[u8],
        bits: &mut [[u64; N]],
    ) {
        // SAFETY: BIT is 16 bytes.
        let bit = unsafe { vld1q_u8(BIT.as_ptr()) };
        let zero = vdupq_n_u8(0);
        let mut tables = [Tables {
            ascii: zero,
            high: zero,
            bit,
        }; N];
        for k in 0..N {
            // SAFETY: each table is 16 bytes.
            unsafe {
                tables[k].ascii = vld1q_u8(t[k].ascii.as_ptr());
                tables[k].high = vld1q_u8(t[k].high.as_ptr());
            }
        }
        let mut i = 0;
        while i + 64 <= bytes.len() {
            for k in 0..N {
                // SAFETY: bytes[i..i + 64] is in bounds.
                bits[i / 64][k] = unsafe { mask64(bytes.as_ptr().add(i), &tables[k]) };
            }
            i += 64;
        }
        let tail = bytes.len() - i;
        if tail > 0 {
            // The last bytes go through a zero-padded copy, and the bits
            // past the end are cleared.
            let mut pad = [0u8; 64];
            pad[..tail].copy_from_slice(&bytes[i..]);
            for k in 0..N {
                // SAFETY: `pad` is 64 bytes.
                let m = unsafe { mask64(pad.as_ptr(), &tables[k]) };
                bits[i / 64][k] = m & ((1u64 << tail) - 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scanner() -> Scanner {
        Scanner::builder()
            .with_emails(true)
            .with_cards(true)
            .with_default_prefixes()
            .with_literal("hunter2")
            .with_literal("é-secret")
            .with_regex(Regex::new(r"\bSSN-\d{3}\b").unwrap())
            .build()
    }

    /// The findings with every trigger byte confirmed: no word or digit-run
    /// filter between the byte-set test and the confirmers.
    fn unfiltered(s: &Scanner, text: &str) -> Vec<Finding> {
        let mut bits = vec![0u64; text.len().div_ceil(64)];
        let trigger = 1 << OTHER | 1 << WORD_LED;
        for (i, &b) in text.as_bytes().iter().enumerate() {
            if s.classes.of[usize::from(b)] & trigger != 0 {
                bits[i / 64] |= 1 << (i % 64);
            }
        }
        let mut out = Vec::new();
        s.confirm_marked(text, bits.into_iter(), &mut out);
        out
    }

    fn masked(s: &Scanner, isa: Isa, text: &str) -> String {
        let mut out = String::new();
        s.mask_with(isa, text, "****", &mut Vec::new(), &mut out);
        out
    }

    #[test]
    fn finds_and_masks_each_kind() {
        let s = scanner();
        let cases = [
            ("mail john.doe+x@example.co.uk now", "mail **** now"),
            ("card 4111 1111 1111 1111 ok", "card **** ok"),
            (
                "card 4111-1111-1111-1112 bad luhn",
                "card 4111-1111-1111-1112 bad luhn",
            ),
            (
                "Authorization: Bearer abc.def-123_XYZ",
                "Authorization: Bearer ****",
            ),
            ("key=sk_live_51HqLyjWDarjtT1zdp7dc end", "key=**** end"),
            (
                "task_live_51HqLyjWDarjtT1zdp7dc",
                "task_live_51HqLyjWDarjtT1zdp7dc",
            ),
            ("pw hunter2!", "pw ****!"),
            ("x é-secret y", "x **** y"),
            ("id SSN-123 z", "id **** z"),
            (
                "no @ here, a@b, a@b.c, 12345",
                "no @ here, a@b, a@b.c, 12345",
            ),
            (
                "ids 12345678901234567890123 long",
                "ids 12345678901234567890123 long",
            ),
        ];
        for isa in Isa::available() {
            for (text, want) in cases {
                assert_eq!(masked(&s, isa, text), want, "{isa:?}");
            }
        }
    }

    #[test]
    fn one_byte_literals_and_prefixes() {
        // No second byte to check before the whole text.
        let s = Scanner::builder()
            .with_literal("#")
            .with_prefix(Prefix::new("$", 4))
            .build();
        for isa in Isa::available() {
            assert_eq!(
                masked(&s, isa, "a#b $abcd x$abcd $ab #"),
                "a****b **** x$abcd $ab ****"
            );
        }
    }

    #[test]
    fn long_values_match_scalar() {
        // Past the marks kept on the stack (256 bytes of text).
        let s = scanner();
        let text = "x john@example.com 4111 1111 1111 1111 Bearer abcdefghij é ".repeat(40);
        let mut want = Vec::new();
        s.find_with(Isa::Scalar, &text, &mut want);
        assert_eq!(want.len(), 120);
        for isa in Isa::available() {
            let mut got = Vec::new();
            s.find_with(isa, &text, &mut got);
            assert_eq!(got, want, "{isa:?}");
        }
    }

    #[test]
    fn candidates_match_scalar_at_every_length_and_offset() {
        // Every tail shape of the vector paths (overlapping loads of 4, 8,
        // 16 and 32 bytes, the padded copy below 4), at every alignment,
        // for a scanner with word-led prefixes and one without any (which
        // marks two classes of four).
        let unled = Scanner::builder()
            .with_emails(true)
            .with_cards(true)
            .with_prefix(Prefix::new("Bearer ", 8))
            .with_literal("hunter2")
            .build();
        assert_eq!(
            (scanner().classes.live, unled.classes.live),
            (CLASSES, UNLED)
        );
        // The second text has digit runs long enough for card numbers.
        let texts = [
            "a@b 4x Bearer é_sk-9 hunter2 zz@@1 ".repeat(8),
            "4111 1111 1111 1111 x 5500-0000-0000-0004 12345678901234 ".repeat(5),
        ];
        for (s, text) in [scanner(), unled]
            .iter()
            .flat_map(|s| texts.iter().map(move |t| (s, t)))
        {
            let bytes = text.as_bytes();
            for start in 0..8 {
                for len in 0..=(bytes.len() - start).min(140) {
                    let b = &bytes[start..start + len];
                    let mut want = vec![u64::MAX; len.div_ceil(64)];
                    s.candidates_with(Isa::Scalar, b, &mut want);
                    let mut want_classes = vec![[0u64; CLASSES]; len.div_ceil(64)];
                    scalar::classes(&s.classes.of, b, &mut want_classes);
                    for isa in Isa::available() {
                        let mut got = vec![u64::MAX; len.div_ceil(64)];
                        s.candidates_with(isa, b, &mut got);
                        assert_eq!(got, want, "{isa:?} start {start} len {len}");
                        if (1..=64).contains(&len) {
                            // `find_with`'s path for a value of one word.
                            let one = mark_one(isa, &s.classes, b, s.digit_runs);
                            assert_eq!(one, want[0], "{isa:?} one word, start {start} len {len}");
                        }
                        let mut got = vec![[u64::MAX; CLASSES]; len.div_ceil(64)];
                        fill_classes(isa, &s.classes, b, &mut got);
                        assert_eq!(got, want_classes, "{isa:?} start {start} len {len}");
                    }
                }
            }
        }
    }

    /// A text just long enough for the shortest finding of each kind is
    /// scanned (a shorter one is not marked at all), and so is a short
    /// text for the regexes.
    #[test]
    fn the_shortest_findings_are_found() {
        let cases = [
            (Scanner::builder().with_emails(true), "a@b.cd", Kind::Email),
            (
                Scanner::builder().with_cards(true),
                "4222222222222",
                Kind::Card,
            ),
            (
                Scanner::builder().with_prefix(Prefix::new("sk-", 2)),
                "sk-ab",
                Kind::Prefix(0),
            ),
            (
                Scanner::builder().with_emails(true).with_literal("pw"),
                "pw",
                Kind::Literal(0),
            ),
            (
                Scanner::builder()
                    .with_cards(true)
                    .with_regex(Regex::new("x").expect("regex")),
                "x",
                Kind::Regex(0),
            ),
        ];
        for (builder, text, kind) in cases {
            let s = builder.build();
            assert_eq!(s.shortest_finding(), text.len(), "{text:?}");
            for isa in Isa::available() {
                let mut got = Vec::new();
                s.find_with(isa, text, &mut got);
                let want = Finding {
                    start: 0,
                    end: text.len(),
                    kind,
                };
                assert_eq!(got, [want], "{text:?} {isa:?}");
                // One byte short, nothing is left to find.
                let short = &text[..text.len() - 1];
                s.find_with(isa, short, &mut got);
                assert_eq!(got, [], "{short:?} {isa:?}");
            }
        }
    }

    /// The edges `may_find`'s random texts seldom reach: a text of 64
    /// bytes without candidates (left out) and of 65 (kept), and a
    /// scanner with a regex (every item kept).
    #[test]
    fn may_find_at_the_word_edge_and_with_regexes() {
        let s = Scanner::builder()
            .with_emails(true)
            .with_cards(true)
            .build();
        let texts = [
            "k".repeat(64),
            "k".repeat(65),
            format!("{}@", "k".repeat(63)),
            "k".repeat(63),
        ];
        let text = |i: usize| Some(texts[i].as_str());
        let with_re = Scanner::builder()
            .with_emails(true)
            .with_regex(Regex::new("k").unwrap())
            .build();
        for isa in Isa::available() {
            assert_eq!(s.may_find(isa, 0b1111, text), 0b0110, "{isa:?}");
            assert_eq!(with_re.may_find(isa, 0b1111, text), 0b1111, "{isa:?}");
            let mut found = Vec::new();
            assert_eq!(with_re.find_with(isa, &texts[0], &mut found), 64, "{isa:?}");
        }
    }

    #[test]
    fn a_prefix_with_any_token_length_builds() {
        let s = Scanner::builder()
            .with_prefix(Prefix::new("sk-", usize::MAX))
            .build();
        let mut got = Vec::new();
        assert_eq!(s.find("sk-abc", &mut got), 0);
        assert_eq!(s.shortest_finding(), usize::MAX);
    }

    #[test]
    fn luhn_known_numbers() {
        assert!(luhn(b"4111111111111111"));
        assert!(luhn(b"378282246310005"));
        assert!(!luhn(b"4111111111111112"));
    }

    fn text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            4 => "[a-z .@0-9_-]{0,30}",
            2 => prop::sample::select(vec![
                "4111 1111 1111 1111", "john@example.com", "Bearer abcdefghij", "sk_live_abcdefghijklmnopq",
                "hunter2", "é-secret", "SSN-123", "@@", "a.b@c.de", "AKIAABCDEFGHIJKLMNOP", "ghp_",
            ]).prop_map(str::to_owned),
            1 => any::<String>(),
        ];
        prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn prefilter_matches_scalar_on_any_bytes(
            firsts in prop::collection::vec(any::<char>(), 0..12),
            nul in any::<bool>(),
            bytes in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            // Literals give the set its bytes: any leading UTF-8 byte, and
            // NUL, which the zero padding of a tail must not report.
            let mut b = Scanner::builder();
            for c in firsts {
                b = b.with_literal(c.to_string());
            }
            if nul {
                b = b.with_literal("\0");
            }
            let s = b.with_default_prefixes().with_cards(true).build();
            let words = bytes.len().div_ceil(64);
            let mut want = vec![u64::MAX; words];
            s.candidates_with(Isa::Scalar, &bytes, &mut want);
            let mut want_classes = vec![[0; CLASSES]; words];
            scalar::classes(&s.classes.of, &bytes, &mut want_classes);
            for isa in Isa::available() {
                let mut got = vec![u64::MAX; words];
                s.candidates_with(isa, &bytes, &mut got);
                prop_assert_eq!(&got, &want, "{:?}", isa);
                let mut got = vec![[u64::MAX; CLASSES]; words];
                fill_classes(isa, &s.classes, &bytes, &mut got);
                prop_assert_eq!(&got, &want_classes, "{:?}", isa);
            }
        }

        #[test]
        fn every_isa_matches_scalar(text in text()) {
            let s = scanner();
            let mut want = Vec::new();
            s.find_with(Isa::Scalar, &text, &mut want);
            for w in want.windows(2) {
                prop_assert!(w[0].end <= w[1].start);
            }
            // Confirming every digit, not only run starts, finds the same.
            prop_assert!(s.digit_runs);
            let mut every_digit = s.clone();
            every_digit.digit_runs = false;
            let mut plain = Vec::new();
            every_digit.find_with(Isa::Scalar, &text, &mut plain);
            prop_assert_eq!(&plain, &want);
            // So does confirming every trigger byte, in a word or not.
            prop_assert_eq!(&unfiltered(&s, &text), &want);
            for isa in Isa::available() {
                let mut got = Vec::new();
                s.find_with(isa, &text, &mut got);
                prop_assert_eq!(&got, &want, "{:?}", isa);
                // The candidates themselves agree bit for bit.
                let words = text.len().div_ceil(64);
                let (mut want_bits, mut got_bits) = (vec![0; words], vec![u64::MAX; words]);
                s.candidates_with(Isa::Scalar, text.as_bytes(), &mut want_bits);
                s.candidates_with(isa, text.as_bytes(), &mut got_bits);
                prop_assert_eq!(&got_bits, &want_bits, "{:?}", isa);
            }
        }
    }

    /// The findings with a candidate at every byte: no prefilter at all.
    fn every_byte(s: &Scanner, text: &str) -> Vec<Finding> {
        let mut bits = vec![0u64; text.len().div_ceil(64)];
        for i in 0..text.len() {
            bits[i / 64] |= 1 << (i % 64);
        }
        let mut out = Vec::new();
        s.confirm_marked(text, bits.into_iter(), &mut out);
        out
    }

    /// Bytes that are triggers, word bytes, separators, non-ASCII and NUL.
    fn atom() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "s", "k", "-", "_", " ", "@", "1", "4", "é", "a", ".", "\0", "ÿ", "\u{80}", "x", "Z",
        ])
        .prop_map(str::to_owned)
    }

    fn config_text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            6 => atom(),
            1 => prop::sample::select(vec![
                "4111 1111 1111 1111", "john@example.com", "Bearer abcdefghij",
                "sk-abcdefghijklmnopqrstu", "x_sk-aaaaaaaaaaaaaaaaaaaaaaa", "é-secret",
                "a.b@c.de", "AKIAABCDEFGHIJKLMNOP", "378282246310005", "0000000000000",
            ]).prop_map(str::to_owned),
            1 => any::<String>(),
        ];
        prop::collection::vec(piece, 0..80).prop_map(|v| v.concat())
    }

    /// E-mails and cards on or off, the default prefixes or not, and
    /// custom prefixes (some ending in a space) and literals sharing their
    /// first bytes with each other, with digits and with `@`.
    fn any_scanner() -> impl Strategy<Value = Scanner> {
        let short = || prop::collection::vec(atom(), 1..5).prop_map(|v| v.concat());
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            prop::collection::vec((short(), 1usize..6, any::<bool>()), 0..5),
            prop::collection::vec(short(), 0..4),
        )
            .prop_map(|(emails, cards, defaults, prefixes, literals)| {
                let mut b = Scanner::builder().with_emails(emails).with_cards(cards);
                if defaults {
                    b = b.with_default_prefixes();
                }
                for (p, n, space) in prefixes {
                    let p = if space { format!("{p} ") } else { p };
                    b = b.with_prefix(Prefix::new(p, n));
                }
                for l in literals {
                    b = b.with_literal(l);
                }
                b.build()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn may_find_keeps_every_text_with_a_finding(
            s in any_scanner(),
            texts in prop::collection::vec(prop::option::weighted(0.9, config_text()), 0..=64),
        ) {
            let items = if texts.len() == 64 { u64::MAX } else { (1u64 << texts.len()) - 1 };
            let text = |i: usize| texts[i].as_deref();
            // What it must give: every text that may hold a finding by its
            // length and candidates, and those with no text.
            let mut want = 0u64;
            for (i, t) in texts.iter().enumerate() {
                let may = match t {
                    None => true,
                    Some(t) if !s.regexes.is_empty() => true,
                    Some(t) if t.is_empty() || t.len() < s.shortest => false,
                    Some(t) if t.len() > 64 => true,
                    Some(t) => {
                        let mut bits = [0u64];
                        s.candidates_with(Isa::Scalar, t.as_bytes(), &mut bits);
                        bits[0] != 0
                    }
                };
                want |= u64::from(may) << i;
            }
            for isa in Isa::available() {
                let got = s.may_find(isa, items, text);
                prop_assert_eq!(got, want, "{:?}", isa);
                // Only texts without findings are left out.
                for (i, t) in texts.iter().enumerate() {
                    if let Some(t) = t {
                        if got >> i & 1 == 0 {
                            let mut found = Vec::new();
                            prop_assert_eq!(s.find_with(isa, t, &mut found), 0, "{:?} {:?}", isa, t);
                        }
                    }
                }
                // Items not asked about are never given.
                prop_assert_eq!(s.may_find(isa, items & 0x5555_5555_5555_5555, text) & !0x5555_5555_5555_5555, 0);
            }
        }

        #[test]
        fn any_config_matches_confirming_every_byte(s in any_scanner(), text in config_text()) {
            let want = every_byte(&s, &text);
            prop_assert_eq!(&unfiltered(&s, &text), &want);
            // The candidates too, whichever classes the configuration
            // leaves empty.
            let words = text.len().div_ceil(64);
            let mut want_bits = vec![0; words];
            s.candidates_with(Isa::Scalar, text.as_bytes(), &mut want_bits);
            for isa in Isa::available() {
                let mut got = Vec::new();
                s.find_with(isa, &text, &mut got);
                prop_assert_eq!(&got, &want, "{:?}", isa);
                let mut got_bits = vec![u64::MAX; words];
                s.candidates_with(isa, text.as_bytes(), &mut got_bits);
                prop_assert_eq!(&got_bits, &want_bits, "{:?}", isa);
            }
        }

        #[test]
        fn any_config_at_word_and_stack_edges(
            s in any_scanner(),
            text in config_text(),
            len in prop::sample::select(vec![31usize, 32, 33, 63, 64, 65, 127, 128, 255, 256, 257, 320]),
        ) {
            let mut t = text;
            while t.len() > len {
                t.pop();
            }
            while t.len() < len {
                t.push('k');
            }
            let want = every_byte(&s, &t);
            for isa in Isa::available() {
                let mut got = Vec::new();
                s.find_with(isa, &t, &mut got);
                prop_assert_eq!(&got, &want, "{:?}", isa);
            }
        }
    }

    /// A scanner whose sets hold NUL, `@`, digits, letters and high bytes.
    fn wide_scanner() -> Scanner {
        Scanner::builder()
            .with_emails(true)
            .with_cards(true)
            .with_default_prefixes()
            .with_literal("\0x")
            .with_literal("é")
            .build()
    }

    fn assert_classes_match_scalar(s: &Scanner, b: &[u8]) {
        let words = b.len().div_ceil(64);
        let mut want = vec![[0u64; CLASSES]; words];
        scalar::classes(&s.classes.of, b, &mut want);
        for isa in Isa::available() {
            let mut got = vec![[u64::MAX; CLASSES]; words];
            fill_classes(isa, &s.classes, b, &mut got);
            assert_eq!(got, want, "{isa:?} len {}", b.len());
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn values_ending_at_an_unmapped_page_are_read_within_bounds() {
        let mut guarded = crate::kernels::guard::Guarded::new();
        let page = guarded.page();
        for (i, b) in page.iter_mut().enumerate() {
            *b = b"a@0 sk-x\0\xc3\xa9"[i % 11];
        }
        let s = wide_scanner();
        let end = page.len();
        for len in 0..=300 {
            let value = &page[end - len..];
            assert_classes_match_scalar(&s, value);
            if let Ok(text) = std::str::from_utf8(value) {
                let mut want = Vec::new();
                s.find_with(Isa::Scalar, text, &mut want);
                for isa in Isa::available() {
                    let mut got = Vec::new();
                    s.find_with(isa, text, &mut got);
                    assert_eq!(got, want, "{isa:?} len {len}");
                }
            }
        }
    }

    #[test]
    fn classes_match_scalar_at_every_length_and_offset_on_random_bytes() {
        // Lengths through ten words at 17 start offsets: every tail length
        // after the vector steps, over bytes that are mostly in the sets
        // and mostly not, and over ASCII with a rare byte above 0x7f (in
        // some words and not others).
        let s = wide_scanner();
        let mut x = 0x1234_5678_9abc_def1u64;
        let mut buf = vec![0u8; 700];
        for round in 0..4 {
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = match round {
                    0 => x as u8,
                    1 => b"@0s\0\xc3"[(x % 5) as usize],
                    2 if x.is_multiple_of(97) => 0xc3,
                    2 => b"@0s\0"[(x % 4) as usize],
                    _ => {
                        if x.is_multiple_of(7) {
                            b'@'
                        } else {
                            b'.'
                        }
                    }
                };
            }
            for off in 0..17 {
                for len in 0..=(buf.len() - off).min(640) {
                    assert_classes_match_scalar(&s, &buf[off..off + len]);
                }
            }
        }
    }

    #[test]
    fn hostile_long_values_match_scalar() {
        // One long digit run, a digit every other byte (a candidate card
        // at each), and repeated findings, 256 KiB each, cut to several
        // tail shapes.
        let s = wide_scanner();
        let texts = [
            "7".repeat(1 << 18),
            "1 ".repeat(1 << 17),
            "a@b.cd 4111111111111111 sk-".repeat(10_000),
        ];
        for t in &texts {
            for cut in [0, 1, 4, 33, 63] {
                let t = &t[..t.len() - cut];
                assert_classes_match_scalar(&s, t.as_bytes());
                let mut want = Vec::new();
                s.find_with(Isa::Scalar, t, &mut want);
                for isa in Isa::available() {
                    let mut got = Vec::new();
                    s.find_with(isa, t, &mut got);
                    assert_eq!(got, want, "{isa:?} len {}", t.len());
                }
            }
        }
    }
}
