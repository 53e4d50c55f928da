//! The HTTP side: an axum router over a [`Hub`]. Each handler asks the hub and renders; the
//! event stream turns [`Hub::tail`] into server-sent events (replay, then live, then the end).

use crate::hub::{Hub, Logged, Tail};
use crate::{metrics, pages};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::{Component, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Pages load nothing but themselves; the live page also opens its event stream.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; connect-src 'self'";
/// How often a stream of a run logged by another process looks for new lines.
const POLL: Duration = Duration::from_millis(500);
/// A comment line this often keeps idle streams (and proxies in between) open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Clone)]
struct AppState {
    hub: Arc<Hub>,
    /// Turns true when the server shuts down: open event streams end then.
    shutdown: watch::Receiver<bool>,
}

/// Every route, over `hub`; event streams end when `shutdown` turns true.
pub fn router(hub: Arc<Hub>, shutdown: watch::Receiver<bool>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/runs/:id", get(run_page))
        .route("/runs/:id/events", get(events))
        .route("/runs/:id/files/*path", get(file))
        .with_state(AppState { hub, shutdown })
}

fn page(html: String) -> Response {
    ([(header::CONTENT_SECURITY_POLICY, CSP)], Html(html)).into_response()
}

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, format!("{what}: not found\n")).into_response()
}

async fn index(State(s): State<AppState>) -> Response {
    let hub = s.hub.clone();
    match tokio::task::spawn_blocking(move || hub.runs()).await {
        Ok(runs) => page(pages::runs_list(&runs)),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        s.hub.metrics().render(),
    )
        .into_response()
}

async fn run_page(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    match s.hub.tail(&id, u64::MAX) {
        Some(t) => page(pages::run_page(&id, &t)),
        None => not_found(&id),
    }
}

/// Where a stream starts: after the `Last-Event-ID` a reconnecting browser sends, else after
/// `?after=SEQ`, else from the first event.
fn start_after(headers: &HeaderMap, query: Option<&str>) -> u64 {
    let header = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let query = query.and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("after="))
            .and_then(|v| v.parse().ok())
    });
    header.or(query).unwrap_or(0)
}

/// One event as SSE: `id: <seq>`, `event: <type>`, `data: <its JSON line>`.
pub(crate) fn sse_event(l: &Logged) -> Event {
    Event::default()
        .id(l.seq.to_string())
        .event(&l.kind)
        .data(&l.json)
}

async fn events(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let after = start_after(&headers, query.as_deref());
    let Some(tail) = s.hub.tail(&id, after) else {
        return not_found(&id);
    };
    if tail.finished && tail.events.is_empty() {
        // Nothing will ever follow: 204 tells a browser's EventSource not to reconnect.
        return StatusCode::NO_CONTENT.into_response();
    }
    Sse::new(follow(s, id, tail))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// A stream's state between events.
struct Follow {
    state: AppState,
    id: String,
    /// Events fetched, not sent yet.
    pending: VecDeque<Arc<Logged>>,
    /// Seq of the last event fetched.
    cursor: u64,
    finished: bool,
    live: bool,
    newest: watch::Receiver<u64>,
}

impl Follow {
    fn take(&mut self, t: Tail) {
        self.cursor = t.events.last().map_or(self.cursor, |l| l.seq);
        self.pending.extend(t.events);
        (self.finished, self.live, self.newest) = (t.finished, t.live, t.newest);
    }
}

/// Resolves when the server shuts down (never if it cannot tell).
async fn shutting_down(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|down| *down).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The run's events from `first` on, then each new one as it is logged; ends after
/// `finished`, or when the server shuts down.
fn follow(
    state: AppState,
    id: String,
    first: Tail,
) -> impl futures_util::Stream<Item = Result<Event, Infallible>> {
    let mut f = Follow {
        state,
        id,
        pending: VecDeque::new(),
        cursor: 0,
        finished: false,
        live: false,
        newest: first.newest.clone(),
    };
    f.take(first);
    futures_util::stream::unfold(f, |mut f| async move {
        loop {
            if let Some(l) = f.pending.pop_front() {
                return Some((Ok(sse_event(&l)), f));
            }
            if f.finished {
                return None;
            }
            let mut shutdown = f.state.shutdown.clone();
            let gone = tokio::select! {
                changed = f.newest.changed(), if f.live => changed.is_err(),
                _ = tokio::time::sleep(POLL), if !f.live => false,
                _ = shutting_down(&mut shutdown) => true,
            };
            if gone {
                return None;
            }
            let tail = f.state.hub.tail(&f.id, f.cursor)?;
            f.take(tail);
        }
    })
}

/// `rel` under `dir`, when it stays there: plain components only (no `..`, no root), and the
/// file it resolves to (symlinks followed) inside `dir`.
pub(crate) fn confine(dir: &std::path::Path, rel: &str) -> Option<PathBuf> {
    let rel = std::path::Path::new(rel);
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let root = dir.canonicalize().ok()?;
    let full = root.join(rel).canonicalize().ok()?;
    (full.starts_with(&root) && full.is_file()).then_some(full)
}

fn content_type(path: &std::path::Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "json" => "application/json",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "md" | "toml" | "jsonl" | "txt" | "log" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

async fn file(State(s): State<AppState>, Path((id, rel)): Path<(String, String)>) -> Response {
    let Some(path) = s.hub.run_dir(&id).and_then(|dir| confine(&dir, &rel)) else {
        return not_found(&rel);
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type(&path)),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => not_found(&rel),
    }
}
