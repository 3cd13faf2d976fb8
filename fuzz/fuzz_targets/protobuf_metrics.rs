#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otlp_fuzz::protobuf(otlp_core::Signal::Metrics, data));
