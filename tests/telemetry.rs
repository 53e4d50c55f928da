//! Issue #7: `selfharness` spans (run → generation → stage → evaluation → turn) are exported
//! over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and only then. The collector here
//! is a tiny OTLP/HTTP receiver that decodes every `POST /v1/traces` with the OTLP protobuf
//! types.

mod common;
use common::*;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use prost::Message;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One received span.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    trace: Vec<u8>,
    id: Vec<u8>,
    parent: Vec<u8>,
    attributes: HashMap<String, String>,
    /// Attributes of the resource it came with (service.name, selfharness.role).
    resource: HashMap<String, String>,
}

fn attributes(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                Some(any_value::Value::DoubleValue(d)) => d.to_string(),
                Some(any_value::Value::BoolValue(b)) => b.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

/// An OTLP/HTTP trace receiver on a free port; stops on drop.
struct Collector {
    server: Arc<tiny_http::Server>,
    port: u16,
    spans: Arc<Mutex<Vec<Span>>>,
    requests: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Collector {
    fn start() -> Collector {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (server, spans, requests) = (server.clone(), spans.clone(), requests.clone());
            std::thread::spawn(move || {
                for mut req in server.incoming_requests() {
                    requests
                        .lock()
                        .unwrap()
                        .push(format!("{} {}", req.method(), req.url()));
                    let mut body = Vec::new();
                    req.as_reader().read_to_end(&mut body).unwrap();
                    let decoded = ExportTraceServiceRequest::decode(&body[..]);
                    let ok = req.url() == "/v1/traces" && decoded.is_ok();
                    if let Ok(export) = decoded {
                        let mut spans = spans.lock().unwrap();
                        for rs in export.resource_spans {
                            let resource = rs
                                .resource
                                .map(|r| attributes(&r.attributes))
                                .unwrap_or_default();
                            for ss in rs.scope_spans {
                                for s in ss.spans {
                                    spans.push(Span {
                                        name: s.name,
                                        trace: s.trace_id,
                                        id: s.span_id,
                                        parent: s.parent_span_id,
                                        attributes: attributes(&s.attributes),
                                        resource: resource.clone(),
                                    });
                                }
                            }
                        }
                    }
                    let code = if ok { 200 } else { 400 };
                    let _ = req.respond(tiny_http::Response::empty(code));
                }
            })
        };
        Collector {
            server,
            port,
            spans,
            requests,
            thread: Some(thread),
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A short `selfharness run`: one generation, a couple of candidates, small splits.
fn run_cmd(harness: &Path, out: &Path) -> Command {
    let mut c = Command::new(bin());
    c.args([
        "run",
        "--generations",
        "1",
        "--k",
        "2",
        "--train-trials",
        "1",
        "--val-trials",
        "2",
        "--test-trials",
        "1",
        "--alpha",
        "0.1",
        "--no-ablation",
        "--harness",
        harness.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .current_dir(root())
    .env_remove("SELFHARNESS_LOG")
    .env_remove("OTEL_SERVICE_NAME")
    .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
    .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    c
}

fn finish(child: std::process::Child, out: &Path) -> String {
    let o: Output = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}\n{}", stderr(&o), stdout(&o));
    stdout(&o).replace(out.to_str().unwrap(), "OUT")
}

#[test]
fn spans_reach_an_otlp_collector_only_when_the_endpoint_is_set() {
    let tmp = tempfile::tempdir().unwrap();
    // 4 s: planted hangs cost little, and no real step comes near it under load, so both runs
    // reach the same outcomes (as in tests/distributed.rs).
    let harness = fast_harness(tmp.path(), 4);
    let collector = Collector::start();
    let (with, without) = (tmp.path().join("with"), tmp.path().join("without"));
    // The same run twice, side by side: with the endpoint, and without it (but with the
    // per-signal variable pointing at the collector: only OTEL_EXPORTER_OTLP_ENDPOINT turns
    // export on).
    let t0 = Instant::now();
    let a = run_cmd(&harness, &with)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let b = run_cmd(&harness, &without)
        .env(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("{}/v1/traces", collector.endpoint()),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (out_with, out_without) = (finish(a, &with), finish(b, &without));
    eprintln!("both runs took {:?}", t0.elapsed());
    assert_eq!(
        out_with, out_without,
        "telemetry changed the command's output"
    );
    assert!(out_with.contains("proposed"), "{out_with}");

    // Everything was flushed before the exporting process exited.
    let spans = collector.spans.lock().unwrap().clone();
    let requests = collector.requests.lock().unwrap().clone();
    assert!(
        requests.iter().all(|r| r == "POST /v1/traces"),
        "{requests:?}"
    );
    let names: HashMap<&str, usize> = spans.iter().fold(HashMap::new(), |mut m, s| {
        *m.entry(s.name.as_str()).or_default() += 1;
        m
    });
    eprintln!(
        "{} spans in {} requests: {names:?}",
        spans.len(),
        requests.len()
    );
    for name in [
        "run",
        "generation",
        "mine",
        "propose",
        "validate",
        "evaluation",
        "turn",
        "score",
    ] {
        assert!(names.contains_key(name), "no {name} span in {names:?}");
    }
    assert_eq!(names["run"], 1, "one run span: {names:?}");
    let by_id: HashMap<&[u8], &Span> = spans.iter().map(|s| (&s.id[..], s)).collect();
    assert_eq!(by_id.len(), spans.len(), "span ids are unique");
    let parent = |s: &Span| by_id.get(&s.parent[..]).copied();

    // run → generation → validate → evaluation → turn, by span and parent ids.
    let chain = spans
        .iter()
        .filter(|s| s.name == "turn")
        .find_map(|turn| {
            let ev = parent(turn).filter(|p| p.name == "evaluation")?;
            let val = parent(ev).filter(|p| p.name == "validate")?;
            let gen = parent(val).filter(|p| p.name == "generation")?;
            let run = parent(gen).filter(|p| p.name == "run")?;
            Some([run, gen, val, ev, turn])
        })
        .unwrap_or_else(|| panic!("no turn under evaluation/validate/generation/run: {names:?}"));
    let [run, gen, val, ev, turn] = chain;
    assert!(run.parent.is_empty(), "run is the root span");
    assert!(
        chain.iter().all(|s| s.trace == run.trace),
        "one trace for the whole chain"
    );
    // Every span of the run belongs to its trace, and every parent was exported too.
    for s in &spans {
        assert_eq!(s.trace, run.trace, "{} outside the run's trace", s.name);
        assert!(
            s.parent.is_empty() || by_id.contains_key(&s.parent[..]),
            "{}'s parent was not exported",
            s.name
        );
    }
    // Useful fields.
    assert_eq!(run.attributes["seed"], "1");
    assert!(run.attributes["run_dir"].ends_with("with"), "{run:?}");
    assert!(run.attributes.contains_key("model"));
    assert_eq!(gen.attributes["number"], "1");
    assert!(val.attributes["proposal"].starts_with("p-"), "{val:?}");
    for k in [
        "key", "task", "trial", "harness", "status", "tokens", "turns",
    ] {
        assert!(
            ev.attributes.contains_key(k),
            "evaluation lacks {k}: {ev:?}"
        );
    }
    assert_eq!(val.attributes["harness"], ev.attributes["harness"]);
    assert!(turn.attributes.contains_key("turn"), "{turn:?}");
    assert!(
        spans
            .iter()
            .any(|s| s.name == "turn" && s.attributes.contains_key("tool")),
        "no turn records its tool"
    );
    // Validations run on threads of their own; each nests under its generation (or a
    // composition), never at the root.
    for v in spans.iter().filter(|s| s.name == "validate") {
        let p = parent(v).map(|p| p.name.as_str());
        assert!(matches!(p, Some("generation" | "compose")), "{p:?}");
    }
    assert_eq!(run.resource["service.name"], "selfharness");
    assert_eq!(run.resource["selfharness.role"], "run");
}

/// Issue #7: a collector that cannot be reached costs one warning, not the command.
#[test]
fn an_unreachable_collector_warns_once_and_the_command_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let harness = fast_harness(tmp.path(), 2);
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let eval = |otel: bool| {
        let mut c = Command::new(bin());
        c.args(["eval", "--trials", "1", "--harness"])
            .arg(&harness)
            .arg("--out")
            .arg(tmp.path().join(if otel { "a" } else { "b" }))
            .current_dir(root())
            .env_remove("SELFHARNESS_LOG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
        if otel {
            c.env(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{port}"),
            )
            .env("OTEL_SERVICE_NAME", "selfharness-test");
        }
        let t0 = Instant::now();
        let o = c.output().unwrap();
        (o, t0.elapsed())
    };
    let (plain, plain_time) = eval(false);
    let (o, time) = eval(true);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(plain.status.success(), "{}", stderr(&plain));
    eprintln!(
        "{time:?} with an unreachable collector, {plain_time:?} without; stderr:\n{}",
        stderr(&o)
    );
    let warnings = stderr(&o).matches("OTLP span export failed").count();
    assert_eq!(warnings, 1, "{}", stderr(&o));
    assert!(
        time < plain_time + Duration::from_secs(5),
        "{time:?} with an unreachable collector, {plain_time:?} without"
    );
}
