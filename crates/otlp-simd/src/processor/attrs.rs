//! One view of an attribute list for the processors that edit attributes:
//! the OTLP protobuf list of a decoded request, and the SDK's list of a
//! span as it ends, so that both go through the same code.

use super::key_memo::{self, MemoCell};
use crate::proto::common::v1::{any_value::Value as Proto, AnyValue, KeyValue};
use opentelemetry::{Key, KeyValue as SdkKeyValue, StringValue, Value as Sdk};
use std::borrow::Cow;
use std::cell::RefCell;
use std::thread::LocalKey;

/// An attribute list the processors can read and edit in place.
pub(crate) trait AttrList {
    /// A key kept aside while the list changes (a string for the protobuf
    /// list; the SDK's key, which for the usual static keys copies
    /// nothing).
    type Key: Clone;
    /// A handle to the key of attribute `i`.
    fn key_handle(&self, i: usize) -> Self::Key;
    /// The text of a key handle.
    fn handle_str(k: &Self::Key) -> &str;
    /// How many attributes.
    fn count(&self) -> usize;
    /// The key of attribute `i`.
    fn key_at(&self, i: usize) -> &str;
    /// Attribute `i`'s value as text: a string value's text; with
    /// `all_types`, a scalar's string form (the Collector's `AsString`);
    /// anything else is empty.
    fn text_at(&self, i: usize, all_types: bool) -> Cow<'_, str>;
    /// Attribute `i`'s string value, if it has one (what
    /// [`text_at`](Self::text_at) borrows, without the formatting of other
    /// types: small enough to be inlined into a loop over the values).
    fn str_at(&self, i: usize) -> Option<&str>;
    /// Replaces attribute `i`'s value with a string.
    fn set_text(&mut self, i: usize, text: String);
    /// Removes the first attribute with `key`; the last attribute takes
    /// its place (pdata's `Map.Remove`).
    fn remove_key(&mut self, key: &str);
    /// Removes attribute `i`; the last attribute takes its place.
    fn swap_remove(&mut self, i: usize);
    /// Removes every attribute.
    fn clear_all(&mut self);
    /// The string value of `key`, if it has one.
    fn get_text(&self, key: &str) -> Option<&str>;
    /// Sets `key` to a string, in place or appended.
    fn put_text(&mut self, key: &'static str, text: String);
    /// Adds `v` to the integer value of `key` (Go's wrapping int64
    /// addition); sets it to `v` when it has no integer value, appends it
    /// when missing. One pass over the list.
    fn add_int(&mut self, key: &'static str, v: i64);
    /// Appends `key` with the integer `v` (the list has no `key`).
    fn push_int(&mut self, key: &'static str, v: i64);
    /// Sets `key` to the integer `v`, in place or appended.
    fn put_int(&mut self, key: &'static str, v: i64);
    /// What `owner` decides from the list's keys alone: `decide`'s answer,
    /// or, for a list whose keys can be told by their identity (the
    /// SDK's), the answer remembered in `memo` for a list with the same
    /// keys (see [`key_memo`](super::key_memo)).
    fn decided_by_keys<T: Copy + 'static>(
        &self,
        memo: &'static LocalKey<RefCell<MemoCell<T>>>,
        owner: u64,
        decide: impl FnOnce() -> T,
    ) -> T {
        let _ = (memo, owner);
        decide()
    }
}

impl AttrList for Vec<KeyValue> {
    type Key = String;
    fn key_handle(&self, i: usize) -> String {
        self[i].key.clone()
    }
    fn handle_str(k: &String) -> &str {
        k
    }
    fn count(&self) -> usize {
        self.len()
    }
    fn key_at(&self, i: usize) -> &str {
        &self[i].key
    }
    fn text_at(&self, i: usize, all_types: bool) -> Cow<'_, str> {
        let val = self[i].value.as_ref();
        match val.and_then(|v| v.value.as_ref()) {
            Some(Proto::StringValue(s)) => Cow::Borrowed(s),
            _ if all_types => Cow::Owned(val.map(super::as_text).unwrap_or_default()),
            _ => Cow::Borrowed(""),
        }
    }
    #[inline]
    fn str_at(&self, i: usize) -> Option<&str> {
        match self[i].value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Proto::StringValue(s)) => Some(s),
            _ => None,
        }
    }
    fn set_text(&mut self, i: usize, text: String) {
        self[i].value = Some(AnyValue {
            value: Some(Proto::StringValue(text)),
        });
    }
    fn remove_key(&mut self, key: &str) {
        if let Some(i) = self.iter().position(|kv| kv.key == key) {
            self.swap_remove(i);
        }
    }
    fn swap_remove(&mut self, i: usize) {
        Vec::swap_remove(self, i);
    }
    fn clear_all(&mut self) {
        self.clear();
    }
    fn get_text(&self, key: &str) -> Option<&str> {
        match proto_value(self, key)? {
            Proto::StringValue(s) => Some(s),
            _ => None,
        }
    }
    fn put_text(&mut self, key: &'static str, text: String) {
        proto_put(self, key, Proto::StringValue(text));
    }
    fn add_int(&mut self, key: &'static str, v: i64) {
        match self.iter_mut().find(|kv| kv.key == key) {
            Some(kv) => {
                let sum = match kv.value.as_ref().and_then(|a| a.value.as_ref()) {
                    Some(Proto::IntValue(old)) => v.wrapping_add(*old),
                    _ => v,
                };
                kv.value = Some(AnyValue {
                    value: Some(Proto::IntValue(sum)),
                });
            }
            None => self.push_int(key, v),
        }
    }
    fn push_int(&mut self, key: &'static str, v: i64) {
        self.push(KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(Proto::IntValue(v)),
            }),
            ..KeyValue::default()
        });
    }
    fn put_int(&mut self, key: &'static str, v: i64) {
        proto_put(self, key, Proto::IntValue(v));
    }
}

/// The value of the first attribute with `key`.
pub(crate) fn proto_value<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Proto> {
    attrs
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()
}

pub(crate) fn proto_put(attrs: &mut Vec<KeyValue>, key: &str, v: Proto) {
    let value = Some(AnyValue { value: Some(v) });
    match attrs.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = value,
        None => attrs.push(KeyValue {
            key: key.to_owned(),
            value,
            ..KeyValue::default()
        }),
    }
}

/// The string form of an SDK scalar, as [`super::scalar_string`] writes
/// the same value once encoded (`None` for arrays).
pub(crate) fn sdk_scalar_string(v: &Sdk) -> Option<String> {
    Some(match v {
        Sdk::String(s) => s.as_str().to_owned(),
        Sdk::Bool(b) => b.to_string(),
        Sdk::I64(i) => i.to_string(),
        Sdk::F64(d) => super::go_float(*d),
        _ => return None,
    })
}

impl AttrList for Vec<SdkKeyValue> {
    type Key = Key;
    fn key_handle(&self, i: usize) -> Key {
        self[i].key.clone()
    }
    fn handle_str(k: &Key) -> &str {
        k.as_str()
    }
    fn count(&self) -> usize {
        self.len()
    }
    fn key_at(&self, i: usize) -> &str {
        self[i].key.as_str()
    }
    fn text_at(&self, i: usize, all_types: bool) -> Cow<'_, str> {
        match &self[i].value {
            Sdk::String(s) => Cow::Borrowed(s.as_str()),
            v if all_types => Cow::Owned(sdk_scalar_string(v).unwrap_or_default()),
            _ => Cow::Borrowed(""),
        }
    }
    #[inline]
    fn str_at(&self, i: usize) -> Option<&str> {
        match &self[i].value {
            Sdk::String(s) => Some(s.as_str()),
            _ => None,
        }
    }
    fn set_text(&mut self, i: usize, text: String) {
        self[i].value = Sdk::String(StringValue::from(text));
    }
    fn remove_key(&mut self, key: &str) {
        if let Some(i) = self.iter().position(|kv| kv.key.as_str() == key) {
            self.swap_remove(i);
        }
    }
    fn swap_remove(&mut self, i: usize) {
        Vec::swap_remove(self, i);
    }
    fn clear_all(&mut self) {
        self.clear();
    }
    fn get_text(&self, key: &str) -> Option<&str> {
        match &self.iter().find(|kv| kv.key.as_str() == key)?.value {
            Sdk::String(s) => Some(s.as_str()),
            _ => None,
        }
    }
    fn put_text(&mut self, key: &'static str, text: String) {
        sdk_put(self, key, Sdk::String(StringValue::from(text)));
    }
    fn add_int(&mut self, key: &'static str, v: i64) {
        match self.iter_mut().find(|kv| kv.key.as_str() == key) {
            Some(kv) => {
                kv.value = Sdk::I64(match kv.value {
                    Sdk::I64(old) => v.wrapping_add(old),
                    _ => v,
                })
            }
            None => self.push_int(key, v),
        }
    }
    fn push_int(&mut self, key: &'static str, v: i64) {
        // Written in place: a pushed value is built on the stack and
        // copied back in wider loads than it was stored with, which
        // stalls.
        self.extend(std::iter::once_with(|| {
            SdkKeyValue::new(Key::from_static_str(key), Sdk::I64(v))
        }));
    }
    fn put_int(&mut self, key: &'static str, v: i64) {
        sdk_put(self, key, Sdk::I64(v));
    }
    fn decided_by_keys<T: Copy + 'static>(
        &self,
        memo: &'static LocalKey<RefCell<MemoCell<T>>>,
        owner: u64,
        decide: impl FnOnce() -> T,
    ) -> T {
        key_memo::decided(memo, owner, self, decide)
    }
}

fn sdk_put(attrs: &mut Vec<SdkKeyValue>, key: &'static str, v: Sdk) {
    match attrs.iter_mut().find(|kv| kv.key.as_str() == key) {
        Some(kv) => kv.value = v,
        None => attrs.push(SdkKeyValue::new(Key::from_static_str(key), v)),
    }
}

/// A short list kept on the stack: the keys one attribute list's
/// redaction removes or masks are few, and allocating for them would cost
/// more than the rest of the work on a span.
/// Made with [`Few::counting`], it counts and keeps nothing.
pub(crate) struct Few<K> {
    inline: [Option<K>; 4],
    n: usize,
    more: Vec<K>,
    keeps: bool,
}

impl<K> Few<K> {
    pub(crate) fn new() -> Self {
        Few {
            inline: std::array::from_fn(|_| None),
            n: 0,
            more: Vec::new(),
            keeps: true,
        }
    }

    /// A list that only counts when `keeps` is false (its
    /// [`iter`](Self::iter) is then empty).
    pub(crate) fn counting(keeps: bool) -> Self {
        Few {
            keeps,
            ..Few::new()
        }
    }

    /// Adds the key `k` makes (called only when the list keeps keys).
    pub(crate) fn push_with(&mut self, k: impl FnOnce() -> K) {
        if self.keeps {
            match self.inline.get_mut(self.n) {
                Some(slot) => *slot = Some(k()),
                None => self.more.push(k()),
            }
        }
        self.n += 1;
    }

    pub(crate) fn push(&mut self, k: K) {
        self.push_with(|| k);
    }

    /// Counts a key without keeping it.
    pub(crate) fn count_only(&mut self) {
        self.n += 1;
    }

    pub(crate) fn len(&self) -> usize {
        self.n
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &K> {
        self.inline.iter().flatten().chain(&self.more)
    }
}

/// Removes the attributes at `removed` (original indices, increasing) as
/// removing their keys one by one in that order does: each removal takes
/// the first attribute left with that key and the last attribute takes
/// its place (pdata's `Map.Remove`). In O(n log n) for a list of n: the
/// positions of each key's attributes are kept in order as they move.
pub(crate) fn remove_in_order<L: AttrList>(attrs: &mut L, removed: &[usize]) {
    if removed.is_empty() {
        return;
    }
    let n = attrs.count();
    // The attributes by key: group[i] is attribute i's key's number.
    let mut group = Vec::with_capacity(n);
    let groups = {
        let mut ids: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for i in 0..n {
            let next = ids.len();
            group.push(*ids.entry(attrs.key_at(i)).or_insert(next));
        }
        ids.len()
    };
    let mut positions: Vec<std::collections::BTreeSet<usize>> =
        vec![std::collections::BTreeSet::new(); groups];
    for (i, &g) in group.iter().enumerate() {
        positions[g].insert(i);
    }
    // at[p]: the original index of the attribute now at position p.
    let mut at: Vec<usize> = (0..n).collect();
    let mut len = n;
    for &j in removed {
        let Some(p) = positions[group[j]].pop_first() else {
            continue;
        };
        attrs.swap_remove(p);
        let last = len - 1;
        if p != last {
            let moved = at[last];
            at[p] = moved;
            let set = &mut positions[group[moved]];
            set.remove(&last);
            set.insert(p);
        }
        len -= 1;
    }
}
