#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otlp_fuzz::decompress(
    otlp_compression::Encoding::Lz4,
    data
));
