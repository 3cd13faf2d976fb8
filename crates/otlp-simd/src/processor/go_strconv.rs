//! Go's `strconv.ParseFloat(s, 64)` (Go 1.26), step for step: the
//! Collector reads strings as numbers with it (the attributes processor's
//! `convert` to `double`, the sampler's `sampling.priority`), and on long
//! inputs its results are not the nearest double, so a correctly rounding
//! parser gives other answers:
//!
//! - an exponent stops growing once it reaches 10000 (`1e123456` has the
//!   exponent 12345), whatever the digits make of it;
//! - where the fast paths (exact float arithmetic, Eisel-Lemire) give up,
//!   the multiprecision fallback keeps 800 digits and places the point
//!   after at most 800 of those before it: `1` followed by 900 zeros, then
//!   `e-1220`, is 0 there (the value is 1e-320), and `1` followed by 999
//!   zeros, then `e-600`, is about 1e200 (the value overflows).
//!
//! The grammar: an optional sign; decimal digits with an optional point and
//! `e` exponent, or `0x` hexadecimal digits with a required `p` exponent;
//! underscores between digits (Go's `underscoreOK`); `inf` / `infinity`
//! with an optional sign and `nan` without, in any case. Out of range is
//! an error.

use std::sync::OnceLock;

const MANT_BITS: u32 = 52;
const EXP_BITS: u32 = 11;
const BIAS: i64 = -1023;

/// `strconv.ParseFloat(s, 64)`: `None` where Go returns an error (a syntax
/// error, or a value out of range).
pub(crate) fn go_parse_float(s: &str) -> Option<f64> {
    let s = s.as_bytes();
    if let Some((f, n)) = special(s) {
        return (n == s.len()).then_some(f);
    }
    let r = read_float(s)?;
    if r.n != s.len() {
        return None;
    }
    if r.hex {
        return atof_hex(r.mantissa, r.exp, r.neg, r.trunc);
    }
    if !r.trunc {
        if let Some(f) = atof64_exact(r.mantissa, r.exp, r.neg) {
            return Some(f);
        }
    }
    if let Some(f) = eisel_lemire64(r.mantissa, r.exp, r.neg) {
        if !r.trunc {
            return Some(f);
        }
        // The mantissa was truncated: the answer stands if the upper
        // bound gives the same.
        if eisel_lemire64(r.mantissa + 1, r.exp, r.neg) == Some(f) {
            return Some(f);
        }
    }
    let mut d = Decimal::new();
    if !d.set(&s[..r.n]) {
        return None;
    }
    d.float_bits().map(f64::from_bits)
}

fn lower(c: u8) -> u8 {
    c | (b'x' - b'X')
}

/// `commonPrefixLenIgnoreCase`: `prefix` is lower case.
fn common_prefix_len_ignore_case(s: &[u8], prefix: &[u8]) -> usize {
    s.iter()
        .zip(prefix)
        .take_while(|(c, p)| c.to_ascii_lowercase() == **p)
        .count()
}

/// `special`: the value and the length of a leading `inf`, `infinity`
/// (either with a sign) or `nan`.
fn special(s: &[u8]) -> Option<(f64, usize)> {
    let (&first, _) = s.split_first()?;
    let (negative, nsign) = match first {
        b'+' => (false, 1),
        b'-' => (true, 1),
        b'i' | b'I' => (false, 0),
        b'n' | b'N' => {
            // Go's math.NaN() bits.
            return (common_prefix_len_ignore_case(s, b"nan") == 3)
                .then(|| (f64::from_bits(0x7ff8_0000_0000_0001), 3));
        }
        _ => return None,
    };
    let mut n = common_prefix_len_ignore_case(&s[nsign..], b"infinity");
    if 3 < n && n < 8 {
        n = 3;
    }
    if n == 3 || n == 8 {
        let inf = if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
        return Some((inf, nsign + n));
    }
    None
}

/// What `readFloat` reads of a number.
struct Read {
    mantissa: u64,
    exp: i64,
    neg: bool,
    trunc: bool,
    hex: bool,
    /// The bytes read.
    n: usize,
}

/// `readFloat`: the mantissa (19 decimal or 16 hexadecimal digits, the
/// rest only noted in `trunc`) and the exponent of a leading number;
/// `None` where Go's `ok` is false.
fn read_float(s: &[u8]) -> Option<Read> {
    let mut underscores = false;
    let mut i = 0;
    let mut neg = false;
    match s.first()? {
        b'+' => i += 1,
        b'-' => {
            i += 1;
            neg = true;
        }
        _ => {}
    }
    let mut base = 10u64;
    let mut max_mant_digits = 19;
    let mut exp_char = b'e';
    let mut hex = false;
    if i + 2 < s.len() && s[i] == b'0' && lower(s[i + 1]) == b'x' {
        base = 16;
        max_mant_digits = 16;
        i += 2;
        exp_char = b'p';
        hex = true;
    }
    let (mut saw_dot, mut saw_digits) = (false, false);
    let (mut nd, mut nd_mant, mut dp) = (0i64, 0i64, 0i64);
    let (mut mantissa, mut trunc) = (0u64, false);
    while i < s.len() {
        let c = s[i];
        if c == b'_' {
            underscores = true;
        } else if c == b'.' {
            if saw_dot {
                break;
            }
            saw_dot = true;
            dp = nd;
        } else if c.is_ascii_digit() {
            saw_digits = true;
            if c == b'0' && nd == 0 {
                // Leading zeros.
                dp -= 1;
            } else {
                nd += 1;
                if nd_mant < max_mant_digits {
                    mantissa = mantissa.wrapping_mul(base) + u64::from(c - b'0');
                    nd_mant += 1;
                } else if c != b'0' {
                    trunc = true;
                }
            }
        } else if base == 16 && (b'a'..=b'f').contains(&lower(c)) {
            saw_digits = true;
            nd += 1;
            if nd_mant < max_mant_digits {
                mantissa = mantissa.wrapping_mul(16) + u64::from(lower(c) - b'a' + 10);
                nd_mant += 1;
            } else {
                trunc = true;
            }
        } else {
            break;
        }
        i += 1;
    }
    if !saw_digits {
        return None;
    }
    if !saw_dot {
        dp = nd;
    }
    if base == 16 {
        dp *= 4;
        nd_mant *= 4;
    }
    if i < s.len() && lower(s[i]) == exp_char {
        i += 1;
        let mut esign = 1;
        match s.get(i)? {
            b'+' => i += 1,
            b'-' => {
                i += 1;
                esign = -1;
            }
            _ => {}
        }
        if !s.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let mut e = 0i64;
        while i < s.len() && (s[i].is_ascii_digit() || s[i] == b'_') {
            if s[i] == b'_' {
                underscores = true;
            } else if e < 10_000 {
                // Go stops here: "it doesn't matter if it's not the exact
                // number".
                e = e * 10 + i64::from(s[i] - b'0');
            }
            i += 1;
        }
        dp += e * esign;
    } else if base == 16 {
        // The exponent is required.
        return None;
    }
    let exp = if mantissa != 0 { dp - nd_mant } else { 0 };
    if underscores && !underscore_ok(&s[..i]) {
        return None;
    }
    Some(Read {
        mantissa,
        exp,
        neg,
        trunc,
        hex,
        n: i,
    })
}

/// Go's `underscoreOK`: each underscore between digits (or after a base
/// prefix).
fn underscore_ok(s: &[u8]) -> bool {
    let s = match s.first() {
        Some(b'+' | b'-') => &s[1..],
        _ => s,
    };
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s[0] == b'0' && matches!(lower(s[1]), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = lower(s[1]) == b'x';
    }
    for &c in &s[i..] {
        if c.is_ascii_digit() || (hex && (b'a'..=b'f').contains(&lower(c))) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
    }
    saw != b'_'
}

/// `atofHex` for float64: the mantissa and binary exponent rounded to
/// nearest even; `None` out of range.
fn atof_hex(mut mantissa: u64, mut exp: i64, neg: bool, trunc: bool) -> Option<f64> {
    let max_exp = (1i64 << EXP_BITS) + BIAS - 2;
    let min_exp = BIAS + 1;
    exp += i64::from(MANT_BITS);
    while mantissa != 0 && mantissa >> (MANT_BITS + 2) == 0 {
        mantissa <<= 1;
        exp -= 1;
    }
    if trunc {
        mantissa |= 1;
    }
    while mantissa >> (1 + MANT_BITS + 2) != 0 {
        mantissa = mantissa >> 1 | mantissa & 1;
        exp += 1;
    }
    while mantissa > 1 && exp < min_exp - 2 {
        mantissa = mantissa >> 1 | mantissa & 1;
        exp += 1;
    }
    let mut round = mantissa & 3;
    mantissa >>= 2;
    round |= mantissa & 1;
    exp += 2;
    if round == 3 {
        mantissa += 1;
        if mantissa == 1 << (1 + MANT_BITS) {
            mantissa >>= 1;
            exp += 1;
        }
    }
    if mantissa >> MANT_BITS == 0 {
        exp = BIAS;
    }
    if exp > max_exp {
        return None;
    }
    Some(f64::from_bits(assemble(mantissa, exp, neg)))
}

fn assemble(mantissa: u64, exp: i64, neg: bool) -> u64 {
    let mut bits = mantissa & ((1 << MANT_BITS) - 1);
    bits |= (((exp - BIAS) & ((1 << EXP_BITS) - 1)) as u64) << MANT_BITS;
    if neg {
        bits |= 1 << 63;
    }
    bits
}

/// Exact powers of ten.
const FLOAT64_POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `atof64exact`: an exact integer times or divided by an exact power of
/// ten, in float arithmetic.
fn atof64_exact(mantissa: u64, exp: i64, neg: bool) -> Option<f64> {
    if mantissa >> MANT_BITS != 0 {
        return None;
    }
    let mut f = mantissa as f64;
    if neg {
        f = -f;
    }
    match exp {
        0 => Some(f),
        1..=37 => {
            let mut exp = exp as usize;
            if exp > 22 {
                f *= FLOAT64_POW10[exp - 22];
                exp = 22;
            }
            if !(-1e15..=1e15).contains(&f) {
                return None;
            }
            Some(f * FLOAT64_POW10[exp])
        }
        -22..=-1 => Some(f / FLOAT64_POW10[(-exp) as usize]),
        _ => None,
    }
}

const POW10_MIN: i64 = -348;
const POW10_MAX: i64 = 347;

/// Go's `pow10Tab`: for each `e` in `POW10_MIN..=POW10_MAX`, 10^e scaled
/// by a power of two into [2^127, 2^128) and truncated, as (high, low).
fn pow10_table() -> &'static [(u64, u64)] {
    static TABLE: OnceLock<Vec<(u64, u64)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // Little-endian 32-bit limbs.
        fn bit_len(v: &[u32]) -> usize {
            let top = v.iter().rposition(|&l| l != 0).unwrap_or(0);
            top * 32 + (32 - v[top].leading_zeros() as usize)
        }
        fn bit(v: &[u32], i: usize) -> u128 {
            u128::from(v.get(i / 32).is_some_and(|l| l >> (i % 32) & 1 == 1))
        }
        fn times10(v: &mut Vec<u32>) {
            let mut carry = 0u64;
            for l in v.iter_mut() {
                let x = u64::from(*l) * 10 + carry;
                *l = x as u32;
                carry = x >> 32;
            }
            if carry != 0 {
                v.push(carry as u32);
            }
        }
        let mut powers = vec![vec![1u32]];
        for _ in 0..-POW10_MIN {
            let mut next = powers[powers.len() - 1].clone();
            times10(&mut next);
            powers.push(next);
        }
        let split = |m: u128| ((m >> 64) as u64, m as u64);
        (POW10_MIN..=POW10_MAX)
            .map(|e| {
                let p = &powers[e.unsigned_abs() as usize];
                let len = bit_len(p);
                if e >= 0 {
                    // The top 128 bits of 10^e.
                    let m = (0..128).fold(0u128, |m, k| {
                        let i = (len - 1).checked_sub(k);
                        m << 1 | i.map_or(0, |i| bit(p, i))
                    });
                    split(m)
                } else {
                    // floor(2^(len + 127) / 10^-e), bit by bit: the
                    // remainder starts at 2^(len - 1), below 10^-e.
                    let mut r = vec![0u32; p.len() + 1];
                    r[(len - 1) / 32] = 1 << ((len - 1) % 32);
                    let mut q = 0u128;
                    for _ in 0..128 {
                        let mut carry = 0;
                        for l in r.iter_mut() {
                            let x = *l >> 31;
                            *l = *l << 1 | carry;
                            carry = x;
                        }
                        let ge = (0..r.len())
                            .rev()
                            .map(|i| (r[i], p.get(i).copied().unwrap_or(0)))
                            .find(|(a, b)| a != b)
                            .is_none_or(|(a, b)| a > b);
                        q <<= 1;
                        if ge {
                            let mut borrow = 0i64;
                            for (i, l) in r.iter_mut().enumerate() {
                                let x = i64::from(*l)
                                    - i64::from(p.get(i).copied().unwrap_or(0))
                                    - borrow;
                                borrow = i64::from(x < 0);
                                *l = x.rem_euclid(1 << 32) as u32;
                            }
                            q |= 1;
                        }
                    }
                    split(q)
                }
            })
            .collect()
    })
}

/// `eiselLemire64`: `None` where it cannot decide.
fn eisel_lemire64(man: u64, exp10: i64, neg: bool) -> Option<f64> {
    if man == 0 {
        return Some(if neg { -0.0 } else { 0.0 });
    }
    if !(POW10_MIN..=POW10_MAX).contains(&exp10) {
        return None;
    }
    let (pow_hi, pow_lo) = pow10_table()[(exp10 - POW10_MIN) as usize];
    // mulLog2_10
    let exp2 = 1 + ((exp10 * 108_853) >> 15);
    let clz = man.leading_zeros();
    let man = man << clz;
    let mut ret_exp2 = ((exp2 + 63 - BIAS) as u64).wrapping_sub(u64::from(clz));
    let mul = |a: u64, b: u64| {
        let p = u128::from(a) * u128::from(b);
        ((p >> 64) as u64, p as u64)
    };
    let (mut x_hi, mut x_lo) = mul(man, pow_hi);
    if x_hi & 0x1ff == 0x1ff && x_lo.wrapping_add(man) < man {
        let (y_hi, y_lo) = mul(man, pow_lo);
        let mut merged_hi = x_hi;
        let merged_lo = x_lo.wrapping_add(y_hi);
        if merged_lo < x_lo {
            merged_hi = merged_hi.wrapping_add(1);
        }
        if merged_hi & 0x1ff == 0x1ff
            && merged_lo.wrapping_add(1) == 0
            && y_lo.wrapping_add(man) < man
        {
            return None;
        }
        x_hi = merged_hi;
        x_lo = merged_lo;
    }
    let msb = x_hi >> 63;
    let mut ret_mantissa = x_hi >> (msb + 9);
    ret_exp2 = ret_exp2.wrapping_sub(1 ^ msb);
    if x_lo == 0 && x_hi & 0x1ff == 0 && ret_mantissa & 3 == 1 {
        return None;
    }
    ret_mantissa += ret_mantissa & 1;
    ret_mantissa >>= 1;
    if ret_mantissa >> 53 > 0 {
        ret_mantissa >>= 1;
        ret_exp2 = ret_exp2.wrapping_add(1);
    }
    if ret_exp2.wrapping_sub(1) >= 0x7ff - 1 {
        return None;
    }
    let mut bits = ret_exp2 << MANT_BITS | ret_mantissa & ((1 << MANT_BITS) - 1);
    if neg {
        bits |= 1 << 63;
    }
    Some(f64::from_bits(bits))
}

/// Go's multiprecision `decimal`: 800 digits, the point `dp` digits from
/// the left.
struct Decimal {
    d: [u8; 800],
    nd: usize,
    dp: i64,
    neg: bool,
    trunc: bool,
}

/// `powtab`: decimal powers of ten to binary powers of two.
const POWTAB: [i64; 9] = [1, 3, 6, 9, 13, 16, 19, 23, 26];

/// Shifts by at most this many bits at a time (Go's `maxShift` for a
/// 64-bit `uint`).
const MAX_SHIFT: u32 = 60;

impl Decimal {
    fn new() -> Decimal {
        Decimal {
            d: [0; 800],
            nd: 0,
            dp: 0,
            neg: false,
            trunc: false,
        }
    }

    /// `set`: reads the number `readFloat` read. Past 800 digits, digits
    /// are only noted in `trunc`, and the point is placed after the
    /// digits kept (Go's).
    fn set(&mut self, s: &[u8]) -> bool {
        let mut i = 0;
        self.neg = false;
        self.trunc = false;
        match s.first() {
            None => return false,
            Some(b'+') => i += 1,
            Some(b'-') => {
                i += 1;
                self.neg = true;
            }
            _ => {}
        }
        let (mut saw_dot, mut saw_digits) = (false, false);
        while i < s.len() {
            let c = s[i];
            if c == b'_' {
            } else if c == b'.' {
                if saw_dot {
                    return false;
                }
                saw_dot = true;
                self.dp = self.nd as i64;
            } else if c.is_ascii_digit() {
                saw_digits = true;
                if c == b'0' && self.nd == 0 {
                    self.dp -= 1;
                } else if self.nd < self.d.len() {
                    self.d[self.nd] = c;
                    self.nd += 1;
                } else if c != b'0' {
                    self.trunc = true;
                }
            } else {
                break;
            }
            i += 1;
        }
        if !saw_digits {
            return false;
        }
        if !saw_dot {
            self.dp = self.nd as i64;
        }
        if i < s.len() && lower(s[i]) == b'e' {
            i += 1;
            let mut esign = 1;
            match s.get(i) {
                None => return false,
                Some(b'+') => i += 1,
                Some(b'-') => {
                    i += 1;
                    esign = -1;
                }
                _ => {}
            }
            if !s.get(i).is_some_and(u8::is_ascii_digit) {
                return false;
            }
            let mut e = 0i64;
            while i < s.len() && (s[i].is_ascii_digit() || s[i] == b'_') {
                if s[i] != b'_' && e < 10_000 {
                    e = e * 10 + i64::from(s[i] - b'0');
                }
                i += 1;
            }
            self.dp += e * esign;
        }
        i == s.len()
    }

    fn trim(&mut self) {
        while self.nd > 0 && self.d[self.nd - 1] == b'0' {
            self.nd -= 1;
        }
        if self.nd == 0 {
            self.dp = 0;
        }
    }

    fn right_shift(&mut self, k: u32) {
        let (mut r, mut w) = (0usize, 0usize);
        let mut n = 0u64;
        while n >> k == 0 {
            if r >= self.nd {
                if n == 0 {
                    self.nd = 0;
                    return;
                }
                while n >> k == 0 {
                    n = n.wrapping_mul(10);
                    r += 1;
                }
                break;
            }
            n = n.wrapping_mul(10) + u64::from(self.d[r] - b'0');
            r += 1;
        }
        self.dp -= r as i64 - 1;
        let mask = (1u64 << k) - 1;
        while r < self.nd {
            let c = u64::from(self.d[r] - b'0');
            let dig = n >> k;
            n &= mask;
            self.d[w] = dig as u8 + b'0';
            w += 1;
            n = n.wrapping_mul(10) + c;
            r += 1;
        }
        while n > 0 {
            let dig = n >> k;
            n &= mask;
            if w < self.d.len() {
                self.d[w] = dig as u8 + b'0';
                w += 1;
            } else if dig > 0 {
                self.trunc = true;
            }
            n = n.wrapping_mul(10);
        }
        self.nd = w;
        self.trim();
    }

    fn left_shift(&mut self, k: u32) {
        // Go's `leftcheats`: 2^k has `delta` digits; one fewer new digit
        // when the number is below 5^k's digits.
        let mut delta = (1u64 << k).to_string().len();
        if prefix_is_less_than(&self.d[..self.nd], &five_pow_digits()[k as usize]) {
            delta -= 1;
        }
        let mut r = self.nd as isize;
        let mut w = (self.nd + delta) as isize;
        let mut n = 0u64;
        r -= 1;
        let put = |d: &mut Decimal, w: isize, rem: u64| {
            if (w as usize) < d.d.len() {
                d.d[w as usize] = rem as u8 + b'0';
            } else if rem != 0 {
                d.trunc = true;
            }
        };
        while r >= 0 {
            n = n.wrapping_add(u64::from(self.d[r as usize] - b'0') << k);
            let quo = n / 10;
            let rem = n - 10 * quo;
            w -= 1;
            put(self, w, rem);
            n = quo;
            r -= 1;
        }
        while n > 0 {
            let quo = n / 10;
            let rem = n - 10 * quo;
            w -= 1;
            put(self, w, rem);
            n = quo;
        }
        self.nd = (self.nd + delta).min(self.d.len());
        self.dp += delta as i64;
        self.trim();
    }

    fn shift(&mut self, mut k: i64) {
        if self.nd == 0 {
            return;
        }
        let max = i64::from(MAX_SHIFT);
        if k > 0 {
            while k > max {
                self.left_shift(MAX_SHIFT);
                k -= max;
            }
            self.left_shift(k as u32);
        } else if k < 0 {
            while k < -max {
                self.right_shift(MAX_SHIFT);
                k += max;
            }
            self.right_shift((-k) as u32);
        }
    }

    fn should_round_up(&self, nd: i64) -> bool {
        if nd < 0 || nd >= self.nd as i64 {
            return false;
        }
        let nd = nd as usize;
        if self.d[nd] == b'5' && nd + 1 == self.nd {
            // Exactly halfway: to even, unless digits were dropped.
            if self.trunc {
                return true;
            }
            return nd > 0 && !(self.d[nd - 1] - b'0').is_multiple_of(2);
        }
        self.d[nd] >= b'5'
    }

    fn rounded_integer(&self) -> u64 {
        if self.dp > 20 {
            return u64::MAX;
        }
        let mut n = 0u64;
        let mut i = 0i64;
        while i < self.dp && i < self.nd as i64 {
            n = n.wrapping_mul(10) + u64::from(self.d[i as usize] - b'0');
            i += 1;
        }
        while i < self.dp {
            n = n.wrapping_mul(10);
            i += 1;
        }
        if self.should_round_up(self.dp) {
            n = n.wrapping_add(1);
        }
        n
    }

    /// `floatBits` for float64; `None` on overflow.
    fn float_bits(&mut self) -> Option<u64> {
        let overflow_exp = (1i64 << EXP_BITS) - 1;
        if self.nd == 0 {
            return Some(assemble(0, BIAS, self.neg));
        }
        if self.dp > 310 {
            return None;
        }
        if self.dp < -330 {
            return Some(assemble(0, BIAS, self.neg));
        }
        let mut exp = 0i64;
        let step = |dp: i64| POWTAB.get(dp as usize).copied().unwrap_or(27);
        while self.dp > 0 {
            let n = step(self.dp);
            self.shift(-n);
            exp += n;
        }
        while self.dp < 0 || self.dp == 0 && self.d[0] < b'5' {
            let n = step(-self.dp);
            self.shift(n);
            exp -= n;
        }
        exp -= 1;
        if exp < BIAS + 1 {
            let n = BIAS + 1 - exp;
            self.shift(-n);
            exp += n;
        }
        if exp - BIAS >= overflow_exp {
            return None;
        }
        self.shift(i64::from(1 + MANT_BITS));
        let mut mant = self.rounded_integer();
        if mant == 2 << MANT_BITS {
            mant >>= 1;
            exp += 1;
            if exp - BIAS >= overflow_exp {
                return None;
            }
        }
        if mant & (1 << MANT_BITS) == 0 {
            exp = BIAS;
        }
        Some(assemble(mant, exp, self.neg))
    }
}

/// The decimal digits of 5^k, for k up to [`MAX_SHIFT`] (Go's
/// `leftcheats` cutoffs).
fn five_pow_digits() -> &'static [Vec<u8>] {
    static DIGITS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    DIGITS.get_or_init(|| {
        let mut all = vec![Vec::new()];
        let mut digits = vec![1u8];
        for _ in 0..MAX_SHIFT {
            let mut carry = 0;
            for d in digits.iter_mut().rev() {
                let x = *d * 5 + carry;
                *d = x % 10;
                carry = x / 10;
            }
            if carry > 0 {
                digits.insert(0, carry);
            }
            all.push(digits.iter().map(|d| d + b'0').collect());
        }
        all
    })
}

/// `prefixIsLessThan`.
fn prefix_is_less_than(b: &[u8], s: &[u8]) -> bool {
    for (i, &c) in s.iter().enumerate() {
        match b.get(i) {
            None => return true,
            Some(&x) if x != c => return x < c,
            Some(_) => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Long inputs, where Go's result is not the nearest double: the bits
    /// (or `None` for an error) Go 1.26's `strconv.ParseFloat(s, 64)`
    /// returns, and the value the digits stand for.
    #[test]
    fn long_inputs_read_as_go_reads_them() {
        let zeros = |n| "0".repeat(n);
        let cases = [
            // 1e-320: Go's fallback places the point after 800 digits.
            (format!("1{}e-1220", zeros(900)), Some(0)),
            // 1e400, out of range: about 1e200 there.
            (format!("1{}e-600", zeros(999)), Some(0x6940_b8e0_acac_4eaf)),
            // 60: 6 there.
            (format!("6{}e-799", zeros(800)), Some(0x4018_0000_0000_0000)),
            // 1: the exponent 100001 reads as 10000.
            (format!("0.{}1e100001", zeros(100_000)), Some(0)),
            // 0.1: the same the other way.
            (format!("1{}e-100001", zeros(100_000)), Some(0)),
            // Exponents past 10000 stop growing: 1e12345, out of range.
            ("1e123456".to_owned(), None),
            // A long number Go reads right: 10, a point and 900 ones.
            (
                format!("10.{}", "1".repeat(900)),
                Some(0x4024_38e3_8e38_e38e),
            ),
        ];
        for (s, want) in &cases {
            assert_eq!(
                go_parse_float(s).map(f64::to_bits),
                *want,
                "{}...",
                s.get(..20).unwrap_or(s)
            );
        }
    }

    #[test]
    fn the_powers_of_ten_are_go_s() {
        // First, last and a few between, from Go's pow10tab.go.
        let t = pow10_table();
        assert_eq!(t.len(), 696);
        for (e, want) in [
            (-348, (0xfa8fd5a0081c0288, 0x1732c869cd60e453)),
            (-1, (0xcccccccccccccccc, 0xcccccccccccccccc)),
            (0, (0x8000000000000000, 0x0000000000000000)),
            (1, (0xa000000000000000, 0x0000000000000000)),
            (347, (0xd13eb46469447567, 0x4b7195f2d2d1a9fb)),
        ] {
            assert_eq!(t[(e - POW10_MIN) as usize], want, "1e{e}");
        }
    }
}
