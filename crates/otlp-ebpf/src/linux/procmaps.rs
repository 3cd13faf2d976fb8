//! Process memory maps from `/proc/PID/maps`, with build ids cached per
//! binary. A process's maps are read when it is first seen, so that its
//! samples can still be symbolized after it exits.

use std::collections::HashMap;
use std::fs;
use std::sync::Arc;

use crate::model::Mapping;

/// Build ids per (device, inode, path) of a mapped file.
#[derive(Default)]
pub(crate) struct BuildIds {
    cache: HashMap<(String, u64, String), Option<Vec<u8>>>,
}

impl BuildIds {
    fn get(&mut self, pid: u32, range: &str, dev: &str, inode: u64, path: &str) -> Option<Vec<u8>> {
        let key = (dev.to_owned(), inode, path.to_owned());
        if let Some(id) = self.cache.get(&key) {
            return id.clone();
        }
        // map_files reaches the mapped file even when it was deleted or
        // replaced on disk since; fall back to the path.
        let id = blazesym::helper::read_elf_build_id(&format!("/proc/{pid}/map_files/{range}"))
            .or_else(|_| blazesym::helper::read_elf_build_id(path))
            .ok()
            .flatten()
            .map(|id| id.into_owned());
        self.cache.insert(key, id.clone());
        id
    }
}

/// What is known of one process.
pub(crate) struct ProcessInfo {
    pub(crate) executable_name: String,
    /// Executable mappings, sorted by start address.
    pub(crate) mappings: Vec<Arc<Mapping>>,
}

impl ProcessInfo {
    /// Reads `/proc/PID/{exe,comm,maps}`; `None` when the process is gone.
    pub(crate) fn read(pid: u32, build_ids: &mut BuildIds) -> Option<ProcessInfo> {
        let maps = fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
        let executable_name = fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .or_else(|| {
                fs::read_to_string(format!("/proc/{pid}/comm"))
                    .ok()
                    .map(|c| c.trim_end().to_owned())
            })
            .unwrap_or_default();
        let mut mappings: Vec<Arc<Mapping>> = maps
            .lines()
            .filter_map(|line| parse_line(pid, line, build_ids))
            .map(Arc::new)
            .collect();
        mappings.sort_by_key(|m| m.start);
        Some(ProcessInfo {
            executable_name,
            mappings,
        })
    }

    /// The mapping holding `address`.
    pub(crate) fn mapping_of(&self, address: u64) -> Option<&Arc<Mapping>> {
        let i = self.mappings.partition_point(|m| m.start <= address);
        let m = self.mappings.get(i.checked_sub(1)?)?;
        (address < m.end).then_some(m)
    }
}

/// One line: `start-end perms offset dev inode [path]`; only executable
/// mappings matter for stacks.
fn parse_line(pid: u32, line: &str, build_ids: &mut BuildIds) -> Option<Mapping> {
    let mut fields = line.split_ascii_whitespace();
    let range = fields.next()?;
    let perms = fields.next()?;
    let offset = u64::from_str_radix(fields.next()?, 16).ok()?;
    let dev = fields.next()?;
    let inode: u64 = fields.next()?.parse().ok()?;
    // The path is the rest of the line and may contain spaces.
    let path = line
        .splitn(6, |c: char| c.is_ascii_whitespace())
        .nth(5)
        .map(str::trim)
        .unwrap_or("");
    if !perms.contains('x') {
        return None;
    }
    let (start, end) = range.split_once('-')?;
    let start = u64::from_str_radix(start, 16).ok()?;
    let end = u64::from_str_radix(end, 16).ok()?;
    let build_id = if inode != 0 && path.starts_with('/') {
        build_ids.get(pid, range, dev, inode, path)
    } else {
        None
    };
    let path = if path.is_empty() { "[anon]" } else { path };
    Some(Mapping::new(start, end, offset, path.to_owned(), build_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_maps_lines_and_keeps_executable_ones() {
        let mut ids = BuildIds::default();
        let line = "7f0000001000-7f0000005000 r-xp 00002000 00:00 0 [vdso]";
        let m = parse_line(0, line, &mut ids).expect("executable mapping");
        assert_eq!(
            (m.start, m.end, m.file_offset),
            (0x7f0000001000, 0x7f0000005000, 0x2000)
        );
        assert_eq!(m.path, "[vdso]");
        assert!(parse_line(0, "7f00-7f10 rw-p 00000000 00:00 0", &mut ids).is_none());
        let spaced = "1000-2000 r-xp 00000000 00:00 0    /opt/my app/bin";
        assert_eq!(
            parse_line(0, spaced, &mut ids).expect("mapping").path,
            "/opt/my app/bin"
        );
        let anon = parse_line(0, "1000-2000 r-xp 00000000 00:00 0", &mut ids).expect("anon");
        assert_eq!(anon.path, "[anon]");
        assert!(parse_line(0, "garbage", &mut ids).is_none());
        assert!(parse_line(0, "zz-2000 r-xp 0 00:00 0", &mut ids).is_none());
    }

    #[test]
    fn reads_own_maps_with_build_id_and_finds_own_code() {
        let mut ids = BuildIds::default();
        let info = ProcessInfo::read(std::process::id(), &mut ids).expect("own maps");
        let address = reads_own_maps_with_build_id_and_finds_own_code as *const () as usize as u64;
        let mapping = info.mapping_of(address).expect("test code is mapped");
        assert!(mapping.path.starts_with('/'), "{mapping:?}");
        assert!(info.mapping_of(0).is_none());
        assert!(!info.executable_name.is_empty());
    }
}
