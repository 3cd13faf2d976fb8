//! Conversion of a [`Collection`] to an OTLP `ExportProfilesServiceRequest`
//! (`opentelemetry.proto.profiles.v1development`).
//!
//! One `ResourceProfiles` per process (resource attributes `process.pid`,
//! `process.executable.name`, `host.name`), each with one `Profile` of
//! `samples`/`count` values over a `cpu`/`nanoseconds` period. The tables of
//! strings, functions, locations, mappings, stacks and attributes are shared
//! by all of them in the request's dictionary; index 0 of each is the zero
//! value, as the protocol requires.

use std::time::SystemTime;

use opentelemetry_proto::tonic::collector::profiles::v1development::ExportProfilesServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::profiles::v1development::{
    Function, KeyValueAndUnit, Line, Link, Location, Mapping, Profile, ProfilesDictionary,
    ResourceProfiles, Sample, ScopeProfiles, Stack, ValueType,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::intern::{index_i32, Interner, Strings};
use crate::model::{Collection, Frame, FrameKind};

/// Attribute key of a location's frame type (`native`, `kernel`).
const FRAME_TYPE: &str = "profile.frame.type";
/// Attribute key of a mapping's GNU build id (hex).
const BUILD_ID: &str = "process.executable.build_id.gnu";

pub(crate) fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

struct Dictionary {
    strings: Strings,
    functions: Interner<(usize, usize)>,
    function_table: Vec<Function>,
    mappings: Interner<(u64, u64, u64, usize, Option<usize>)>,
    mapping_table: Vec<Mapping>,
    locations: Interner<(usize, u64, FrameKind)>,
    location_table: Vec<Location>,
    stacks: Interner<Vec<i32>>,
    stack_table: Vec<Stack>,
    attributes: Interner<(usize, String)>,
    attribute_table: Vec<KeyValueAndUnit>,
}

impl Dictionary {
    fn new() -> Self {
        let mut d = Dictionary {
            strings: Strings::new(),
            functions: Interner::new(),
            function_table: Vec::new(),
            mappings: Interner::new(),
            mapping_table: Vec::new(),
            locations: Interner::new(),
            location_table: Vec::new(),
            stacks: Interner::new(),
            stack_table: Vec::new(),
            attributes: Interner::new(),
            attribute_table: Vec::new(),
        };
        // The zero values at index 0.
        d.functions.intern((usize::MAX, usize::MAX));
        d.function_table.push(Function::default());
        d.mappings.intern((0, 0, 0, usize::MAX, None));
        d.mapping_table.push(Mapping::default());
        d.locations.intern((usize::MAX, 0, FrameKind::Native));
        d.location_table.push(Location::default());
        d.stacks.intern(Vec::new());
        d.stack_table.push(Stack::default());
        d.attributes.intern((usize::MAX, String::new()));
        d.attribute_table.push(KeyValueAndUnit::default());
        d
    }

    fn string_attribute(&mut self, key: &str, value: &str) -> i32 {
        let key_index = self.strings.get(key);
        let (i, new) = self.attributes.intern((key_index, value.to_owned()));
        if new {
            self.attribute_table.push(KeyValueAndUnit {
                key_strindex: index_i32(key_index),
                value: Some(string_value(value)),
                unit_strindex: 0,
            });
        }
        index_i32(i)
    }

    fn function(&mut self, name: &str, file: Option<&str>) -> i32 {
        let name_index = self.strings.get(name);
        let file_index = self.strings.get(file.unwrap_or(""));
        let (i, new) = self.functions.intern((name_index, file_index));
        if new {
            self.function_table.push(Function {
                name_strindex: index_i32(name_index),
                system_name_strindex: index_i32(name_index),
                filename_strindex: index_i32(file_index),
                start_line: 0,
            });
        }
        index_i32(i)
    }

    fn mapping(&mut self, frame: &Frame) -> i32 {
        let Some(mapping) = frame.mapping.as_deref() else {
            return 0;
        };
        let path_index = self.strings.get(&mapping.path);
        let build_id = mapping.build_id_hex();
        let build_id_index = build_id.as_deref().map(|id| self.strings.get(id));
        let key = (
            mapping.start,
            mapping.end,
            mapping.file_offset,
            path_index,
            build_id_index,
        );
        let (i, new) = self.mappings.intern(key);
        if new {
            let attribute_indices = match &build_id {
                Some(id) => vec![self.string_attribute(BUILD_ID, id)],
                None => Vec::new(),
            };
            self.mapping_table.push(Mapping {
                memory_start: mapping.start,
                memory_limit: mapping.end,
                file_offset: mapping.file_offset,
                filename_strindex: index_i32(path_index),
                attribute_indices,
            });
        }
        index_i32(i)
    }

    fn location(&mut self, frame: &Frame) -> i32 {
        let mapping_index = self.mapping(frame);
        let key = (
            usize::try_from(mapping_index).unwrap_or(0),
            frame.address,
            frame.kind,
        );
        let (i, new) = self.locations.intern(key);
        if new {
            let lines = frame
                .functions
                .iter()
                .map(|f| Line {
                    function_index: self.function(&f.name, f.file.as_deref()),
                    line: i64::from(f.line.unwrap_or(0)),
                    column: 0,
                })
                .collect();
            let attribute_indices = vec![self.string_attribute(FRAME_TYPE, frame.kind.as_str())];
            self.location_table.push(Location {
                mapping_index,
                address: frame.address,
                lines,
                attribute_indices,
            });
        }
        index_i32(i)
    }

    fn stack(&mut self, frames: &[Frame]) -> i32 {
        let location_indices: Vec<i32> = frames.iter().map(|f| self.location(f)).collect();
        let (i, new) = self.stacks.intern(location_indices.clone());
        if new {
            self.stack_table.push(Stack { location_indices });
        }
        index_i32(i)
    }

    fn into_proto(self) -> ProfilesDictionary {
        ProfilesDictionary {
            mapping_table: self.mapping_table,
            location_table: self.location_table,
            function_table: self.function_table,
            link_table: vec![Link::default()],
            string_table: self.strings.table,
            attribute_table: self.attribute_table,
            stack_table: self.stack_table,
        }
    }
}

fn string_value(s: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s.to_owned())),
    }
}

fn key_value(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

impl Collection {
    /// The collection as an OTLP profiles export request.
    pub fn to_otlp_request(&self) -> ExportProfilesServiceRequest {
        let mut dict = Dictionary::new();
        let sample_type = ValueType {
            type_strindex: index_i32(dict.strings.get("samples")),
            unit_strindex: index_i32(dict.strings.get("count")),
        };
        let period_type = ValueType {
            type_strindex: index_i32(dict.strings.get("cpu")),
            unit_strindex: index_i32(dict.strings.get("nanoseconds")),
        };
        let start = unix_nanos(self.start);
        let duration = unix_nanos(self.end).saturating_sub(start);
        let period = saturating_i64(u64::try_from(self.period.as_nanos()).unwrap_or(u64::MAX));

        let mut resource_profiles = Vec::with_capacity(self.processes.len());
        for process in &self.processes {
            let samples = process
                .stacks
                .iter()
                .map(|stack| Sample {
                    stack_index: dict.stack(&stack.frames),
                    attribute_indices: Vec::new(),
                    link_index: 0,
                    values: vec![saturating_i64(stack.count)],
                    timestamps_unix_nano: vec![unix_nanos(stack.last_sample)],
                })
                .collect();
            let profile = Profile {
                sample_type: Some(sample_type),
                samples,
                time_unix_nano: start,
                duration_nano: duration,
                period_type: Some(period_type),
                period,
                profile_id: profile_id(process.pid, start),
                dropped_attributes_count: 0,
                original_payload_format: String::new(),
                original_payload: Vec::new(),
                attribute_indices: Vec::new(),
            };
            let mut attributes = vec![
                key_value(
                    "process.pid",
                    any_value::Value::IntValue(i64::from(process.pid)),
                ),
                key_value(
                    "host.name",
                    any_value::Value::StringValue(self.host_name.clone()),
                ),
            ];
            if !process.executable_name.is_empty() {
                attributes.push(key_value(
                    "process.executable.name",
                    any_value::Value::StringValue(process.executable_name.clone()),
                ));
            }
            resource_profiles.push(ResourceProfiles {
                resource: Some(Resource {
                    attributes,
                    ..Default::default()
                }),
                scope_profiles: vec![ScopeProfiles {
                    scope: Some(InstrumentationScope {
                        name: env!("CARGO_PKG_NAME").to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..Default::default()
                    }),
                    profiles: vec![profile],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            });
        }
        ExportProfilesServiceRequest {
            resource_profiles,
            dictionary: Some(dict.into_proto()),
        }
    }

    /// The OTLP request's protobuf encoding (the body of an OTLP/HTTP
    /// `application/x-protobuf` request, or a gRPC message).
    pub fn encode_otlp(&self) -> Vec<u8> {
        self.to_otlp_request().encode_to_vec()
    }
}

/// A profile id unique per process and window; all zeroes is invalid.
fn profile_id(pid: u32, start: u64) -> Vec<u8> {
    let mut id = Vec::with_capacity(16);
    id.extend_from_slice(&start.to_be_bytes());
    id.extend_from_slice(&u64::from(pid).wrapping_add(1).to_be_bytes());
    id
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::profiles::v1development::ExportProfilesServiceRequest;
    use prost::Message;

    use crate::model::tests::sample_collection;

    fn names(req: &ExportProfilesServiceRequest, stack_index: i32) -> Vec<String> {
        let d = req.dictionary.as_ref().expect("dictionary");
        let stack = &d.stack_table[stack_index as usize];
        stack
            .location_indices
            .iter()
            .flat_map(|&li| d.location_table[li as usize].lines.iter())
            .map(|l| {
                d.string_table[d.function_table[l.function_index as usize].name_strindex as usize]
                    .clone()
            })
            .collect()
    }

    #[test]
    fn request_has_zero_entries_shared_tables_and_resources() {
        let c = sample_collection();
        let bytes = c.encode_otlp();
        let req = ExportProfilesServiceRequest::decode(bytes.as_slice()).expect("decode");
        assert_eq!(req, c.to_otlp_request());
        let d = req.dictionary.as_ref().expect("dictionary");
        // Index 0 of every table is the zero value.
        assert_eq!(d.string_table[0], "");
        assert_eq!(d.function_table[0], Default::default());
        assert_eq!(d.location_table[0], Default::default());
        assert_eq!(d.mapping_table[0], Default::default());
        assert_eq!(d.stack_table[0], Default::default());
        assert_eq!(d.attribute_table[0], Default::default());
        assert_eq!(d.link_table.len(), 1);
        // Both processes share the app mapping and the leaf/caller stack.
        assert_eq!(d.mapping_table.len(), 3, "zero, app, kernel");
        assert_eq!(d.stack_table.len(), 4, "zero + 3 distinct stacks");
        // Strings are not repeated.
        let mut seen = std::collections::HashSet::new();
        assert!(d.string_table.iter().all(|s| seen.insert(s)));

        assert_eq!(req.resource_profiles.len(), 2);
        let first = &req.resource_profiles[0];
        let keys: Vec<&str> = first
            .resource
            .as_ref()
            .expect("resource")
            .attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .collect();
        assert_eq!(
            keys,
            ["process.pid", "host.name", "process.executable.name"]
        );
        // An exited process with no name gets no empty name attribute.
        let second = &req.resource_profiles[1];
        assert_eq!(
            second.resource.as_ref().expect("resource").attributes.len(),
            2
        );

        let p = &first.scope_profiles[0].profiles[0];
        assert_eq!(p.time_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(p.duration_nano, 10_000_000_000);
        assert_eq!(p.period, 52_631_578);
        assert_eq!(p.samples.len(), 2);
        assert_eq!(p.samples[0].values, [7]);
        assert_eq!(
            p.samples[0].timestamps_unix_nano,
            [1_700_000_009_000_000_000]
        );
        // Inlined function first, the function it is compiled into next.
        assert_eq!(
            names(&req, p.samples[0].stack_index),
            ["inlined", "work", "main"]
        );
        assert_eq!(
            names(&req, p.samples[1].stack_index),
            ["do_syscall_64", "main"]
        );
        assert_ne!(p.profile_id, vec![0; 16]);
        assert_ne!(
            p.profile_id,
            second.scope_profiles[0].profiles[0].profile_id
        );
    }

    #[test]
    fn mappings_carry_file_offset_build_id_and_frame_types() {
        let req = sample_collection().to_otlp_request();
        let d = req.dictionary.as_ref().expect("dictionary");
        let s = |i: i32| d.string_table[i as usize].as_str();
        let app = d
            .mapping_table
            .iter()
            .find(|m| s(m.filename_strindex) == "/usr/bin/app")
            .expect("app");
        assert_eq!(
            (app.memory_start, app.memory_limit, app.file_offset),
            (0x5000, 0x9000, 0x1000)
        );
        let attr = &d.attribute_table[app.attribute_indices[0] as usize];
        assert_eq!(s(attr.key_strindex), "process.executable.build_id.gnu");
        let kernel_loc = d
            .location_table
            .iter()
            .find(|l| l.address == 0xffff_8000_0000_1000)
            .expect("kernel");
        let frame_type = &d.attribute_table[kernel_loc.attribute_indices[0] as usize];
        assert_eq!(s(frame_type.key_strindex), "profile.frame.type");
        let unknown = d
            .location_table
            .iter()
            .find(|l| l.address == 0x7777)
            .expect("unknown");
        assert_eq!(unknown.mapping_index, 0);
        assert!(unknown.lines.is_empty());
    }
}
