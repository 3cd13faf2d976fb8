//! pprof output: the `profile.proto` message of github.com/google/pprof,
//! gzip-compressed, as `go tool pprof` and other pprof readers take it.
//!
//! All processes go into one profile; each sample carries a numeric `pid`
//! label and a `process.executable.name` string label so that readers can
//! filter by process (`go tool pprof -tagfocus`).

use std::io::Write;

use flate2::write::GzEncoder;
use prost::Message;

use crate::intern::{Interner, Strings};
use crate::model::{Collection, Frame, FrameKind};
use crate::otlp::unix_nanos;

/// `perftools.profiles.Profile`, the fields this crate writes.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct PprofProfile {
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<PprofValueType>,
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<PprofSample>,
    #[prost(message, repeated, tag = "3")]
    pub mapping: Vec<PprofMapping>,
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<PprofLocation>,
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<PprofFunction>,
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<PprofValueType>,
    #[prost(int64, tag = "12")]
    pub period: i64,
}

#[derive(Clone, Copy, PartialEq, Message)]
pub(crate) struct PprofValueType {
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct PprofSample {
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
    #[prost(message, repeated, tag = "3")]
    pub label: Vec<PprofLabel>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct PprofLabel {
    #[prost(int64, tag = "1")]
    pub key: i64,
    #[prost(int64, tag = "2")]
    pub str: i64,
    #[prost(int64, tag = "3")]
    pub num: i64,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct PprofMapping {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(uint64, tag = "2")]
    pub memory_start: u64,
    #[prost(uint64, tag = "3")]
    pub memory_limit: u64,
    #[prost(uint64, tag = "4")]
    pub file_offset: u64,
    #[prost(int64, tag = "5")]
    pub filename: i64,
    #[prost(int64, tag = "6")]
    pub build_id: i64,
    #[prost(bool, tag = "7")]
    pub has_functions: bool,
    #[prost(bool, tag = "8")]
    pub has_filenames: bool,
    #[prost(bool, tag = "9")]
    pub has_line_numbers: bool,
    #[prost(bool, tag = "10")]
    pub has_inline_frames: bool,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct PprofLocation {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(uint64, tag = "2")]
    pub mapping_id: u64,
    #[prost(uint64, tag = "3")]
    pub address: u64,
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<PprofLine>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct PprofLine {
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    #[prost(int64, tag = "2")]
    pub line: i64,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct PprofFunction {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(int64, tag = "2")]
    pub name: i64,
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    #[prost(int64, tag = "4")]
    pub filename: i64,
}

fn id(i: usize) -> u64 {
    // pprof ids start at 1; 0 means "none".
    u64::try_from(i).unwrap_or(u64::MAX - 1) + 1
}

fn str_index(i: usize) -> i64 {
    i64::try_from(i).unwrap_or(0)
}

struct Builder {
    strings: Strings,
    functions: Interner<(usize, usize)>,
    mappings: Interner<(u64, u64, u64, String)>,
    locations: Interner<(u64, u64, FrameKind)>,
    profile: PprofProfile,
}

impl Builder {
    fn mapping_id(&mut self, frame: &Frame) -> u64 {
        let Some(mapping) = frame.mapping.as_deref() else {
            return 0;
        };
        let key = (
            mapping.start,
            mapping.end,
            mapping.file_offset,
            mapping.path.clone(),
        );
        let (i, new) = self.mappings.intern(key);
        if new {
            let filename = str_index(self.strings.get(&mapping.path));
            let build_id = str_index(
                self.strings
                    .get(&mapping.build_id_hex().unwrap_or_default()),
            );
            self.profile.mapping.push(PprofMapping {
                id: id(i),
                memory_start: mapping.start,
                memory_limit: mapping.end,
                file_offset: mapping.file_offset,
                filename,
                build_id,
                // Symbolized here; readers must not symbolize again.
                has_functions: true,
                has_filenames: true,
                has_line_numbers: true,
                has_inline_frames: true,
            });
        }
        id(i)
    }

    fn location_id(&mut self, frame: &Frame) -> u64 {
        let mapping_id = self.mapping_id(frame);
        let (i, new) = self
            .locations
            .intern((mapping_id, frame.address, frame.kind));
        if new {
            let line = frame
                .functions
                .iter()
                .map(|f| {
                    let name = self.strings.get(&f.name);
                    let file = self.strings.get(f.file.as_deref().unwrap_or(""));
                    let (fi, new_function) = self.functions.intern((name, file));
                    if new_function {
                        self.profile.function.push(PprofFunction {
                            id: id(fi),
                            name: str_index(name),
                            system_name: str_index(name),
                            filename: str_index(file),
                        });
                    }
                    PprofLine {
                        function_id: id(fi),
                        line: i64::from(f.line.unwrap_or(0)),
                    }
                })
                .collect();
            self.profile.location.push(PprofLocation {
                id: id(i),
                mapping_id,
                address: frame.address,
                line,
            });
        }
        id(i)
    }
}

impl Collection {
    /// The collection as an uncompressed pprof `Profile` message.
    pub(crate) fn to_pprof(&self) -> PprofProfile {
        let mut b = Builder {
            strings: Strings::new(),
            functions: Interner::new(),
            mappings: Interner::new(),
            locations: Interner::new(),
            profile: PprofProfile::default(),
        };
        let samples = str_index(b.strings.get("samples"));
        let count = str_index(b.strings.get("count"));
        let cpu = str_index(b.strings.get("cpu"));
        let nanoseconds = str_index(b.strings.get("nanoseconds"));
        let pid_key = str_index(b.strings.get("pid"));
        let exe_key = str_index(b.strings.get("process.executable.name"));
        b.profile.sample_type = vec![PprofValueType {
            r#type: samples,
            unit: count,
        }];
        b.profile.period_type = Some(PprofValueType {
            r#type: cpu,
            unit: nanoseconds,
        });
        b.profile.period = i64::try_from(self.period.as_nanos()).unwrap_or(i64::MAX);
        let start = unix_nanos(self.start);
        b.profile.time_nanos = i64::try_from(start).unwrap_or(i64::MAX);
        b.profile.duration_nanos =
            i64::try_from(unix_nanos(self.end).saturating_sub(start)).unwrap_or(i64::MAX);

        for process in &self.processes {
            let exe = str_index(b.strings.get(&process.executable_name));
            for stack in &process.stacks {
                let location_id = stack.frames.iter().map(|f| b.location_id(f)).collect();
                b.profile.sample.push(PprofSample {
                    location_id,
                    value: vec![i64::try_from(stack.count).unwrap_or(i64::MAX)],
                    label: vec![
                        PprofLabel {
                            key: pid_key,
                            str: 0,
                            num: i64::from(process.pid),
                        },
                        PprofLabel {
                            key: exe_key,
                            str: exe,
                            num: 0,
                        },
                    ],
                });
            }
        }
        b.profile.string_table = b.strings.table;
        b.profile
    }

    /// The collection as a gzip-compressed pprof `profile.proto`, the format
    /// `go tool pprof` reads.
    pub fn to_pprof_gzip(&self) -> Result<Vec<u8>, std::io::Error> {
        let raw = self.to_pprof().encode_to_vec();
        let mut gz = GzEncoder::new(
            Vec::with_capacity(raw.len() / 2),
            flate2::Compression::default(),
        );
        gz.write_all(&raw)?;
        gz.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::read::GzDecoder;
    use prost::Message;

    use super::PprofProfile;
    use crate::model::tests::sample_collection;

    #[test]
    fn gzip_profile_decodes_with_ids_from_one_and_labels() {
        let c = sample_collection();
        let gz = c.to_pprof_gzip().expect("pprof");
        let mut raw = Vec::new();
        GzDecoder::new(gz.as_slice())
            .read_to_end(&mut raw)
            .expect("gunzip");
        let p = PprofProfile::decode(raw.as_slice()).expect("decode");
        assert_eq!(p, c.to_pprof());
        assert_eq!(p.string_table[0], "");
        assert_eq!(p.sample.len(), 3);
        assert_eq!(p.sample.iter().map(|s| s.value[0]).sum::<i64>(), 14);
        // Every referenced id exists.
        for s in &p.sample {
            for id in &s.location_id {
                let loc = p.location.iter().find(|l| l.id == *id).expect("location");
                assert!(loc.mapping_id == 0 || p.mapping.iter().any(|m| m.id == loc.mapping_id));
                for line in &loc.line {
                    assert!(p.function.iter().any(|f| f.id == line.function_id));
                }
            }
            assert_eq!(p.string_table[s.label[0].key as usize], "pid");
        }
        assert!(p.location.iter().all(|l| l.id >= 1));
        let app = p
            .mapping
            .iter()
            .find(|m| p.string_table[m.filename as usize] == "/usr/bin/app")
            .expect("app");
        assert_eq!(p.string_table[app.build_id as usize], "ab01");
        assert_eq!(p.period, 52_631_578);
    }
}
