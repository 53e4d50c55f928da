//! Serving: [`Services`] collects the stage services a process runs, and [`serve()`] runs them on
//! a bound listener beside gRPC health (`grpc.health.v1.Health`, SERVING for each service and
//! for the server as a whole, NOT_SERVING once shutdown begins) and reflection (v1 and
//! v1alpha, listing exactly the services served). Tests bind port 0 and pass the listener.
//! This module never builds a stage: callers construct them.

use crate::{Error, MinerService, ProposerService, Result, ValidatorService};
use selfharness_proto::FILE_DESCRIPTOR_SET;
use std::convert::Infallible;
use std::future::Future;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::body::BoxBody;
use tonic::codegen::http::{Request, Response};
use tonic::codegen::Service;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic::transport::Server;
use tonic_health::ServingStatus;

const HEALTH: &str = "grpc.health.v1.Health";
const REFLECTION: [&str; 2] = [
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// The services one process serves (besides health and reflection, which it always serves).
#[derive(Default)]
pub struct Services {
    routes: RoutesBuilder,
    /// Fully qualified names of the services added, for health and reflection.
    names: Vec<&'static str>,
}

impl Services {
    pub fn new() -> Self {
        Services::default()
    }

    pub fn miner(self, svc: MinerService) -> Self {
        self.service(svc.into_server())
    }

    pub fn proposer(self, svc: ProposerService) -> Self {
        self.service(svc.into_server())
    }

    pub fn validator(self, svc: ValidatorService) -> Self {
        self.service(svc.into_server())
    }

    /// Any other tonic service, e.g. the coordinator's
    /// `v1::coordinator_server::CoordinatorServer`: it gets health and reflection like ours.
    pub fn service<S>(mut self, svc: S) -> Self
    where
        S: Service<Request<BoxBody>, Response = Response<BoxBody>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        self.routes.add_service(svc);
        self.names.push(S::NAME);
        self
    }

    /// Fully qualified names of the services added so far.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }
}

/// Serve `services` with health and reflection on `listener` until `shutdown` completes; then
/// report NOT_SERVING (ending health watches), stop accepting, and let calls in flight finish.
/// A service with endless server streams must end them on shutdown itself, or the server
/// waits for them.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    services: Services,
) -> Result<()> {
    let Services { mut routes, names } = services;
    let (mut reporter, health) = tonic_health::server::health_reporter();
    for name in &names {
        reporter
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    let listed: Vec<&str> = names
        .iter()
        .copied()
        .chain([HEALTH])
        .chain(REFLECTION)
        .collect();
    let reflection = || {
        listed.iter().fold(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET),
            |b, name| b.with_service_name(*name),
        )
    };
    routes
        .add_service(health)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?);
    tracing::info!(
        addr = ?listener.local_addr().ok(),
        services = ?names,
        "serving gRPC"
    );
    let shutdown = async move {
        shutdown.await;
        for name in names.iter().copied().chain([""]) {
            reporter
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
        // Dropping the statuses ends every health Watch stream (after it sent NOT_SERVING);
        // an endless stream would otherwise hold the graceful shutdown open forever.
        for name in names.iter().copied().chain([""]) {
            reporter.clear_service_status(name).await;
        }
        tracing::info!("gRPC shutting down");
    };
    Server::builder()
        .add_routes(routes.routes())
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
        .map_err(Error::from)
}
