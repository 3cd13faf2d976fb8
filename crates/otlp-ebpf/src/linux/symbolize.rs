//! Symbolization with blazesym: user addresses are turned into file offsets
//! in their mapping's binary and symbolized from that file (so processes that
//! exited are still symbolized from their snapshot of maps); kernel addresses
//! from `/proc/kallsyms`. Results are cached per (binary, offset) and per
//! kernel address; blazesym keeps each parsed binary.

use std::collections::HashMap;
use std::sync::Arc;

use blazesym::symbolize::source::{Elf, Kernel, Source};
use blazesym::symbolize::{Input, Sym, Symbolized, Symbolizer};

use crate::model::{FunctionLine, Mapping};

pub(crate) struct Symbols {
    symbolizer: Symbolizer,
    user: HashMap<(String, u64), Vec<FunctionLine>>,
    kernel: HashMap<u64, Vec<FunctionLine>>,
    /// The one mapping all kernel frames point at.
    pub(crate) kernel_mapping: Arc<Mapping>,
}

/// Upper bound of cached results; the caches are cleared when they grow
/// past it so that whole-system profiling stays bounded over days.
const CACHE_LIMIT: usize = 1 << 18;

fn lines(sym: &Sym<'_>) -> Vec<FunctionLine> {
    fn code(info: Option<&blazesym::symbolize::CodeInfo<'_>>) -> (Option<String>, Option<u32>) {
        match info {
            Some(info) => (
                Some(info.to_path().to_string_lossy().into_owned()),
                info.line,
            ),
            None => (None, None),
        }
    }
    // blazesym lists inlined calls outermost first; OTLP and pprof want the
    // innermost first and the containing function last.
    let mut out: Vec<FunctionLine> = sym
        .inlined
        .iter()
        .rev()
        .map(|f| {
            let (file, line) = code(f.code_info.as_ref());
            FunctionLine::new(f.name.to_string(), file, line)
        })
        .collect();
    let (file, line) = code(sym.code_info.as_deref());
    out.push(FunctionLine::new(sym.name.to_string(), file, line));
    out
}

impl Symbols {
    pub(crate) fn new() -> Self {
        Symbols {
            symbolizer: Symbolizer::builder()
                .enable_inlined_fns(true)
                .enable_code_info(true)
                .build(),
            user: HashMap::new(),
            kernel: HashMap::new(),
            kernel_mapping: Arc::new(Mapping::new(
                0xffff_8000_0000_0000,
                u64::MAX,
                0,
                "[kernel.kallsyms]".to_owned(),
                None,
            )),
        }
    }

    /// Functions at `file_offset` of the binary at `path`; empty when the
    /// binary has no symbol there (or cannot be read).
    pub(crate) fn user(&mut self, path: &str, file_offset: u64) -> Vec<FunctionLine> {
        let key = (path.to_owned(), file_offset);
        if let Some(hit) = self.user.get(&key) {
            return hit.clone();
        }
        if self.user.len() >= CACHE_LIMIT {
            self.user.clear();
        }
        let found = if path.starts_with('/') {
            let src = Source::Elf(Elf::new(path));
            match self
                .symbolizer
                .symbolize_single(&src, Input::FileOffset(file_offset))
            {
                Ok(Symbolized::Sym(sym)) => lines(&sym),
                _ => Vec::new(),
            }
        } else {
            Vec::new()
        };
        self.user.insert(key, found.clone());
        found
    }

    /// Functions at a kernel address.
    pub(crate) fn kernel(&mut self, address: u64) -> Vec<FunctionLine> {
        if let Some(hit) = self.kernel.get(&address) {
            return hit.clone();
        }
        if self.kernel.len() >= CACHE_LIMIT {
            self.kernel.clear();
        }
        let src = Source::Kernel(Kernel::default());
        let found = match self
            .symbolizer
            .symbolize_single(&src, Input::AbsAddr(address))
        {
            Ok(Symbolized::Sym(sym)) => lines(&sym),
            _ => Vec::new(),
        };
        self.kernel.insert(address, found.clone());
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::procmaps::{BuildIds, ProcessInfo};

    #[inline(never)]
    fn a_function_to_find() -> u64 {
        std::hint::black_box(7)
    }

    #[test]
    fn symbolizes_own_function_from_its_file_offset() {
        assert_eq!(a_function_to_find(), 7);
        let info = ProcessInfo::read(std::process::id(), &mut BuildIds::default()).expect("maps");
        let address = a_function_to_find as *const () as usize as u64;
        let mapping = info.mapping_of(address).expect("mapped");
        let offset = address - mapping.start + mapping.file_offset;
        let mut symbols = Symbols::new();
        let found = symbols.user(&mapping.path, offset);
        let last = found.last().expect("symbolized");
        assert!(last.name.contains("a_function_to_find"), "{found:?}");
        // Cached the second time, same answer.
        assert_eq!(symbols.user(&mapping.path, offset), found);
        assert!(symbols.user("[vdso]", 0).is_empty());
    }
}
