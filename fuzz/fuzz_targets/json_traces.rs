#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otlp_fuzz::json(otlp_core::Signal::Traces, data));
