//! Run events on their JetStream stream (`SELFHARNESS_EVENTS`, subject
//! `selfharness.events.<run id>`): in a cluster the stream is the coordinator's event log. The
//! coordinator writes its log locally as always and [`Publisher`] copies every appended line to
//! the stream in order, each with message id `<run>:<seq>`; [`restore`] makes a (possibly
//! empty) local log and the stream agree again after a restart; [`follow`] reads a run's events
//! from any seq on, live (WatchRun). This module moves event lines; it never interprets a run.

use crate::{Error, Result};
use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use prost::Message as _;
use selfharness_coordinator::RunEvent;
use selfharness_proto::{convert, v1};
use std::io::Write;
use std::path::Path;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

pub const EVENTS: &str = "SELFHARNESS_EVENTS";

pub fn events_subject(run: &str) -> String {
    format!("selfharness.events.{run}")
}

/// The event stream, created if missing.
pub async fn events_stream(js: &jetstream::Context) -> Result<stream::Stream> {
    js.get_or_create_stream(stream::Config {
        name: EVENTS.into(),
        subjects: vec!["selfharness.events.>".into()],
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| Error::Nats {
        what: "creating the event stream".into(),
        reason: e.to_string(),
    })
}

/// The last event of `run` the stream holds, if any.
pub async fn last(stream: &stream::Stream, run: &str) -> Result<Option<v1::RunEvent>> {
    match stream
        .get_last_raw_message_by_subject(&events_subject(run))
        .await
    {
        Ok(m) => Ok(Some(convert::decode::<v1::RunEvent>(
            "RunEvent", &m.payload,
        )?)),
        Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(e) => Err(Error::Nats {
            what: format!("reading the last event of run {run}"),
            reason: e.to_string(),
        }),
    }
}

/// How many events of `run` the stream holds (the seq of the last one; 0 for none).
pub async fn last_seq(stream: &stream::Stream, run: &str) -> Result<u64> {
    Ok(last(stream, run).await?.map_or(0, |e| e.seq))
}

/// Every event of `run` with seq > `after`, in order, as the stream holds them now.
pub async fn read(stream: &stream::Stream, run: &str, after: u64) -> Result<Vec<v1::RunEvent>> {
    let last = last_seq(stream, run).await?;
    let mut out = Vec::new();
    if last <= after {
        return Ok(out);
    }
    let mut rx = follow(stream.clone(), run.to_string(), after);
    while let Some(e) = rx.recv().await {
        let seq = e.seq;
        out.push(e);
        if seq >= last {
            break;
        }
    }
    Ok(out)
}

/// The complete lines of a local event log (a line torn by a kill is not an event).
fn local_lines(path: &Path) -> std::io::Result<Vec<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if !text.is_empty() && !text.ends_with('\n') {
        lines.pop();
    }
    Ok(lines)
}

/// Make `dir/events.jsonl` and the stream agree for `run`: events only the stream holds are
/// appended to the local log (a coordinator restarted on another disk finds its run again);
/// events only the local log holds are returned with their seq, for the caller to publish.
pub async fn restore(
    stream: &stream::Stream,
    run: &str,
    dir: &Path,
) -> Result<Vec<(u64, RunEvent)>> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("events.jsonl");
    let mut local = local_lines(&path)?;
    let remote = read(stream, run, local.len() as u64).await?;
    if !remote.is_empty() {
        // Rewrite without a torn tail, then append what only the stream has.
        let mut text: String = local.iter().map(|l| format!("{l}\n")).collect();
        for e in &remote {
            text.push_str(&e.json);
            text.push('\n');
            local.push(e.json.clone());
        }
        let tmp = dir.join(".events.jsonl.part");
        std::fs::File::create(&tmp)?.write_all(text.as_bytes())?;
        std::fs::rename(&tmp, &path)?;
        tracing::info!(
            run,
            events = remote.len(),
            "event log restored from the stream"
        );
    }
    let have = last_seq(stream, run).await?;
    let mut missing = Vec::new();
    for (i, line) in local.iter().enumerate().skip(have as usize) {
        let e: RunEvent = serde_json::from_str(line).map_err(|e| {
            Error::Io(std::io::Error::other(format!(
                "{}: line {}: {e}",
                path.display(),
                i + 1
            )))
        })?;
        missing.push((i as u64 + 1, e));
    }
    Ok(missing)
}

enum Msg {
    Event(v1::RunEvent),
    Flush(oneshot::Sender<()>),
}

/// Copies a run's logged events to the stream, in order, retrying each until the stream has
/// it (a republished event is dropped by the stream's duplicate window).
#[derive(Clone)]
pub struct Publisher {
    run: String,
    tx: mpsc::UnboundedSender<Msg>,
}

impl Publisher {
    pub fn start(rt: &tokio::runtime::Handle, js: jetstream::Context, run: &str) -> Publisher {
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        let subject = events_subject(run);
        rt.spawn(async move {
            while let Some(m) = rx.recv().await {
                match m {
                    Msg::Flush(done) => {
                        let _ = done.send(());
                    }
                    Msg::Event(e) => {
                        let id = format!("{}:{}", e.run_id, e.seq);
                        let body: bytes::Bytes = e.encode_to_vec().into();
                        loop {
                            let mut headers = async_nats::HeaderMap::new();
                            headers.insert("Nats-Msg-Id", id.as_str());
                            let stored = match js
                                .publish_with_headers(subject.clone(), headers, body.clone())
                                .await
                            {
                                Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                                Err(e) => Err(e.to_string()),
                            };
                            match stored {
                                Ok(()) => break,
                                Err(err) => {
                                    tracing::warn!(event = %id, error = %err, "event not stored yet; retrying");
                                    tokio::time::sleep(Duration::from_millis(500)).await;
                                }
                            }
                        }
                    }
                }
            }
        });
        Publisher {
            run: run.to_string(),
            tx,
        }
    }

    /// Queue event `seq` for the stream (returns at once).
    pub fn publish(&self, seq: u64, e: &RunEvent) {
        let _ = self
            .tx
            .send(Msg::Event(convert::run_event(&self.run, seq, e)));
    }

    /// Wait until every event queued so far is in the stream. Call from outside the runtime.
    pub fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.blocking_recv();
        }
    }
}

/// `run`'s events with seq > `after`, then live as they are stored, ending after its
/// `finished` event (or when the receiver is dropped). Survives a restarted server: it picks up
/// after the last event it delivered.
pub fn follow(stream: stream::Stream, run: String, after: u64) -> mpsc::Receiver<v1::RunEvent> {
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        let subject = events_subject(&run);
        let mut next = 1u64; // stream sequence to start from
        let mut delivered = after;
        loop {
            let consumer = stream
                .create_consumer(consumer::pull::OrderedConfig {
                    filter_subject: subject.clone(),
                    deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                        start_sequence: next,
                    },
                    ..Default::default()
                })
                .await;
            let mut messages = match consumer {
                Ok(c) => match c.messages().await {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "event stream unavailable; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "event stream unavailable; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            while let Some(m) = messages.next().await {
                let Ok(m) = m else { break };
                if let Ok(info) = m.info() {
                    next = info.stream_sequence + 1;
                }
                let e = match convert::decode::<v1::RunEvent>("RunEvent", &m.payload) {
                    Ok(e) => e,
                    Err(err) => {
                        tracing::error!(error = %err, "malformed run event skipped");
                        continue;
                    }
                };
                if e.seq <= delivered {
                    continue;
                }
                delivered = e.seq;
                let last = e.event_type == "finished";
                if tx.send(e).await.is_err() || last {
                    return;
                }
            }
            if tx.is_closed() {
                return;
            }
        }
    });
    rx
}
