//! Field-by-field comparison of decoded export requests, naming the path of
//! the first field that differs, e.g.
//! `resource_spans[0].scope_spans[1].spans[3].attributes[2].value.int_value`.
//!
//! The walk runs over the OTLP/JSON form of the messages (opentelemetry-proto's
//! serde mapping), which holds every field the protobuf does, so two
//! requests are equal exactly when the walk finds no difference. Paths use
//! the protobuf field names (snake_case), as the `.proto` files spell them.

use otlp_core::ExportRequest;
use serde_json::Value;

/// Where and how two requests first differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The field path, e.g. `resource_logs[0].scope_logs[0].log_records[1].body`.
    pub path: String,
    /// The field in the expected request (JSON), or `<absent>`.
    pub want: String,
    /// The field in the actual request (JSON), or `<absent>`.
    pub got: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` differs: expected {}, got {}",
            self.path, self.want, self.got
        )
    }
}

/// The first field (in field order) where `got` differs from `want`, or
/// `None` when they are equal.
pub fn first_difference(want: &ExportRequest, got: &ExportRequest) -> Option<Difference> {
    if want.signal() != got.signal() {
        return Some(Difference {
            path: "<request>".into(),
            want: format!("a {} request", want.signal()),
            got: format!("a {} request", got.signal()),
        });
    }
    let (w, g) = (json(want), json(got));
    let found = walk(&w, &g, &mut String::new());
    if found.is_none() && want != got {
        // Only a value JSON cannot tell apart (a NaN, say) gets here.
        return Some(Difference {
            path: "<request>".into(),
            want: format!("{want:?}"),
            got: format!("{got:?}"),
        });
    }
    found
}

fn json(request: &ExportRequest) -> Value {
    serde_json::from_str(&request.to_json()).unwrap_or(Value::Null)
}

fn show(v: Option<&Value>) -> String {
    const MAX: usize = 300;
    let Some(v) = v else {
        return "<absent>".into();
    };
    let mut s = v.to_string();
    if s.len() > MAX {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// `resourceSpans` -> `resource_spans`.
fn snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn walk(want: &Value, got: &Value, path: &mut String) -> Option<Difference> {
    let differ = |path: &str, w: Option<&Value>, g: Option<&Value>| Difference {
        path: if path.is_empty() { "<request>" } else { path }.to_owned(),
        want: show(w),
        got: show(g),
    };
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            // Keys in the expected message's order, then any extra ones.
            let keys = w.keys().chain(g.keys().filter(|k| !w.contains_key(*k)));
            for key in keys {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&snake(key));
                let found = match (w.get(key), g.get(key)) {
                    (Some(wv), Some(gv)) => walk(wv, gv, path),
                    (wv, gv) => Some(differ(path, wv, gv)),
                };
                if found.is_some() {
                    return found;
                }
                path.truncate(len);
            }
            None
        }
        (Value::Array(w), Value::Array(g)) => {
            for i in 0..w.len().max(g.len()) {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = match (w.get(i), g.get(i)) {
                    (Some(wv), Some(gv)) => walk(wv, gv, path),
                    (wv, gv) => Some(differ(path, wv, gv)),
                };
                if found.is_some() {
                    return found;
                }
                path.truncate(len);
            }
            None
        }
        (w, g) if w == g => None,
        (w, g) => Some(differ(path, Some(w), Some(g))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;
    use otlp_core::proto::common::v1::any_value::Value as V;
    use otlp_core::Signal;

    #[test]
    fn equal_requests_have_no_difference() {
        for signal in Signal::STABLE {
            let r = sample::request(signal);
            assert_eq!(first_difference(&r, &r.clone()), None);
        }
    }

    #[test]
    fn a_changed_attribute_is_named_by_its_path() {
        let want = sample::request(Signal::Traces);
        let mut got = want.clone();
        let ExportRequest::Traces(t) = &mut got else {
            unreachable!()
        };
        let span = &mut t.resource_spans[0].scope_spans[0].spans[0];
        let last = span.attributes.len() - 1;
        span.attributes[last].value = Some(otlp_core::proto::common::v1::AnyValue {
            value: Some(V::StringValue("changed".into())),
        });
        let diff = first_difference(&want, &got).expect("differs");
        assert!(
            diff.path.starts_with(&format!(
                "resource_spans[0].scope_spans[0].spans[0].attributes[{last}].value"
            )),
            "{diff}"
        );
        // The first field of the old value is the first difference found.
        assert_eq!(diff.got, "<absent>", "{diff}");
        assert!(diff.to_string().starts_with("`resource_spans[0]"), "{diff}");
    }

    #[test]
    fn a_missing_item_and_another_signal_are_named() {
        let want = sample::request(Signal::Logs);
        let mut got = want.clone();
        let ExportRequest::Logs(l) = &mut got else {
            unreachable!()
        };
        let n = l.resource_logs[0].scope_logs[0].log_records.len();
        l.resource_logs[0].scope_logs[0].log_records.pop();
        let diff = first_difference(&want, &got).expect("differs");
        assert_eq!(
            diff.path,
            format!("resource_logs[0].scope_logs[0].log_records[{}]", n - 1)
        );
        assert_eq!(diff.got, "<absent>");
        let other = sample::request(Signal::Metrics);
        assert_eq!(first_difference(&want, &other).unwrap().path, "<request>");
    }

    #[test]
    fn camel_case_becomes_the_proto_name() {
        assert_eq!(snake("resourceSpans"), "resource_spans");
        assert_eq!(snake("timeUnixNano"), "time_unix_nano");
        assert_eq!(snake("key"), "key");
    }
}
