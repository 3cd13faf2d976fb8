//! Why a command failed, and the exit status that says so.

/// A failed command. Its message is one line; `main` prints it after the
/// command's name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CliError {
    /// The arguments or the settings from the environment cannot work:
    /// a malformed endpoint, brotli over gRPC, an invalid `OTEL_*` value.
    #[error("{0}")]
    Usage(String),
    /// Nothing could be delivered because the endpoint could not be reached.
    #[error("{0}")]
    Unreachable(String),
    /// The command ran but did not succeed: items were not accepted, a
    /// file could not be written, an address could not be bound.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// The exit status of a usage error (also clap's).
    pub(crate) const USAGE: u8 = 2;

    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Unreachable(_) => Self::USAGE,
            CliError::Failed(_) => 1,
        }
    }
}
