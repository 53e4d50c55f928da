//! The live dashboard of selfharness runs over HTTP, and Prometheus metrics.
//!
//! A process that runs a loop (the embedded `selfharness run --http ADDR`, or the distributed
//! coordinator) creates one [`Hub`], feeds it every event its run logs, and serves it:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn demo(run_dir: &std::path::Path, coordinator_on_logged: &mut dyn FnMut(Box<dyn Fn(u64, &selfharness_coordinator::RunEvent) + Sync>)) -> std::io::Result<()> {
//! let (runs_dir, id) = selfharness_web::runs_dir_and_id(run_dir);
//! let hub = Arc::new(selfharness_web::Hub::new(Some(runs_dir)));
//! let addr = selfharness_web::spawn("127.0.0.1:8080", hub.clone())?; // its own thread and runtime
//! eprintln!("dashboard: http://{addr}/runs/{id}");
//! // The coordinator's `on_logged`: every event appended to the log, with its seq.
//! coordinator_on_logged(Box::new(move |seq, e| hub.logged(&id, seq, e)));
//! // The bus's figures, whenever it knows them:
//! // hub.metrics().set_queue_depth(n); hub.metrics().add_redeliveries(1); …
//! # Ok(()) }
//! ```
//!
//! Routes: `GET /` (runs list), `GET /runs/{id}` (the live run page), `GET /runs/{id}/events`
//! (server-sent events: `id: <seq>`, `event: <type>`, `data: <the event's JSON line>`, from
//! after `Last-Event-ID` or `?after=SEQ`, replayed then live, ending after `finished`),
//! `GET /runs/{id}/files/{path}` (the run directory's files: `report.html`, trace pages),
//! `GET /metrics` (Prometheus text format) and `GET /healthz`. Pages are self-contained: inline
//! CSS and JS, nothing fetched from anywhere else.
//!
//! # Layout
//! - [`hub`] — [`Hub`]: the runs, their events (replay from any seq, then live), the runs list.
//! - [`metrics`] — [`Metrics`]: counters and gauges, rendered in the Prometheus text format.
//! - `routes` — the axum router: pages, the event stream, files (confined to the run
//!   directory), metrics.
//! - `pages` — the runs list and the live page's HTML; `live.js` and `dashboard.css` are
//!   inlined into them.

pub mod hub;
pub mod metrics;
mod pages;
mod routes;

pub use hub::{Hub, Logged, RunInfo, Tail};
pub use metrics::Metrics;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serve the dashboard of `hub` on `listener` until `shutdown` resolves; open event streams
/// end then, and the server returns once their connections are closed.
pub async fn serve(
    listener: TcpListener,
    hub: Arc<Hub>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (down, down_rx) = watch::channel(false);
    let app = routes::router(hub, down_rx);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = down.send(true);
        })
        .await
}

/// Bind `addr` (e.g. `127.0.0.1:8080`, port 0 for any) and serve the dashboard of `hub` on a
/// thread of its own with its own runtime, for as long as the process runs. For synchronous
/// callers (the embedded CLI). Returns the address bound.
pub fn spawn(addr: &str, hub: Arc<Hub>) -> io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("selfharness-web".into())
        .spawn(move || {
            runtime.block_on(async move {
                let served = match TcpListener::from_std(listener) {
                    Ok(l) => serve(l, hub, std::future::pending()).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = served {
                    tracing::error!(addr = %bound, error = %e, "the dashboard stopped");
                }
            })
        })?;
    Ok(bound)
}

/// The runs directory and the run id of run directory `run_dir`: its parent (`.` for a bare
/// name) and its name. A [`Hub`] over that runs directory finds the run's files there.
pub fn runs_dir_and_id(run_dir: &Path) -> (PathBuf, String) {
    let parent = match run_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let id = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (parent, id)
}

#[cfg(test)]
mod tests;
