#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otlp_fuzz::srt_decode(data));
