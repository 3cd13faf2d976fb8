use super::*;
use proptest::prelude::*;

fn ring(names: &[String]) -> Rendezvous<String> {
    let mut r = Rendezvous::new();
    for n in names {
        r.insert(n, n.clone());
    }
    r
}

fn keys(n: usize, seed: u64) -> Vec<[u8; 16]> {
    (0..n as u64)
        .map(|i| {
            let a = mix(i ^ seed).to_le_bytes();
            let b = mix(i.wrapping_add(seed).rotate_left(17)).to_le_bytes();
            let mut k = [0; 16];
            k[..8].copy_from_slice(&a);
            k[8..].copy_from_slice(&b);
            k
        })
        .collect()
}

fn names() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::btree_set("[a-z0-9.:]{1,20}", 2..8)
        .prop_map(|set| set.into_iter().collect())
}

proptest! {
    /// The top two are the first two of the full ranking.
    #[test]
    fn top_two_is_the_head_of_the_ranking(names in proptest::collection::btree_set("[a-z0-9.:]{1,20}", 0..8), seed in any::<u64>()) {
        let names: Vec<String> = names.into_iter().collect();
        let r = ring(&names);
        for key in keys(200, seed) {
            let ranked = r.ranked(&key);
            prop_assert_eq!(r.top_two(&key), (ranked.first().copied(), ranked.get(1).copied()));
        }
    }

    /// Removing a member moves exactly its keys, each to the member that
    /// ranked second for it.
    #[test]
    fn removing_a_member_moves_only_its_keys(names in names(), gone in any::<prop::sample::Index>(), seed in any::<u64>()) {
        let before = ring(&names);
        let gone = &names[gone.index(names.len())];
        let mut after = before.clone();
        let removed = after.remove(gone);
        prop_assert_eq!(removed.as_ref(), Some(gone));
        for key in keys(2000, seed) {
            let was = before.owner(&key).unwrap();
            let now = after.owner(&key).unwrap();
            if was == gone {
                prop_assert_eq!(now, before.ranked(&key)[1]);
            } else {
                prop_assert_eq!(now, was);
            }
        }
    }

    /// Adding a member moves keys only to it; the order of insertion does
    /// not change any owner.
    #[test]
    fn adding_a_member_moves_keys_only_to_it(names in names(), seed in any::<u64>()) {
        let (last, rest) = names.split_last().unwrap();
        let before = ring(rest);
        let after = ring(&names);
        let mut reversed: Vec<String> = names.clone();
        reversed.reverse();
        let shuffled = ring(&reversed);
        for key in keys(2000, seed) {
            let now = after.owner(&key).unwrap();
            prop_assert!(now == before.owner(&key).unwrap() || now == last);
            prop_assert_eq!(shuffled.owner(&key), Some(now));
        }
    }

    /// Skipping members gives the first usable one in the key's ranking.
    #[test]
    fn owner_where_follows_the_ranking(names in names(), seed in any::<u64>(), down in any::<u8>()) {
        let r = ring(&names);
        let usable = |m: &String| (m.len() as u8 ^ down) & 1 == 0;
        for key in keys(200, seed) {
            let expected = r.ranked(&key).into_iter().find(|m| usable(m));
            prop_assert_eq!(r.owner_where(&key, usable), expected);
        }
    }
}

/// Keys spread evenly: with three members each owns a third of random
/// trace ids, within 2 percentage points over 300,000 keys.
#[test]
fn keys_spread_evenly() {
    let names: Vec<String> = ["10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317"]
        .map(String::from)
        .to_vec();
    let r = ring(&names);
    let mut counts = std::collections::HashMap::new();
    let n = 300_000;
    for key in keys(n, 42) {
        *counts
            .entry(r.owner(&key).unwrap().clone())
            .or_insert(0usize) += 1;
    }
    for name in &names {
        let share = counts[name] as f64 / n as f64;
        assert!((share - 1.0 / 3.0).abs() < 0.02, "{name}: {share}");
    }
}

#[test]
fn empty_and_replaced_members() {
    let mut r: Rendezvous<u32> = Rendezvous::new();
    assert!(r.is_empty());
    assert_eq!(r.owner(b"k"), None);
    assert_eq!(r.insert("a", 1), None);
    assert_eq!(r.insert("a", 2), Some(1));
    assert_eq!(r.len(), 1);
    assert_eq!(r.owner(b"k"), Some(&2));
    assert_eq!(r.owner_where(b"k", |_| false), None);
    assert_eq!(r.remove("b"), None);
    assert_eq!(r.remove("a"), Some(2));
    assert!(r.ranked(b"k").is_empty());
}
