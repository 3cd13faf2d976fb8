//! PEM given inline or as a file to read when a client or receiver is
//! built: the TLS settings of both.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Pem {
    Inline(Vec<u8>),
    File(PathBuf),
}

/// Inline PEM may hold a private key: show only its size.
impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pem::Inline(pem) => write!(f, "Inline({} bytes)", pem.len()),
            Pem::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

impl Pem {
    /// The PEM, a file read now; on failure, the file and what went wrong.
    pub(crate) fn bytes(&self) -> Result<Vec<u8>, (&Path, std::io::Error)> {
        match self {
            Pem::Inline(pem) => Ok(pem.clone()),
            Pem::File(path) => std::fs::read(path).map_err(|e| (path.as_path(), e)),
        }
    }
}
