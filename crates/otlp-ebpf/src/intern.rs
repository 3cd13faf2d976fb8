//! Index tables shared by the OTLP and pprof encoders: each distinct value
//! gets one index, in order of first use.

use std::collections::HashMap;
use std::hash::Hash;

pub(crate) struct Interner<K> {
    index: HashMap<K, usize>,
    len: usize,
}

impl<K: Hash + Eq> Interner<K> {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Interner {
            index: HashMap::new(),
            len: 0,
        }
    }

    /// The index of `key`, and whether it is new (the caller then appends
    /// the value to its table).
    pub(crate) fn intern(&mut self, key: K) -> (usize, bool) {
        if let Some(&i) = self.index.get(&key) {
            return (i, false);
        }
        let i = self.len;
        self.index.insert(key, i);
        self.len += 1;
        (i, true)
    }
}

/// A string table: OTLP and pprof both keep `""` at index 0.
pub(crate) struct Strings {
    interner: Interner<String>,
    pub(crate) table: Vec<String>,
}

impl Strings {
    pub(crate) fn new() -> Self {
        let mut strings = Strings {
            interner: Interner::new(),
            table: Vec::new(),
        };
        strings.get("");
        strings
    }

    pub(crate) fn get(&mut self, s: &str) -> usize {
        // Look up by &str first so that known strings are not copied.
        if let Some(&i) = self.interner.index.get(s) {
            return i;
        }
        let (i, _) = self.interner.intern(s.to_owned());
        self.table.push(s.to_owned());
        i
    }
}

/// Converts a table index to the i32 the OTLP tables use. Tables are far
/// below 2^31 entries (they are bounded by the BPF maps), so this saturates
/// only on a broken invariant, and then points at the null entry.
pub(crate) fn index_i32(i: usize) -> i32 {
    i32::try_from(i).unwrap_or(0)
}
