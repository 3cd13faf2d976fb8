//! The official OTLP/JSON examples from opentelemetry-proto decode, and
//! survive a protobuf round trip and an OTLP/JSON one.

use otlp_core::{ExportRequest, Format, Signal};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn official_examples_decode() {
    for (file, signal, items) in [
        ("trace.json", Signal::Traces, 1),
        ("metrics.json", Signal::Metrics, 0),
        ("logs.json", Signal::Logs, 1),
        ("events.json", Signal::Logs, 1),
    ] {
        let req = ExportRequest::decode(signal, Format::Json, &fixture(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(req.signal(), signal);
        if items > 0 {
            assert_eq!(req.item_count(), items, "{file}");
        }
        let bytes = req.encode_protobuf();
        let again = ExportRequest::decode(signal, Format::Protobuf, &bytes).unwrap();
        assert_eq!(again, req, "{file}");
        // And through our OTLP/JSON writer and back.
        let json = req.to_json();
        let back = ExportRequest::decode(signal, Format::Json, json.as_bytes())
            .unwrap_or_else(|e| panic!("{file}: {e}\n{json}"));
        assert_eq!(back, req, "{file}");
    }
}
