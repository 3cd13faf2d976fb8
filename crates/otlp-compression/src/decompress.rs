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
use crate::Encoding;
#[cfg(any(feature = "snappy", feature = "lz4"))]
use std::io::Read;

/// The least output room handed to a decoder at a time.
#[cfg(any(
    feature = "gzip",
    feature = "zstd",
    feature = "brotli",
    feature = "snappy",
    feature = "lz4"
))]
const MIN_ROOM: usize = 16 * 1024;
/// First guess at how much larger than its compressed form a payload is;
/// the output buffer doubles from there as needed.
#[cfg(any(feature = "gzip", feature = "brotli", feature = "lz4"))]
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
    #[error("corrupt {encoding} payload: {source}")]
    Corrupt {
        /// The encoding the payload was decoded as.
        encoding: Encoding,
        /// What was wrong, as the decoder reported it.
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },
    /// The encoding's codec was left out of this build: its crate feature
    /// ([`Encoding::feature`]: `gzip`, `zstd`, `brotli`, `snappy` or `lz4`)
    /// is not enabled. A receiver should answer as for an unknown encoding
    /// (HTTP 415, gRPC `UNIMPLEMENTED`). See [`Encoding::is_supported`].
    #[error(
        "{encoding} support was not compiled in; enable the `{}` feature of otlp-compression",
        .encoding.feature().unwrap_or("default")
    )]
    Unsupported {
        /// The encoding the payload is compressed with.
        encoding: Encoding,
    },
    /// The encoding is decoded against state the sender and the receiver
    /// keep per stream ([`Encoding::Srt`]): `otlp-srt`'s decoder does it,
    /// not this function.
    #[error("{encoding} frames are decoded against their stream's state by otlp-srt")]
    Stateful {
        /// The encoding the payload is in.
        encoding: Encoding,
    },
}

#[cfg(any(
    feature = "gzip",
    feature = "zstd",
    feature = "brotli",
    feature = "snappy",
    feature = "lz4"
))]
fn corrupt(encoding: Encoding, source: impl Into<Box<dyn Error + Send + Sync>>) -> DecompressError {
    DecompressError::Corrupt {
        encoding,
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
    algorithm: impl Into<Encoding>,
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecompressError> {
    Decompressor::new().decompress(algorithm, input, limit, out)
}

/// Decompresses payloads of any [`Encoding`] (every
/// [`Algorithm`](crate::Algorithm) converts into one) one after another,
/// keeping the inflate state and the zstd context for reuse.
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
    /// `encoding`, never producing more than `limit` bytes.
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
    /// refused. Deflate shares gzip's inflate state; a Snappy block
    /// declares its length up front and one over the limit fails before
    /// decoding; framed Snappy and LZ4 frames are decoded a chunk (at most
    /// 64 KiB) or block (at most 4 MiB) at a time.
    pub fn decompress(
        &mut self,
        encoding: impl Into<Encoding>,
        input: &[u8],
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), DecompressError> {
        let encoding = encoding.into();
        out.clear();
        let mut sink = Sink {
            out,
            filled: 0,
            limit,
        };
        let result = match encoding {
            Encoding::Identity if input.len() > limit => Err(DecompressError::TooLarge { limit }),
            Encoding::Identity => {
                sink.out.extend_from_slice(input);
                sink.advance(input.len())
            }
            Encoding::Srt => Err(DecompressError::Stateful { encoding }),
            encoding if !encoding.is_supported() => Err(DecompressError::Unsupported { encoding }),
            #[cfg(any(
                feature = "gzip",
                feature = "zstd",
                feature = "brotli",
                feature = "snappy",
                feature = "lz4"
            ))]
            _ if input.is_empty() => Err(corrupt(encoding, "empty input")),
            #[cfg(feature = "gzip")]
            Encoding::Gzip => gunzip(
                self.inflate.get_or_insert_with(|| Decompress::new(false)),
                input,
                &mut sink,
            ),
            #[cfg(feature = "gzip")]
            Encoding::Deflate => unzlib(
                self.inflate.get_or_insert_with(|| Decompress::new(true)),
                input,
                &mut sink,
            ),
            #[cfg(feature = "zstd")]
            Encoding::Zstd => unzstd(self.zstd.get_or_insert_with(DCtx::create), input, &mut sink),
            #[cfg(feature = "brotli")]
            Encoding::Brotli => unbrotli(input, &mut sink),
            #[cfg(feature = "snappy")]
            Encoding::Snappy if input.starts_with(SNAPPY_STREAM_IDENTIFIER) => {
                unsnappy_framed(Encoding::Snappy, input, &mut sink)
            }
            #[cfg(feature = "snappy")]
            Encoding::Snappy => unsnappy(input, &mut sink),
            #[cfg(feature = "snappy")]
            Encoding::SnappyFramed => unsnappy_framed(Encoding::SnappyFramed, input, &mut sink),
            #[cfg(feature = "lz4")]
            Encoding::Lz4 => unlz4(input, &mut sink),
            // Only encodings left out of the build reach here, and the
            // guard above has already answered for them.
            #[allow(unreachable_patterns)]
            encoding => Err(DecompressError::Unsupported { encoding }),
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
    #[cfg(any(
        feature = "gzip",
        feature = "zstd",
        feature = "brotli",
        feature = "snappy",
        feature = "lz4"
    ))]
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
    #[cfg(any(
        feature = "gzip",
        feature = "zstd",
        feature = "brotli",
        feature = "snappy",
        feature = "lz4"
    ))]
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

/// Inflates one deflate stream (raw, or zlib-wrapped if `inflate` was
/// reset for it) from the start of `input` into `sink`, returning how many
/// bytes of `input` it took.
#[cfg(feature = "gzip")]
fn inflate_stream(
    encoding: Encoding,
    inflate: &mut Decompress,
    input: &[u8],
    sink: &mut Sink<'_>,
) -> Result<usize, DecompressError> {
    let mut pos = 0;
    loop {
        let (total_in, total_out) = (inflate.total_in(), inflate.total_out());
        let status = inflate
            .decompress(&input[pos..], sink.room(), FlushDecompress::None)
            .map_err(|e| corrupt(encoding, e))?;
        let read = (inflate.total_in() - total_in) as usize;
        let written = (inflate.total_out() - total_out) as usize;
        pos += read;
        sink.advance(written)?;
        if status == Status::StreamEnd {
            return Ok(pos);
        }
        // The room is never empty here, so no progress means no input.
        if read == 0 && written == 0 {
            return Err(corrupt(encoding, "truncated deflate stream"));
        }
    }
}

#[cfg(feature = "gzip")]
fn gunzip(
    inflate: &mut Decompress,
    input: &[u8],
    sink: &mut Sink<'_>,
) -> Result<(), DecompressError> {
    const GZIP: Encoding = Encoding::Gzip;
    sink.reserve(input.len().saturating_mul(EXPANSION_GUESS));
    let mut pos = 0;
    // A gzip stream is one or more members back to back (RFC 1952 2.2).
    loop {
        pos += gzip::header_len(&input[pos..]).map_err(|e| corrupt(GZIP, e))?;
        inflate.reset(false);
        let start = sink.filled;
        pos += inflate_stream(GZIP, inflate, &input[pos..], sink)?;
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

/// Deflate in the zlib wrapper (RFC 1950): one stream, its Adler-32 checked
/// by flate2, and nothing after it.
#[cfg(feature = "gzip")]
fn unzlib(
    inflate: &mut Decompress,
    input: &[u8],
    sink: &mut Sink<'_>,
) -> Result<(), DecompressError> {
    sink.reserve(input.len().saturating_mul(EXPANSION_GUESS));
    inflate.reset(true);
    let read = inflate_stream(Encoding::Deflate, inflate, input, sink)?;
    if read != input.len() {
        return Err(corrupt(
            Encoding::Deflate,
            "trailing data after zlib stream",
        ));
    }
    Ok(())
}

/// The stream identifier chunk every Snappy framing-format stream starts
/// with.
#[cfg(feature = "snappy")]
const SNAPPY_STREAM_IDENTIFIER: &[u8] = b"\xff\x06\x00\x00sNaPpY";

/// A Snappy block. It declares its decoded length first, so a block over
/// the limit is refused before anything is allocated or decoded.
#[cfg(feature = "snappy")]
fn unsnappy(input: &[u8], sink: &mut Sink<'_>) -> Result<(), DecompressError> {
    let len = snap::raw::decompress_len(input).map_err(|e| corrupt(Encoding::Snappy, e))?;
    if len > sink.limit {
        return Err(DecompressError::TooLarge { limit: sink.limit });
    }
    sink.reserve(len);
    let written = snap::raw::Decoder::new()
        .decompress(input, &mut sink.out[..len])
        .map_err(|e| corrupt(Encoding::Snappy, e))?;
    sink.advance(written)
}

/// The Snappy framing format: chunks of at most 64 KiB, each with a CRC-32C
/// that the decoder checks.
#[cfg(feature = "snappy")]
fn unsnappy_framed(
    encoding: Encoding,
    input: &[u8],
    sink: &mut Sink<'_>,
) -> Result<(), DecompressError> {
    read_capped(encoding, snap::read::FrameDecoder::new(input), sink)
}

/// The LZ4 frame format: one frame, with the block and content checksums
/// it asks for checked.
#[cfg(feature = "lz4")]
fn unlz4(input: &[u8], sink: &mut Sink<'_>) -> Result<(), DecompressError> {
    // lz4_flex ends quietly when the input stops where a block header
    // should be, which would accept a stream cut at a block boundary, and
    // does not read on after the first frame: check that the input is one
    // whole frame before decoding.
    lz4_frame_complete(input).map_err(|e| corrupt(Encoding::Lz4, e))?;
    sink.reserve(input.len().saturating_mul(EXPANSION_GUESS));
    read_capped(
        Encoding::Lz4,
        lz4_flex::frame::FrameDecoder::new(input),
        sink,
    )
}

/// Walks the LZ4 frame in `input` by its header and block sizes, without
/// decoding, and fails unless it ends with its end mark (and content
/// checksum, if it has one) exactly at the end of `input`.
#[cfg(feature = "lz4")]
fn lz4_frame_complete(input: &[u8]) -> Result<(), &'static str> {
    const TRUNCATED: &str = "truncated lz4 frame";
    let u32_at = |pos: usize| -> Result<u32, &'static str> {
        let bytes = input.get(pos..pos.saturating_add(4)).ok_or(TRUNCATED)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    if u32_at(0)? != 0x184d_2204 {
        return Err("not an lz4 frame");
    }
    let flags = *input.get(4).ok_or(TRUNCATED)?;
    let block_checksum = flags & 0x10 != 0;
    let content_size = flags & 0x08 != 0;
    let content_checksum = flags & 0x04 != 0;
    let dict_id = flags & 0x01 != 0;
    // Magic, FLG, BD, the optional fields, the header checksum.
    let mut pos = 4 + 2 + if content_size { 8 } else { 0 } + if dict_id { 4 } else { 0 } + 1;
    loop {
        let block = u32_at(pos)?;
        pos += 4;
        if block == 0 {
            break;
        }
        let len = (block & 0x7fff_ffff) as usize;
        pos = pos
            .saturating_add(len)
            .saturating_add(if block_checksum { 4 } else { 0 });
    }
    if content_checksum {
        pos += 4;
    }
    match pos.cmp(&input.len()) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Less => Err("trailing data after lz4 frame"),
        std::cmp::Ordering::Greater => Err(TRUNCATED),
    }
}

/// Reads a streaming decoder to its end into `sink`, never giving it more
/// room than the cap allows.
#[cfg(any(feature = "snappy", feature = "lz4"))]
fn read_capped(
    encoding: Encoding,
    mut decoder: impl Read,
    sink: &mut Sink<'_>,
) -> Result<(), DecompressError> {
    loop {
        let written = match decoder.read(sink.room()) {
            Ok(written) => written,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(encoding, e)),
        };
        if written == 0 {
            return Ok(());
        }
        sink.advance(written)?;
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
    const ZSTD: Encoding = Encoding::Zstd;
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
    const BROTLI: Encoding = Encoding::Brotli;
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

#[cfg(all(
    test,
    feature = "gzip",
    feature = "zstd",
    feature = "brotli",
    feature = "snappy",
    feature = "lz4"
))]
mod tests {
    use super::*;
    use crate::{Algorithm, Compressor};
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

    fn assert_corrupt(algorithm: impl Into<Encoding>, input: &[u8]) -> String {
        let algorithm = algorithm.into();
        let mut out = b"stale".to_vec();
        match decompress(algorithm, input, 1 << 20, &mut out) {
            Err(DecompressError::Corrupt {
                encoding: a,
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

    fn assert_bomb_rejected(algorithm: impl Into<Encoding>, bomb: &[u8]) {
        let algorithm = algorithm.into();
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

    /// `input` in one of the decode-only encodings, written by the same
    /// crates' encoders.
    fn encode(encoding: Encoding, input: &[u8]) -> Vec<u8> {
        match encoding {
            Encoding::Deflate => {
                let mut encoder =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                encoder.write_all(input).unwrap();
                encoder.finish().unwrap()
            }
            Encoding::Snappy => snap::raw::Encoder::new().compress_vec(input).unwrap(),
            Encoding::SnappyFramed => {
                let mut encoder = snap::write::FrameEncoder::new(Vec::new());
                encoder.write_all(input).unwrap();
                encoder.into_inner().unwrap()
            }
            Encoding::Lz4 => {
                let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
                encoder.write_all(input).unwrap();
                encoder.finish().unwrap()
            }
            encoding => compress(encoding.algorithm().unwrap(), input),
        }
    }

    const DECODE_ONLY: [Encoding; 4] = [
        Encoding::Deflate,
        Encoding::Snappy,
        Encoding::SnappyFramed,
        Encoding::Lz4,
    ];

    #[test]
    fn decode_only_encodings_round_trip_up_to_the_limit() {
        let input = sample();
        let mut decompressor = Decompressor::new();
        let mut out = Vec::new();
        for encoding in DECODE_ONLY {
            let wire = encode(encoding, &input);
            decompressor
                .decompress(encoding, &wire, input.len(), &mut out)
                .unwrap();
            assert_eq!(out, input, "{encoding}");
            let err = decompressor
                .decompress(encoding, &wire, input.len() - 1, &mut out)
                .unwrap_err();
            assert!(
                matches!(err, DecompressError::TooLarge { limit } if limit == input.len() - 1),
                "{encoding}: {err}"
            );
            assert!(out.is_empty());
            // (The Snappy framing format writes nothing for no input.)
            if encoding != Encoding::SnappyFramed {
                decompressor
                    .decompress(encoding, &encode(encoding, b""), 0, &mut out)
                    .unwrap();
                assert!(out.is_empty(), "{encoding}");
            }
            // gzip after deflate and back: the inflate state is shared.
            let gz = compress(Algorithm::Gzip, &input);
            decompressor
                .decompress(Algorithm::Gzip, &gz, input.len(), &mut out)
                .unwrap();
            assert_eq!(out, input);
        }
    }

    #[test]
    fn framed_snappy_under_the_snappy_token_is_accepted() {
        // Collectors before v0.118 sent the framing format as `snappy`.
        let input = sample();
        let mut out = Vec::new();
        let wire = encode(Encoding::SnappyFramed, &input);
        decompress(Encoding::Snappy, &wire, input.len(), &mut out).unwrap();
        assert_eq!(out, input);
    }

    #[test]
    fn decode_only_garbage_truncation_and_trailing_data_are_corrupt() {
        let input = sample();
        for encoding in DECODE_ONLY {
            assert_eq!(assert_corrupt(encoding, b""), "empty input");
            assert_corrupt(
                encoding,
                b"this is not compressed at all, not even a little",
            );
            let wire = encode(encoding, &input);
            for len in [1, 5, wire.len() / 2, wire.len() - 1] {
                assert_corrupt(encoding, &wire[..len]);
            }
            let mut out = Vec::new();
            for pos in (0..wire.len()).step_by(11) {
                let mut bad = wire.clone();
                bad[pos] = bad[pos].wrapping_add(0x5b);
                // An error, or (where nothing checks that byte) some output.
                let _ = decompress(encoding, &bad, input.len() * 2, &mut out);
            }
        }
        let mut zlib = encode(Encoding::Deflate, &input);
        zlib.extend_from_slice(b"junk");
        assert_eq!(
            assert_corrupt(Encoding::Deflate, &zlib),
            "trailing data after zlib stream"
        );
        // The Adler-32 trailer is checked.
        let mut zlib = encode(Encoding::Deflate, &input);
        let last = zlib.len() - 1;
        zlib[last] ^= 1;
        assert_corrupt(Encoding::Deflate, &zlib);
        // Raw deflate (no zlib header) is not what `deflate` means.
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(&input).unwrap();
        assert_corrupt(Encoding::Deflate, &raw.finish().unwrap());
    }

    #[test]
    fn lz4_cut_at_a_block_boundary_is_corrupt() {
        let input = sample();
        let info = lz4_flex::frame::FrameInfo::new()
            .block_size(lz4_flex::frame::BlockSize::Max64KB)
            .content_checksum(true);
        let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        encoder.write_all(&input).unwrap();
        let wire = encoder.finish().unwrap();
        // Magic, FLG, BD, header checksum; then the first block's size.
        let first = u32::from_le_bytes(wire[7..11].try_into().unwrap()) & 0x7fff_ffff;
        let cut = 11 + first as usize;
        assert!(cut < wire.len() - 4, "one block only");
        assert_eq!(
            assert_corrupt(Encoding::Lz4, &wire[..cut]),
            "truncated lz4 frame"
        );
        assert_eq!(
            assert_corrupt(Encoding::Lz4, &wire.repeat(2)),
            "trailing data after lz4 frame"
        );
        let mut out = Vec::new();
        decompress(Encoding::Lz4, &wire, input.len(), &mut out).unwrap();
        assert_eq!(out, input);
    }

    #[test]
    fn zlib_bomb_is_rejected() {
        // 64 MiB of zeros, 64 times the limit, in under 1 MiB.
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        zeros_through(&mut encoder, 64 << 20);
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        assert_bomb_rejected(Encoding::Deflate, &bomb);
    }

    #[test]
    fn snappy_block_over_the_limit_is_refused_from_its_header() {
        // A block is one allocation of its declared length: a header
        // claiming 1 GiB is refused before any of it is read.
        let mut header = Vec::new();
        let mut len = GIB;
        while len >= 0x80 {
            header.push((len as u8) | 0x80);
            len >>= 7;
        }
        header.push(len as u8);
        header.extend_from_slice(b"\x00a");
        assert_bomb_rejected(Encoding::Snappy, &header);
        let block = snap::raw::Encoder::new()
            .compress_vec(&vec![0; 16 << 20])
            .unwrap();
        assert!(block.len() < 1 << 20, "{}", block.len());
        assert_bomb_rejected(Encoding::Snappy, &block);
    }

    #[test]
    fn framed_snappy_bomb_is_rejected() {
        let mut encoder = snap::write::FrameEncoder::new(Vec::new());
        zeros_through(&mut encoder, 64 << 20);
        let bomb = encoder.into_inner().unwrap();
        assert!(bomb.len() < 4 << 20, "{}", bomb.len());
        assert_bomb_rejected(Encoding::SnappyFramed, &bomb);
        assert_bomb_rejected(Encoding::Snappy, &bomb);
    }

    #[test]
    fn lz4_bomb_is_rejected() {
        let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
        zeros_through(&mut encoder, 256 << 20);
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 2 << 20, "{}", bomb.len());
        assert_bomb_rejected(Encoding::Lz4, &bomb);
    }

    #[test]
    fn decompressor_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Decompressor>();
    }
}

/// What a build without some codecs does when asked for them.
#[cfg(all(
    test,
    not(all(
        feature = "gzip",
        feature = "zstd",
        feature = "brotli",
        feature = "snappy",
        feature = "lz4"
    ))
))]
mod without_codecs {
    use super::*;
    use crate::Algorithm;

    #[test]
    fn left_out_codecs_are_a_typed_error() {
        let mut out = b"stale".to_vec();
        for encoding in Encoding::ALL {
            if encoding.is_supported() {
                continue;
            }
            let err = decompress(encoding, b"anything", 1 << 20, &mut out).unwrap_err();
            assert!(
                matches!(err, DecompressError::Unsupported { encoding: e } if e == encoding),
                "{err}"
            );
            assert!(out.is_empty());
            let feature = encoding.feature().unwrap();
            assert!(
                err.to_string()
                    .contains(&format!("enable the `{feature}` feature")),
                "{err}"
            );
        }
        decompress(Algorithm::None, b"abc", 3, &mut out).unwrap();
        assert_eq!(out, b"abc");
    }
}
