#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otlp_fuzz::decompress(
    otlp_compression::Encoding::Brotli,
    data
));
