//! The stage services over real gRPC on 127.0.0.1:0: each answer equals what the stage returns
//! in process, bad requests are refused naming the field, and health and reflection answer.

mod common;

use common::{all_services, traces, TestServer};
use selfharness_core::harness::Harness;
use selfharness_core::policy::Policy;
use selfharness_miner::{mine, MineRequest, Weakness};
use selfharness_proposer::{Catalogue, ProposeRequest, ProposeResponse, Proposer};
use selfharness_proto::v1::miner_client::MinerClient;
use selfharness_proto::v1::proposer_client::ProposerClient;
use selfharness_proto::{FromProto, ToProto};
use selfharness_server::{MinerService, Services};
use std::collections::{BTreeMap, BTreeSet};
use tonic::Code;

fn instructions() -> BTreeMap<String, String> {
    BTreeMap::new()
}

async fn mine_over_grpc(server: &TestServer, req: &MineRequest<'_>) -> Vec<Weakness> {
    let mut client = MinerClient::new(server.channel().await);
    let response = client.mine(req.to_proto()).await.unwrap().into_inner();
    Vec::<Weakness>::from_proto(&response).unwrap()
}

#[tokio::test]
async fn mine_returns_the_weaknesses_of_the_traces() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(all_services(dir.path())).await;
    let traces = traces();
    let instructions = instructions();
    let req = MineRequest {
        traces: &traces,
        instructions: &instructions,
    };
    let got = mine_over_grpc(&server, &req).await;
    assert_eq!(got, mine(&req), "the service answers what the stage does");
    let kinds: Vec<(&str, u32, u32)> = got
        .iter()
        .map(|w| (w.kind.as_str(), w.failures, w.tasks))
        .collect();
    assert_eq!(
        kinds,
        [("ignored_failure", 2, 2), ("command_timeout", 1, 1)],
        "{got:#?}"
    );
    let evidence: Vec<(&str, u32)> = got[0]
        .evidence
        .iter()
        .map(|e| (e.trace.as_str(), e.step))
        .collect();
    assert_eq!(evidence, [("e-a", 1), ("e-b", 1)]);
    server.stop().await;
}

#[tokio::test]
async fn mine_accepts_requests_past_tonics_default_4_mib_limit() {
    let server = TestServer::start(Services::new().miner(MinerService::new())).await;
    let mut traces = traces();
    for t in &mut traces {
        t.steps[0].observation = "x".repeat(2 << 20);
    }
    let instructions = instructions();
    let req = MineRequest {
        traces: &traces,
        instructions: &instructions,
    };
    assert!(prost::Message::encoded_len(&req.to_proto()) > 8 << 20);
    let got = mine_over_grpc(&server, &req).await;
    assert_eq!(got, mine(&req));
    server.stop().await;
}

#[tokio::test]
async fn propose_returns_catalogue_patches_and_skips_tried_harnesses() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(all_services(dir.path())).await;
    let traces = traces();
    let instructions = instructions();
    let weaknesses = mine(&MineRequest {
        traces: &traces,
        instructions: &instructions,
    });
    let champion = Harness::builtin_default();
    let mut policy = Policy::default();
    policy.guard_suite(&common::suite());
    let none = BTreeSet::new();
    let req = ProposeRequest {
        champion: &champion,
        weaknesses: &weaknesses,
        policy: &policy,
        k: 4,
        tried: &none,
    };
    let mut client = ProposerClient::new(server.channel().await);
    let answer = client.propose(req.to_proto()).await.unwrap().into_inner();
    let got = ProposeResponse::from_proto(&answer).unwrap();
    assert_eq!(
        got,
        Catalogue.propose(&req),
        "the service answers what the stage does"
    );
    let first = &got.proposals[0];
    assert_eq!(first.patch.targets, [weaknesses[0].id.clone()]);
    assert_eq!(first.patch.edits[0].to_string(), "append wrappers");
    assert_eq!(
        first.patch.edits[0].value,
        Some(serde_json::json!({"kind": "fail_on_nonzero_exit"}))
    );
    assert_eq!(
        first.harness,
        first.patch.apply(&champion, &policy).unwrap()
    );
    assert_eq!(
        first.harness.parent.as_deref(),
        Some(champion.id().as_str())
    );
    let strategies: Vec<&str> = got.proposals.iter().map(|p| p.strategy.as_str()).collect();
    assert!(got.proposals.len() >= 2, "{strategies:?}");

    let tried: BTreeSet<String> = got.proposals.iter().map(|p| p.harness.id()).collect();
    let again = ProposeRequest {
        tried: &tried,
        ..req
    };
    let answer = client.propose(again.to_proto()).await.unwrap().into_inner();
    let got = ProposeResponse::from_proto(&answer).unwrap();
    assert!(got
        .proposals
        .iter()
        .all(|p| !tried.contains(&p.harness.id())));
    server.stop().await;
}

#[tokio::test]
async fn a_malformed_request_is_invalid_argument_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(all_services(dir.path())).await;
    let champion = Harness::builtin_default();
    let tried = BTreeSet::new();
    let mut req = ProposeRequest {
        champion: &champion,
        weaknesses: &[],
        policy: &Policy::default(),
        k: 1,
        tried: &tried,
    }
    .to_proto();
    req.k = 0;
    let mut proposer = ProposerClient::new(server.channel().await);
    let err = proposer.propose(req.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        err.message(),
        "ProposeRequest: field `k`: must be at least 1"
    );
    req.k = 2;
    req.champion.as_mut().unwrap().toml = "system_prompt = 3".into();
    let err = proposer.propose(req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message()
            .starts_with("ProposeRequest: field `champion.toml`: "),
        "{}",
        err.message()
    );

    let traces = traces();
    let instructions = instructions();
    let mut req = MineRequest {
        traces: &traces,
        instructions: &instructions,
    }
    .to_proto();
    req.traces[2].end = "exploded".into();
    let mut miner = MinerClient::new(server.channel().await);
    let err = miner.mine(req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        err.message(),
        "MineRequest: field `traces[2].end`: unknown value \"exploded\""
    );
    server.stop().await;
}

#[tokio::test]
async fn health_reports_serving_for_the_server_and_each_service() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(all_services(dir.path())).await;
    let mut health = HealthClient::new(server.channel().await);
    for service in [
        "",
        "selfharness.v1.Miner",
        "selfharness.v1.Proposer",
        "selfharness.v1.Validator",
    ] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{service:?}");
    }
    let err = health
        .check(HealthCheckRequest {
            service: "selfharness.v1.Coordinator".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "not served here");
    server.stop().await;
}

#[tokio::test]
async fn reflection_lists_exactly_the_served_services_and_describes_them() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(all_services(dir.path())).await;
    let mut client = ServerReflectionClient::new(server.channel().await);
    let ask = |m: MessageRequest| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(m),
    };
    let requests = vec![
        ask(MessageRequest::ListServices(String::new())),
        ask(MessageRequest::FileContainingSymbol(
            "selfharness.v1.Validator".into(),
        )),
        ask(MessageRequest::FileByFilename(
            "selfharness/v1/eval.proto".into(),
        )),
    ];
    let mut answers = client
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let listed = answers.message().await.unwrap().unwrap().message_response;
    let Some(MessageResponse::ListServicesResponse(list)) = listed else {
        panic!("not a service list: {listed:?}");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "selfharness.v1.Miner",
            "selfharness.v1.Proposer",
            "selfharness.v1.Validator",
        ]
    );
    let validator = next_file(&mut answers).await;
    assert_eq!(validator.name(), "selfharness/v1/validator.proto");
    assert_eq!(validator.dependency, ["selfharness/v1/eval.proto"]);
    let methods: Vec<&str> = validator.service[0]
        .method
        .iter()
        .map(|m| m.name())
        .collect();
    assert_eq!(methods, ["Evaluate"]);
    let eval = next_file(&mut answers).await;
    assert!(
        eval.message_type.iter().any(|m| m.name() == "EvalJob"),
        "a client can fetch what the service imports"
    );
    server.stop().await;
}

/// The first file of the next reflection answer, which must be a file descriptor response.
async fn next_file(
    answers: &mut tonic::Streaming<tonic_reflection::pb::v1::ServerReflectionResponse>,
) -> prost_types::FileDescriptorProto {
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let answer = answers.message().await.unwrap().unwrap().message_response;
    let Some(MessageResponse::FileDescriptorResponse(files)) = answer else {
        panic!("not a file descriptor: {answer:?}");
    };
    <prost_types::FileDescriptorProto as prost::Message>::decode(
        files.file_descriptor_proto[0].as_slice(),
    )
    .unwrap()
}

#[tokio::test]
async fn shutdown_reports_not_serving_ends_health_watches_and_stops() {
    use std::time::Duration;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let server = TestServer::start(Services::new().miner(MinerService::new())).await;
    let mut health = HealthClient::new(server.channel().await);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "selfharness.v1.Miner".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);
    let stopped = tokio::spawn(server.stop());
    let next = watch.message().await.unwrap().unwrap();
    assert_eq!(next.status(), ServingStatus::NotServing);
    let end = tokio::time::timeout(Duration::from_secs(10), watch.message()).await;
    assert!(end.expect("the watch ends").unwrap().is_none());
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("the server stops although a client still holds its connection")
        .unwrap();
}
