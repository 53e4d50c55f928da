//! `selfharness.v1.Proposer` over gRPC: decodes the champion, weaknesses and policy, calls a
//! `selfharness_proposer::Proposer` off the runtime (a model proposer blocks on HTTP), encodes
//! the proposals and rejections. Which proposer runs is the constructor's choice, never the
//! request's.

use crate::{blocking, decode, request_span, MAX_MESSAGE_BYTES};
use selfharness_proposer::{Catalogue, Proposer};
use selfharness_proto::convert::ProposeInput;
use selfharness_proto::v1;
use selfharness_proto::v1::proposer_server::{Proposer as ProposerRpc, ProposerServer};
use selfharness_proto::ToProto;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The proposer stage as a gRPC service.
#[derive(Clone)]
pub struct ProposerService {
    /// The strategy that turns weaknesses into patches (shared by concurrent calls).
    proposer: Arc<dyn Proposer + Send + Sync>,
}

impl ProposerService {
    pub fn new(proposer: Arc<dyn Proposer + Send + Sync>) -> Self {
        ProposerService { proposer }
    }

    /// The deterministic, offline catalogue proposer.
    pub fn catalogue() -> Self {
        ProposerService::new(Arc::new(Catalogue))
    }

    /// The tonic server, accepting requests up to [`MAX_MESSAGE_BYTES`].
    pub fn into_server(self) -> ProposerServer<Self> {
        ProposerServer::new(self).max_decoding_message_size(MAX_MESSAGE_BYTES)
    }
}

impl Default for ProposerService {
    fn default() -> Self {
        ProposerService::catalogue()
    }
}

#[tonic::async_trait]
impl ProposerRpc for ProposerService {
    async fn propose(
        &self,
        request: Request<v1::ProposeRequest>,
    ) -> Result<Response<v1::ProposeResponse>, Status> {
        let span = request_span("selfharness.v1.Proposer/Propose", &request);
        let input: ProposeInput = decode(&span, request.get_ref())?;
        let proposer = self.proposer.clone();
        let response = blocking(span, "proposing", move || {
            let r = proposer.propose(&input.request());
            tracing::info!(
                champion = %input.champion.id(),
                weaknesses = input.weaknesses.len(),
                k = input.k,
                proposals = r.proposals.len(),
                rejected = r.rejected.len(),
                "proposed"
            );
            r
        })
        .await?;
        Ok(Response::new(response.to_proto()))
    }
}
