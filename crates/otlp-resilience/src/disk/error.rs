use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Errors of [`DiskQueue`](super::DiskQueue).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiskError {
    /// Another `DiskQueue`, in this process or another one, has the
    /// directory open. Two writers would corrupt each other's segments, so
    /// the second open is refused rather than waiting.
    #[error(
        "disk queue directory {} is already in use: its lock file is held by another \
         DiskQueue in this or another process",
        dir.display()
    )]
    Locked {
        /// The queue directory.
        dir: PathBuf,
    },
    /// A file operation failed.
    #[error("disk queue could not {op} {}", path.display())]
    Io {
        /// What was being done, e.g. `"fsync"`.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The record did not fit in the disk budget and the overflow policy is
    /// [`Overflow::DropNewest`](super::Overflow::DropNewest): it was not
    /// queued.
    #[error(
        "disk queue full: the record needs {needed} bytes, {free} of the {max_bytes}-byte \
         budget are free; record dropped"
    )]
    Full {
        /// Bytes the record would have taken on disk.
        needed: u64,
        /// Bytes free in the budget.
        free: u64,
        /// The budget.
        max_bytes: u64,
    },
    /// Under [`Overflow::Block`](super::Overflow::Block) no space was freed
    /// within the deadline: the record was not queued.
    #[error("disk queue stayed full for the {deadline:?} block deadline; record dropped")]
    FullTimeout {
        /// The configured deadline.
        deadline: Duration,
    },
    /// The record is larger than the whole budget (or than 4 GiB, the frame
    /// format's limit) and can never be queued.
    #[error("record of {len} bytes can never be queued: at most {max} bytes fit")]
    RecordTooLarge {
        /// The record's length.
        len: usize,
        /// The largest record that fits.
        max: u64,
    },
    /// A segment file in the directory has an intact header of a format
    /// version this build does not read (written by a newer version?). It
    /// is left untouched.
    #[error(
        "disk queue segment {} is format version {version}; this build reads version {}",
        path.display(),
        super::format::VERSION
    )]
    UnsupportedVersion {
        /// The segment file.
        path: PathBuf,
        /// The version in its header.
        version: u16,
    },
}

impl DiskError {
    pub(crate) fn io<'a>(
        op: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(io::Error) -> DiskError + 'a {
        move |source| DiskError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}
