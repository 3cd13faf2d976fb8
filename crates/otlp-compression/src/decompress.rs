//! Decompression with a hard cap on the output size.

use std::error::Error;
use std::fmt;

#[cfg(feature = "brotli")]
use brotli::enc::StandardAlloc;
#[cfg(feature = "brotli")]
use brotli::{BrotliDecompressStream, BrotliResult, BrotliState};
#[cfg(feature = "gzip")]
use flate2::{Decompress, FlushDecompress, Status};
#[cfg(feature = "zstd")]
use zstd::zstd_safe::{self, DCtx, DParameter, InBuffer, OutBuffer, ResetDirective};

#[cfg(feature = "gzip")]
use crate::gzip;
use crate::Algorithm;

/// The least output room handed to a decoder at a time.
#[cfg(any(feature = "gzip", feature = "zstd", feature = "brotli"))]
const MIN_ROOM: usize = 16 * 1024;
/// First guess at how much larger than its compressed form a payload is;
/// the output buffer doubles from there as needed.
#[cfg(any(feature = "gzip", feature = "brotli"))]
const EXPANSION_GUESS: usize = 4;
/// The largest window log zstd accepts on every platform (1 GiB).
#[cfg(feature = "zstd")]
const ZSTD_MAX_WINDOW_LOG: u32 = 30;

/// Why a payload could not be decompressed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecompressError {
    /// The payload decompresses to more than `limit` bytes. Decoding stopped
    /// as soon as that was known; the sender should be told the payload is
    /// too large (HTTP 413, gRPC `RESOURCE_EXHAUSTED`).
    #[error("decompressed payload exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// The payload is not valid data of the algorithm: malformed, truncated,
    /// followed by trailing bytes, or failing its checksum; or a zstd frame
    /// asks for a larger window than the limit allows (see
    /// [`Decompressor::decompress`]). Retrying the same payload fails the
    /// same way.
    #[error("corrupt {algorithm} payload: {source}")]
    Corrupt {
        /// The algorithm the payload was decoded as.
        algorithm: Algorithm,
        /// What was wrong, as the decoder reported it.
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },
    /// The algorithm's codec was left out of this build: the crate feature
    /// of the same name (`gzip`, `zstd` or `brotli`) is not enabled. A
    /// receiver should answer as for an unknown encoding (HTTP 415, gRPC
    /// `UNIMPLEMENTED`). See [`Algorithm::is_supported`].
    #[error("{algorithm} support was not compiled in; enable the `{algorithm}` feature of otlp-compression")]
    Unsupported {
        /// The algorithm the payload is compressed with.
        algorithm: Algorithm,
    },
}

#[cfg(any(feature = "gzip", feature = "zstd", feature = "brotli"))]
fn corrupt(
    algorithm: Algorithm,
    source: impl Into<Box<dyn Error + Send + Sync>>,
) -> DecompressError {
    DecompressError::Corrupt {
        algorithm,
        source: source.into(),
    }
}

/// Replaces the contents of `out` with `input` decompressed, failing with
/// [`DecompressError::TooLarge`] as soon as the output would exceed `limit`
/// bytes, and with [`DecompressError::Unsupported`] if the algorithm's codec
/// was left out of this build.
///
/// A shorthand for [`Decompressor::decompress`] on a new [`Decompressor`];
/// keep a `Decompressor` to reuse its state across payloads.
pub fn decompress(
    algorithm: Algorithm,
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecompressError> {
    Decompressor::new().decompress(algorithm, input, limit, out)
}

/// Decompresses payloads of any [`Algorithm`] one after another, keeping
/// the inflate state and the zstd context for reuse.
///
/// Each state is created on first use of its algorithm, so a receiver can
/// keep one `Decompressor` per worker whatever encodings its clients send.
#[derive(Default)]
pub struct Decompressor {
    #[cfg(feature = "gzip")]
    inflate: Option<Decompress>,
    #[cfg(feature = "zstd")]
    zstd: Option<DCtx<'static>>,
}

impl Decompressor {
    /// A decompressor; it allocates nothing until first used.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the contents of `out` with `input` decompressed as
    /// `algorithm`, never producing more than `limit` bytes.
    ///
    /// `input` must be the whole payload: gzip may hold several members
    /// back to back and zstd several frames, which are decoded in turn;
    /// anything after the last one is an error. On error `out` is left
    /// empty.
    ///
    /// Memory: `out` is grown to at most `limit + 1` bytes of capacity (a
    /// zstd frame header declaring more than the limit fails at once).
    /// Beyond `out`, the decoders use a fixed amount except for their
    /// window: gzip's is 32 KiB, brotli's at most 16 MiB (RFC 7932 streams
    /// only; the large-window extension is refused), and zstd's at most the
    /// larger of 8 MiB and twice `limit`, as frames asking for more are
    /// refused.
    pub fn decompress(
        &mut self,
        algorithm: Algorithm,
        input: &[u8],
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), DecompressError> {
        out.clear();
        let mut sink = Sink {
            out,
            filled: 0,
            limit,
        };
        let result = match algorithm {
            Algorithm::None if input.len() > limit => Err(DecompressError::TooLarge { limit }),
            Algorithm::None => {
                sink.out.extend_from_slice(input);
                sink.advance(input.len())
            }
            algorithm if !algorithm.is_supported() => {
                Err(DecompressError::Unsupported { algorithm })
            }
            #[cfg(any(feature = "gzip", feature = "zstd", feature = "brotli"))]
            _ if input.is_empty() => Err(corrupt(algorithm, "empty input")),
            #[cfg(feature = "gzip")]
            Algorithm::Gzip => gunzip(
                self.inflate.get_or_insert_with(|| Decompress::new(false)),
                input,
                &mut sink,
            ),
            #[cfg(feature = "zstd")]
            Algorithm::Zstd => unzstd(self.zstd.get_or_insert_with(DCtx::create), input, &mut sink),
            #[cfg(feature = "brotli")]
            Algorithm::Brotli => unbrotli(input, &mut sink),
            // Only algorithms left out of the build reach here, and the
            // guard above has already answered for them.
            #[cfg(not(all(feature = "gzip", feature = "zstd", feature = "brotli")))]
            algorithm => Err(DecompressError::Unsupported { algorithm }),
        };
        let filled = if result.is_ok() { sink.filled } else { 0 };
        out.truncate(filled);
        result
    }
}

impl fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decompressor").finish_non_exhaustive()
    }
}

/// The output of one capped decode: `out[..filled]` is decoded, the rest
/// zeroed room for the decoder to write into.
///
/// The room never reaches past `limit + 1` bytes: a decoder that fills the
/// byte after the limit has proved the output too large, without having
/// decoded, or been given space for, anything more.
struct Sink<'a> {
    out: &'a mut Vec<u8>,
    filled: usize,
    limit: usize,
}

impl Sink<'_> {
    /// Extends the room to `additional` bytes, as far as the cap allows.
    #[cfg(any(feature = "gzip", feature = "zstd", feature = "brotli"))]
    fn reserve(&mut self, additional: usize) {
        let len = self
            .filled
            .saturating_add(additional)
            .min(self.limit.saturating_add(1));
        if len > self.out.len() {
            // Exact, so the buffer's capacity stays within the cap too.
            self.out.reserve_exact(len - self.out.len());
            self.out.resize(len, 0);
        }
    }

    /// The room, doubled first if it is full.
    #[cfg(any(feature = "gzip", feature = "zstd", feature = "brotli"))]
    fn room(&mut self) -> &mut [u8] {
        if self.filled == self.out.len() {
            self.reserve(self.filled.max(MIN_ROOM));
        }
        &mut self.out[self.filled..]
    }

    /// Records that the decoder wrote `written` bytes into the room.
    fn advance(&mut self, written: usize) -> Result<(), DecompressError> {
        self.filled += written;
        if self.filled > self.limit {
            return Err(DecompressError::TooLarge { limit: self.limit });
        }
        Ok(())
    }
}

#[cfg(feature = "gzip")]
fn gunzip(
    inflate: &mut Decompress,
    input: &[u8],
    sink: &mut Sink<'_>,
) -> Result<(), DecompressError> {
    const GZIP: Algorithm = Algorithm::Gzip;
    sink.reserve(input.len().saturating_mul(EXPANSION_GUESS));
    let mut pos = 0;
    // A gzip stream is one or more members back to back (RFC 1952 2.2).
    loop {
        pos += gzip::header_len(&input[pos..]).map_err(|e| corrupt(GZIP, e))?;
        inflate.reset(false);
        let start = sink.filled;
        loop {
            let (total_in, total_out) = (inflate.total_in(), inflate.total_out());
            let status = inflate
                .decompress(&input[pos..], sink.room(), FlushDecompress::None)
                .map_err(|e| corrupt(GZIP, e))?;
            let read = (inflate.total_in() - total_in) as usize;
            let written = (inflate.total_out() - total_out) as usize;
            pos += read;
            sink.advance(written)?;
            if status == Status::StreamEnd {
                break;
            }
            // The room is never empty here, so no progress means no input.
            if read == 0 && written == 0 {
                return Err(corrupt(GZIP, "truncated deflate stream"));
            }
        }
        gzip::check_trailer(&input[pos..], &sink.out[start..sink.filled])
            .map_err(|e| corrupt(GZIP, e))?;
        pos += gzip::TRAILER_LEN;
        if pos == input.len() {
            return Ok(());
        }
        if !gzip::is_member(&input[pos..]) {
            return Err(corrupt(GZIP, "trailing data after gzip member"));
        }
    }
}

/// The largest window a zstd frame may ask for under `limit`.
///
/// zstd's decoder allocates the window a frame header asks for, by default
/// up to 128 MiB whatever the limit. A window larger than the whole allowed
/// output is of no use to a valid frame, except that RFC 9659 lets any HTTP
/// encoder use up to 8 MiB.
#[cfg(feature = "zstd")]
fn zstd_window_log_max(limit: usize) -> u32 {
    let ceil_log2 = usize::BITS - limit.saturating_sub(1).leading_zeros();
    ceil_log2.clamp(crate::ZSTD_HTTP_WINDOW_LOG, ZSTD_MAX_WINDOW_LOG)
}

#[cfg(feature = "zstd")]
fn unzstd(
    dctx: &mut DCtx<'static>,
    input: &[u8],
    sink: &mut Sink<'_>,
) -> Result<(), DecompressError> {
    const ZSTD: Algorithm = Algorithm::Zstd;
    let zstd_error = |code| corrupt(ZSTD, zstd_safe::get_error_name(code));
    // A session reset also clears the error state a failed call leaves.
    dctx.reset(ResetDirective::SessionOnly)
        .map_err(zstd_error)?;
    dctx.set_parameter(DParameter::WindowLogMax(zstd_window_log_max(sink.limit)))
        .map_err(zstd_error)?;
    let mut src = InBuffer::around(input);
    let mut frame_start = true;
    loop {
        if frame_start {
            // Most frames record their size: refuse one over the limit before
            // decoding it, and otherwise make room for all of it, which lets
            // zstd decode straight into `out` instead of through its window.
            if let Ok(Some(size)) = zstd_safe::get_frame_content_size(&input[src.pos()..]) {
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                if size > sink.limit - sink.filled {
                    return Err(DecompressError::TooLarge { limit: sink.limit });
                }
                sink.reserve(size);
            }
        }
        let room = sink.room();
        let room_len = room.len();
        let mut dst = OutBuffer::around(room);
        let hint = dctx
            .decompress_stream(&mut dst, &mut src)
            .map_err(zstd_error)?;
        let written = dst.pos();
        sink.advance(written)?;
        // zstd returns 0 once a frame is decoded and flushed.
        frame_start = hint == 0;
        if src.pos() == input.len() {
            if frame_start {
                return Ok(());
            }
            if written < room_len {
                return Err(corrupt(ZSTD, "truncated zstd frame"));
            }
        }
    }
}

#[cfg(feature = "brotli")]
fn unbrotli(input: &[u8], sink: &mut Sink<'_>) -> Result<(), DecompressError> {
    const BROTLI: Algorithm = Algorithm::Brotli;
    // Strict: RFC 7932 streams only. The large-window extension would let a
    // stream make the decoder allocate a 1 GiB ring buffer.
    let mut state = BrotliState::new_strict(
        StandardAlloc::default(),
        StandardAlloc::default(),
        StandardAlloc::default(),
    );
    sink.reserve(input.len().saturating_mul(EXPANSION_GUESS));
    let (mut available_in, mut input_offset, mut total_out) = (input.len(), 0, 0);
    loop {
        let room = sink.room();
        let (mut available_out, mut written) = (room.len(), 0);
        let result = BrotliDecompressStream(
            &mut available_in,
            &mut input_offset,
            input,
            &mut available_out,
            &mut written,
            room,
            &mut total_out,
            &mut state,
        );
        sink.advance(written)?;
        match result {
            BrotliResult::NeedsMoreOutput => {}
            BrotliResult::ResultSuccess if available_in == 0 => return Ok(()),
            BrotliResult::ResultSuccess => {
                return Err(corrupt(BROTLI, "trailing data after brotli stream"))
            }
            BrotliResult::NeedsMoreInput => return Err(corrupt(BROTLI, "truncated brotli stream")),
            BrotliResult::ResultFailure => {
                return Err(corrupt(BROTLI, format!("{:?}", state.error_code)))
            }
        }
    }
}

#[cfg(all(test, feature = "gzip", feature = "zstd", feature = "brotli"))]
mod tests {
    use super::*;
    use crate::Compressor;
    use std::io::{self, Read, Write};

    const GIB: u64 = 1 << 30;

    fn sample() -> Vec<u8> {
        (0..5000u32)
            .flat_map(|i| format!("log {i} severity=INFO body=request served;").into_bytes())
            .collect()
    }

    fn compress(algorithm: Algorithm, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Compressor::new(algorithm.into())
            .unwrap()
            .compress(input, &mut out)
            .unwrap();
        out
    }

    fn assert_corrupt(algorithm: Algorithm, input: &[u8]) -> String {
        let mut out = b"stale".to_vec();
        match decompress(algorithm, input, 1 << 20, &mut out) {
            Err(DecompressError::Corrupt {
                algorithm: a,
                source,
            }) if a == algorithm => {
                assert!(out.is_empty());
                source.to_string()
            }
            other => panic!("{algorithm}: expected Corrupt, got {other:?}"),
        }
    }

    /// Compresses `len` zero bytes without holding them in memory.
    fn zeros_through(mut encoder: impl Write, len: u64) {
        io::copy(&mut io::repeat(0).take(len), &mut encoder).unwrap();
    }

    /// Peak resident memory of this test process, where Linux reports it.
    fn peak_rss() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    fn assert_bomb_rejected(algorithm: Algorithm, bomb: &[u8]) {
        let limit = 1 << 20;
        let mut out = Vec::new();
        let err = decompress(algorithm, bomb, limit, &mut out).unwrap_err();
        assert!(
            matches!(err, DecompressError::TooLarge { limit: l } if l == limit),
            "{algorithm}: {err}"
        );
        assert!(
            out.capacity() <= limit + 1,
            "{algorithm}: {}",
            out.capacity()
        );
        assert!(out.is_empty());
        if let Some(peak) = peak_rss() {
            assert!(peak < 512 << 20, "{algorithm}: peak RSS {peak}");
        }
    }

    /// A gzip stream of `members` members of 16 MiB of zeros each.
    fn gzip_bomb(members: usize) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        zeros_through(&mut encoder, 16 << 20);
        encoder.finish().unwrap().repeat(members)
    }

    #[test]
    fn gzip_bomb_is_rejected() {
        let bomb = gzip_bomb(65);
        assert!(bomb.len() < 2 << 20, "{}", bomb.len());
        // Each member is valid and holds 16 MiB, so the stream holds 1040 MiB.
        let mut out = Vec::new();
        decompress(Algorithm::Gzip, &gzip_bomb(1), 16 << 20, &mut out).unwrap();
        assert_eq!(out.len(), 16 << 20);
        assert!(out.iter().all(|&b| b == 0));
        drop(out);
        assert_bomb_rejected(Algorithm::Gzip, &bomb);
    }

    #[test]
    fn gzip_members_count_together_against_the_limit() {
        let bomb = gzip_bomb(3);
        let mut out = Vec::new();
        decompress(Algorithm::Gzip, &bomb, 48 << 20, &mut out).unwrap();
        assert_eq!(out.len(), 48 << 20);
        let err = decompress(Algorithm::Gzip, &bomb, (48 << 20) - 1, &mut out).unwrap_err();
        assert!(matches!(err, DecompressError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn zstd_bomb_with_content_size_is_rejected_before_decoding() {
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
        encoder.set_pledged_src_size(Some(GIB + 1)).unwrap();
        zeros_through(&mut encoder, GIB + 1);
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        assert_eq!(
            zstd_safe::get_frame_content_size(&bomb).ok(),
            Some(Some(GIB + 1))
        );
        assert_bomb_rejected(Algorithm::Zstd, &bomb);
    }

    #[test]
    fn zstd_bomb_without_content_size_is_rejected() {
        // Frames of 16 MiB with no content size in their headers, so only
        // counting the output can stop them.
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
        zeros_through(&mut encoder, 16 << 20);
        let frame = encoder.finish().unwrap();
        assert_eq!(zstd_safe::get_frame_content_size(&frame).ok(), Some(None));
        let mut out = Vec::new();
        decompress(Algorithm::Zstd, &frame, 16 << 20, &mut out).unwrap();
        assert_eq!(out.len(), 16 << 20);
        drop(out);
        assert_bomb_rejected(Algorithm::Zstd, &frame.repeat(65));
    }

    #[test]
    fn brotli_bomb_is_rejected() {
        let mut encoder = brotli::CompressorWriter::new(Vec::new(), 1 << 16, 1, 22);
        zeros_through(&mut encoder, 64 << 20);
        let bomb = encoder.into_inner();
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        assert_bomb_rejected(Algorithm::Brotli, &bomb);
    }

    #[test]
    fn zstd_window_larger_than_needed_is_refused() {
        // A frame needing a 64 MiB window, under a 1 MiB limit: refused by the
        // window cap rather than allocated.
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
        encoder
            .set_parameter(zstd_safe::CParameter::WindowLog(26))
            .unwrap();
        encoder.write_all(b"small").unwrap();
        let frame = encoder.finish().unwrap();
        let message = assert_corrupt(Algorithm::Zstd, &frame);
        assert!(message.contains("memory"), "{message}");
        // Windows up to 8 MiB are accepted whatever the limit (RFC 9659).
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
        encoder
            .set_parameter(zstd_safe::CParameter::WindowLog(23))
            .unwrap();
        encoder.write_all(b"small").unwrap();
        let mut out = Vec::new();
        decompress(Algorithm::Zstd, &encoder.finish().unwrap(), 5, &mut out).unwrap();
        assert_eq!(out, b"small");
    }

    #[test]
    fn window_log_follows_limit() {
        assert_eq!(zstd_window_log_max(0), 23);
        assert_eq!(zstd_window_log_max(1 << 23), 23);
        assert_eq!(zstd_window_log_max((1 << 23) + 1), 24);
        assert_eq!(zstd_window_log_max(usize::MAX), 30);
    }

    #[test]
    fn limit_equal_to_output_succeeds_and_one_less_fails() {
        let input = sample();
        for algorithm in Algorithm::ALL {
            let wire = compress(algorithm, &input);
            let mut out = Vec::new();
            decompress(algorithm, &wire, input.len(), &mut out).unwrap();
            assert_eq!(out, input, "{algorithm}");
            let err = decompress(algorithm, &wire, input.len() - 1, &mut out).unwrap_err();
            assert!(
                matches!(err, DecompressError::TooLarge { limit } if limit == input.len() - 1),
                "{algorithm}: {err}"
            );
            assert!(out.is_empty());
            assert_eq!(
                err.to_string(),
                format!(
                    "decompressed payload exceeds the limit of {} bytes",
                    input.len() - 1
                )
            );
            decompress(algorithm, &compress(algorithm, b""), 0, &mut out).unwrap();
            assert!(out.is_empty());
        }
    }

    #[test]
    fn garbage_is_corrupt() {
        for algorithm in [Algorithm::Gzip, Algorithm::Zstd, Algorithm::Brotli] {
            assert_corrupt(algorithm, b"this is not compressed at all");
            assert_eq!(assert_corrupt(algorithm, b""), "empty input");
        }
    }

    #[test]
    fn truncated_input_is_corrupt() {
        let input = sample();
        for algorithm in [Algorithm::Gzip, Algorithm::Zstd, Algorithm::Brotli] {
            let wire = compress(algorithm, &input);
            for len in [1, 5, wire.len() / 2, wire.len() - 1] {
                assert_corrupt(algorithm, &wire[..len]);
            }
        }
        let wire = compress(Algorithm::Gzip, &input);
        assert_eq!(
            assert_corrupt(Algorithm::Gzip, &wire[..wire.len() - 3]),
            "truncated gzip trailer"
        );
    }

    #[test]
    fn trailing_data_is_corrupt() {
        let input = sample();
        for (algorithm, message) in [
            (Algorithm::Gzip, "trailing data after gzip member"),
            (Algorithm::Zstd, "Unknown frame descriptor"),
            (Algorithm::Brotli, "trailing data after brotli stream"),
        ] {
            let mut wire = compress(algorithm, &input);
            wire.extend_from_slice(b"junk");
            assert_eq!(assert_corrupt(algorithm, &wire), message);
        }
    }

    #[test]
    fn flipped_bits_are_caught_by_gzip_checks() {
        let input = sample();
        let wire = compress(Algorithm::Gzip, &input);
        for pos in [0, 2, 3, wire.len() / 2, wire.len() - 8, wire.len() - 2] {
            let mut bad = wire.clone();
            bad[pos] ^= 0x10;
            assert_corrupt(Algorithm::Gzip, &bad);
        }
    }

    #[test]
    fn corrupt_bytes_never_panic() {
        let input = sample();
        for algorithm in [Algorithm::Gzip, Algorithm::Zstd, Algorithm::Brotli] {
            let wire = compress(algorithm, &input);
            let mut out = Vec::new();
            for pos in (0..wire.len()).step_by(7) {
                let mut bad = wire.clone();
                bad[pos] = bad[pos].wrapping_add(0x5b);
                // Either an error, or (where the format has no checksum) some output.
                let _ = decompress(algorithm, &bad, input.len() * 2, &mut out);
            }
        }
    }

    #[test]
    fn gzip_from_other_encoders_is_accepted() {
        let input = sample();
        let mut encoder = flate2::GzBuilder::new()
            .filename("spans.pb")
            .comment("from another exporter")
            .extra(b"xy".to_vec())
            .mtime(1_700_000_000)
            .write(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&input[..1000]).unwrap();
        let mut wire = encoder.finish().unwrap();
        let mut second = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        second.write_all(&input[1000..]).unwrap();
        wire.extend(second.finish().unwrap());
        let mut out = Vec::new();
        decompress(Algorithm::Gzip, &wire, input.len(), &mut out).unwrap();
        assert_eq!(out, input);
    }

    #[test]
    fn zstd_concatenated_frames_are_one_payload() {
        let input = sample();
        let (head, tail) = input.split_at(777);
        let mut wire = compress(Algorithm::Zstd, head);
        wire.extend(compress(Algorithm::Zstd, tail));
        let mut out = Vec::new();
        decompress(Algorithm::Zstd, &wire, input.len(), &mut out).unwrap();
        assert_eq!(out, input);
        // The second frame's declared size is checked against what is left.
        let err = decompress(Algorithm::Zstd, &wire, input.len() - 1, &mut out).unwrap_err();
        assert!(matches!(err, DecompressError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn decompressor_recovers_after_errors() {
        let input = sample();
        let mut decompressor = Decompressor::new();
        let mut out = Vec::new();
        for algorithm in Algorithm::ALL {
            let wire = compress(algorithm, &input);
            let _ =
                decompressor.decompress(algorithm, &wire[..wire.len() / 2], input.len(), &mut out);
            let _ = decompressor.decompress(algorithm, &wire, 10, &mut out);
            decompressor
                .decompress(algorithm, &wire, input.len(), &mut out)
                .unwrap();
            assert_eq!(out, input, "{algorithm}");
        }
    }

    #[test]
    fn none_is_copied_under_the_limit() {
        let mut out = b"stale".to_vec();
        decompress(Algorithm::None, b"abc", 3, &mut out).unwrap();
        assert_eq!(out, b"abc");
        let err = decompress(Algorithm::None, b"abcd", 3, &mut out).unwrap_err();
        assert!(matches!(err, DecompressError::TooLarge { limit: 3 }));
        assert!(out.is_empty());
    }

    #[test]
    fn decompressor_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Decompressor>();
    }
}

/// What a build without some codecs does when asked for them.
#[cfg(all(test, not(all(feature = "gzip", feature = "zstd", feature = "brotli"))))]
mod without_codecs {
    use super::*;

    #[test]
    fn left_out_codecs_are_a_typed_error() {
        let mut out = b"stale".to_vec();
        for algorithm in Algorithm::ALL {
            if algorithm.is_supported() {
                continue;
            }
            let err = decompress(algorithm, b"anything", 1 << 20, &mut out).unwrap_err();
            assert!(
                matches!(err, DecompressError::Unsupported { algorithm: a } if a == algorithm),
                "{err}"
            );
            assert!(out.is_empty());
            assert!(
                err.to_string()
                    .contains(&format!("enable the `{algorithm}` feature")),
                "{err}"
            );
        }
        decompress(Algorithm::None, b"abc", 3, &mut out).unwrap();
        assert_eq!(out, b"abc");
    }
}
