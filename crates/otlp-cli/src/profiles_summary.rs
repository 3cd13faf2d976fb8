//! What `otlp receive` prints of a profiles request: its samples and the
//! frames of its heaviest stack.

use otlp_core::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
use otlp_core::proto::profiles::v1development::ProfilesDictionary;
use std::collections::HashMap;

/// Frames of the heaviest stack shown, leaf first.
const TOP_FRAMES: usize = 3;

/// `samples N, top: leaf <- caller <- ...` for `request`. Every index is
/// checked: a frame the dictionary does not resolve prints as `?`.
pub(crate) fn summary(request: &ExportProfilesServiceRequest) -> String {
    let mut weights: HashMap<i32, u64> = HashMap::new();
    let mut total = 0u64;
    let samples = request
        .resource_profiles
        .iter()
        .flat_map(|rp| &rp.scope_profiles)
        .flat_map(|sp| &sp.profiles)
        .flat_map(|p| &p.samples);
    for sample in samples {
        // The first value is the count of a CPU profile; a sample without
        // values is one observation.
        let weight = sample
            .values
            .first()
            .map_or(1, |&v| u64::try_from(v).unwrap_or(0));
        total = total.saturating_add(weight);
        let w = weights.entry(sample.stack_index).or_default();
        *w = w.saturating_add(weight);
    }
    let heaviest = weights
        .into_iter()
        .max_by_key(|&(stack, weight)| (weight, std::cmp::Reverse(stack)));
    let top = match (heaviest, &request.dictionary) {
        (Some((stack, _)), Some(dict)) => frames(dict, stack),
        _ => "-".to_owned(),
    };
    format!("samples {total}, top: {top}")
}

/// The first frames of stack `index`, leaf first.
fn frames(dict: &ProfilesDictionary, index: i32) -> String {
    let Some(stack) = usize::try_from(index)
        .ok()
        .and_then(|i| dict.stack_table.get(i))
    else {
        return "?".to_owned();
    };
    let mut names: Vec<String> = stack
        .location_indices
        .iter()
        .take(TOP_FRAMES)
        .map(|&l| frame(dict, l))
        .collect();
    if stack.location_indices.len() > TOP_FRAMES {
        names.push("...".to_owned());
    }
    if names.is_empty() {
        return "-".to_owned();
    }
    names.join(" <- ")
}

/// A location's function name, or its address when it has none.
fn frame(dict: &ProfilesDictionary, location: i32) -> String {
    let get = |i: i32| usize::try_from(i).ok();
    let Some(loc) = get(location).and_then(|i| dict.location_table.get(i)) else {
        return "?".to_owned();
    };
    let name = loc
        .lines
        .first()
        .and_then(|line| get(line.function_index))
        .and_then(|f| dict.function_table.get(f))
        .and_then(|f| get(f.name_strindex))
        .and_then(|s| dict.string_table.get(s))
        .filter(|s| !s.is_empty());
    match name {
        Some(name) => name.clone(),
        None => format!("{:#x}", loc.address),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otlp_core::proto::profiles::v1development::{
        Function, Line, Location, Profile, ResourceProfiles, Sample, ScopeProfiles, Stack,
    };

    fn request(
        samples: Vec<Sample>,
        dictionary: Option<ProfilesDictionary>,
    ) -> ExportProfilesServiceRequest {
        ExportProfilesServiceRequest {
            resource_profiles: vec![ResourceProfiles {
                scope_profiles: vec![ScopeProfiles {
                    profiles: vec![Profile {
                        samples,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            dictionary,
        }
    }

    fn sample(stack_index: i32, count: i64) -> Sample {
        Sample {
            stack_index,
            values: vec![count],
            ..Default::default()
        }
    }

    #[test]
    fn names_the_heaviest_stack_leaf_first() {
        let location = |function_index, address| Location {
            address,
            lines: vec![Line {
                function_index,
                ..Default::default()
            }],
            ..Default::default()
        };
        let function = |name_strindex| Function {
            name_strindex,
            ..Default::default()
        };
        let dict = ProfilesDictionary {
            string_table: ["", "burn", "caller", "main"].map(String::from).to_vec(),
            function_table: vec![function(0), function(1), function(2), function(3)],
            location_table: vec![
                location(1, 0x10),
                location(2, 0x20),
                location(3, 0x30),
                location(0, 0x40),
                location(9, 0x50),
            ],
            stack_table: vec![
                Stack {
                    location_indices: vec![2],
                },
                Stack {
                    location_indices: vec![0, 1, 2, 3],
                },
                Stack {
                    location_indices: vec![3, 4, -1],
                },
            ],
            ..Default::default()
        };
        let r = request(
            vec![sample(0, 2), sample(1, 3), sample(1, 1)],
            Some(dict.clone()),
        );
        assert_eq!(summary(&r), "samples 6, top: burn <- caller <- main <- ...");
        // Unnamed and unresolvable frames, and no dictionary at all.
        let r = request(vec![sample(2, 1)], Some(dict));
        assert_eq!(summary(&r), "samples 1, top: 0x40 <- 0x50 <- ?");
        let r = request(vec![sample(7, -5), Sample::default()], None);
        assert_eq!(summary(&r), "samples 1, top: -");
        assert_eq!(summary(&request(vec![], None)), "samples 0, top: -");
    }
}
