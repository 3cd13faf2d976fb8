//! Choosing one of several endpoints for a key, so that the same key (a
//! trace id, a `service.name`) always goes to the same endpoint, and a
//! change of membership moves as few keys as possible.
//!
//! [`Rendezvous`] is rendezvous (highest random weight) hashing: every
//! member scores every key, and the highest score owns it. Removing a
//! member moves exactly the keys it owned, each to its next-ranked member;
//! adding one moves to it only the keys it now scores highest on, about
//! 1/n of them. The ranking also names each key's next owner when its owner
//! is unavailable ([`Rendezvous::owner_where`]), which is what failover
//! needs: the keys of a member that left go to one other member each, not
//! scattered. A lookup scores every member, a few nanoseconds each; that is
//! cheap for the handful of endpoints a client sends to.

/// Members identified by a name (an endpoint URL, an address), each owning
/// the keys it scores highest on.
///
/// ```
/// use otlp_resilience::balance::Rendezvous;
///
/// let mut ring = Rendezvous::new();
/// for endpoint in ["10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317"] {
///     ring.insert(endpoint, endpoint.to_owned());
/// }
/// let trace_id = [7u8; 16];
/// let owner = ring.owner(&trace_id).unwrap().clone();
/// // Unless its owner leaves, a key keeps its member.
/// ring.remove("10.0.0.9:4317");
/// assert_eq!(ring.owner(&trace_id), Some(&owner));
/// // Skipping an unhealthy owner gives the key's next one.
/// let next = ring.owner_where(&trace_id, |m| *m != owner).unwrap();
/// assert_ne!(next, &owner);
/// ```
#[derive(Debug, Clone)]
pub struct Rendezvous<M> {
    members: Vec<Member<M>>,
}

#[derive(Debug, Clone)]
struct Member<M> {
    name: String,
    seed: u64,
    value: M,
}

impl<M> Default for Rendezvous<M> {
    fn default() -> Self {
        Rendezvous {
            members: Vec::new(),
        }
    }
}

impl<M> Rendezvous<M> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` under `name`, or replaces the value of the member of
    /// that name (which keeps its keys). Returns the value replaced.
    pub fn insert(&mut self, name: &str, value: M) -> Option<M> {
        if let Some(m) = self.members.iter_mut().find(|m| m.name == name) {
            return Some(std::mem::replace(&mut m.value, value));
        }
        self.members.push(Member {
            name: name.to_owned(),
            seed: hash_bytes(name.as_bytes(), NAME_SEED),
            value,
        });
        None
    }

    /// Removes the member `name`; its keys go to their next-ranked members.
    pub fn remove(&mut self, name: &str) -> Option<M> {
        let i = self.members.iter().position(|m| m.name == name)?;
        Some(self.members.swap_remove(i).value)
    }

    /// How many members there are.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there is no member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The members' names and values, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &M)> {
        self.members.iter().map(|m| (m.name.as_str(), &m.value))
    }

    /// The member that owns `key`, if there is any member.
    pub fn owner(&self, key: &[u8]) -> Option<&M> {
        self.owner_where(key, |_| true)
    }

    /// The highest-ranked member for `key` among those for which `usable`
    /// holds (for example, the healthy ones): the owner if it is usable,
    /// else the key's next owner, and so on.
    pub fn owner_where(&self, key: &[u8], mut usable: impl FnMut(&M) -> bool) -> Option<&M> {
        let key = hash_bytes(key, KEY_SEED);
        let mut best: Option<(u64, &Member<M>)> = None;
        for m in &self.members {
            let s = score(key, m.seed);
            // Ties (practically impossible) go to the smaller name, so the
            // order of insertion does not matter.
            let better = best.is_none_or(|(b, bm)| s > b || (s == b && m.name < bm.name));
            if better && usable(&m.value) {
                best = Some((s, m));
            }
        }
        best.map(|(_, m)| &m.value)
    }

    /// The first two members of `key`'s ranking: its owner, and the member
    /// that owns it when the owner is gone (`None` with fewer members).
    /// One pass, as cheap as [`owner`](Self::owner): what a client needs
    /// to group keys by owner and next owner, so that a group can move
    /// whole to its next owner.
    pub fn top_two(&self, key: &[u8]) -> (Option<&M>, Option<&M>) {
        let key = hash_bytes(key, KEY_SEED);
        let mut first: Option<(u64, &Member<M>)> = None;
        let mut second: Option<(u64, &Member<M>)> = None;
        let above = |s: u64, m: &Member<M>, than: Option<(u64, &Member<M>)>| {
            than.is_none_or(|(b, bm)| s > b || (s == b && m.name < bm.name))
        };
        for m in &self.members {
            let s = score(key, m.seed);
            if above(s, m, first) {
                second = first;
                first = Some((s, m));
            } else if above(s, m, second) {
                second = Some((s, m));
            }
        }
        (first.map(|(_, m)| &m.value), second.map(|(_, m)| &m.value))
    }

    /// The members in `key`'s ranking order: its owner first, then the
    /// member that would own it without the owner, and so on.
    pub fn ranked(&self, key: &[u8]) -> Vec<&M> {
        let key = hash_bytes(key, KEY_SEED);
        let mut scored: Vec<(u64, &Member<M>)> = self
            .members
            .iter()
            .map(|m| (score(key, m.seed), m))
            .collect();
        scored.sort_by(|(a, am), (b, bm)| b.cmp(a).then_with(|| am.name.cmp(&bm.name)));
        scored.into_iter().map(|(_, m)| &m.value).collect()
    }
}

const NAME_SEED: u64 = 0x9e37_79b9_7f4a_7c15;
const KEY_SEED: u64 = 0xc2b2_ae3d_27d4_eb4f;

/// The score of a member (by its seed) for a key (by its hash).
fn score(key: u64, seed: u64) -> u64 {
    mix(key ^ seed)
}

/// A 64-bit hash of `bytes`, 8 bytes at a time: the words are folded with
/// a multiply and rotate, and the result finished with [`mix`].
fn hash_bytes(bytes: &[u8], seed: u64) -> u64 {
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(0xff51_afd7_ed55_8ccd);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h ^ mix(u64::from_le_bytes(word)))
            .rotate_left(27)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = (h ^ mix(u64::from_le_bytes(word))).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    mix(h)
}

/// MurmurHash3's 64-bit finalizer: every input bit affects every output
/// bit.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

#[cfg(test)]
mod tests;
