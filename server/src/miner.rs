//! `selfharness.v1.Miner` over gRPC: decodes the inline traces, runs
//! `selfharness_miner::mine` off the runtime, encodes the weaknesses. It never reads traces
//! from anywhere but the request.

use crate::{blocking, decode, request_span, MAX_MESSAGE_BYTES};
use selfharness_proto::convert::MineInput;
use selfharness_proto::v1;
use selfharness_proto::v1::miner_server::{Miner, MinerServer};
use selfharness_proto::ToProto;
use tonic::{Request, Response, Status};

/// The miner stage as a gRPC service. Stateless: mining is a function of the request.
#[derive(Debug, Clone, Copy, Default)]
pub struct MinerService;

impl MinerService {
    pub fn new() -> Self {
        MinerService
    }

    /// The tonic server, accepting requests up to [`MAX_MESSAGE_BYTES`].
    pub fn into_server(self) -> MinerServer<Self> {
        MinerServer::new(self).max_decoding_message_size(MAX_MESSAGE_BYTES)
    }
}

#[tonic::async_trait]
impl Miner for MinerService {
    async fn mine(
        &self,
        request: Request<v1::MineRequest>,
    ) -> Result<Response<v1::MineResponse>, Status> {
        let span = request_span("selfharness.v1.Miner/Mine", &request);
        let input: MineInput = decode(&span, request.get_ref())?;
        if !input.trace_refs.is_empty() {
            return Err(Status::failed_precondition(format!(
                "MineRequest: field `trace_refs`: this miner has no trace store; send the {} \
                 traces inline",
                input.trace_refs.len()
            )));
        }
        let weaknesses = blocking(span, "mining", move || {
            let w = selfharness_miner::mine(&input.request());
            tracing::info!(traces = input.traces.len(), weaknesses = w.len(), "mined");
            w
        })
        .await?;
        Ok(Response::new(weaknesses.to_proto()))
    }
}
