//! Fixtures of the gRPC tests: a server on 127.0.0.1:0 that stops (and is checked to have
//! stopped cleanly) when the test is done, the built-in suite, and a few realistic traces.

#![allow(dead_code)]

use selfharness_core::eval::EvalDirs;
use selfharness_core::harness::Harness;
use selfharness_core::model::scripted::{FlawProfile, ScriptedModel};
use selfharness_core::model::{Model, Usage};
use selfharness_core::task::Suite;
use selfharness_core::trace::{EndReason, Step, Trace};
use selfharness_server::{
    serve, MemoryHarnessStore, MinerService, ProposerService, Services, ValidatorService,
};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server; [`TestServer::stop`] shuts it down and checks it stopped without error.
pub struct TestServer {
    pub url: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<selfharness_server::Result<()>>,
}

impl TestServer {
    pub async fn start(services: Services) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            listener,
            async move { stopped.await.unwrap_or(()) },
            services,
        ));
        TestServer { url, stop, task }
    }

    pub async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(self.url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

pub fn suite() -> Suite {
    Suite::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../tasks")).unwrap()
}

pub fn scripted(suite: &Suite) -> Arc<dyn Model> {
    Arc::new(ScriptedModel::new(suite, FlawProfile::builtin_default()))
}

pub fn dirs(root: &Path) -> EvalDirs {
    EvalDirs {
        sandboxes: root.join("sandboxes"),
        traces: root.join("traces"),
    }
}

/// A validator of the scripted model on the built-in suite, knowing the built-in harnesses.
pub fn validator(root: &Path) -> ValidatorService {
    let suite = suite();
    let store = MemoryHarnessStore::with([Harness::builtin_default(), Harness::builtin_oracle()]);
    ValidatorService::new(scripted(&suite), suite, dirs(root), Arc::new(store))
        .unwrap()
        .named("test-validator")
}

/// Miner, proposer (catalogue) and validator in one server.
pub fn all_services(root: &Path) -> Services {
    Services::new()
        .miner(MinerService::new())
        .proposer(ProposerService::catalogue())
        .validator(validator(root))
}

fn bash(turn: u32, cmd: &str, exit: i32, observation: &str) -> Step {
    Step {
        turn,
        tool: Some("bash".into()),
        arguments: Some(serde_json::json!({ "command": cmd }).to_string()),
        exit_code: Some(exit),
        observation: observation.into(),
        observation_bytes: observation.len(),
        usage: Usage {
            prompt_tokens: 300,
            completion_tokens: 20,
        },
        model_ms: 2,
        tool_ms: 15,
        ..Step::default()
    }
}

fn trace(
    id: &str,
    task: &str,
    end: EndReason,
    detail: &str,
    steps: Vec<Step>,
    reward: f64,
) -> Trace {
    Trace {
        id: id.into(),
        task_id: task.into(),
        harness_id: Harness::builtin_default().id(),
        model_id: "scripted/default@test".into(),
        trial: 0,
        seed: 1,
        steps,
        end,
        end_detail: detail.into(),
        reward: Some(reward),
        verifier_output: String::new(),
        usage: Usage::default(),
        wall_ms: 1000,
    }
}

/// Four episodes as the default harness records them: two carry on after a failed `cd` (on
/// two tasks), one runs a command that never ends, one passes.
pub fn traces() -> Vec<Trace> {
    let ignored = |id: &str, task: &str| {
        trace(
            id,
            task,
            EndReason::Done,
            "",
            vec![
                bash(
                    1,
                    "cd /app/wrk && sort data.txt > out.txt",
                    1,
                    "exit_code: 1\n[stderr]\nbash: cd: /app/wrk: No such file or directory",
                ),
                bash(2, "echo finished", 0, "exit_code: 0\nfinished"),
            ],
            0.0,
        )
    };
    vec![
        ignored("e-a", "csv-column-sum"),
        ignored("e-b", "count-lines-by-ext"),
        trace(
            "e-c",
            "backup-rotation-script",
            EndReason::CommandTimeout,
            "command ran past the 10s limit: tail -f /dev/null",
            vec![bash(1, "tail -f /dev/null", 0, "")],
            0.0,
        ),
        trace(
            "e-d",
            "csv-reformat-dates",
            EndReason::Done,
            "",
            vec![bash(1, "echo ok > /app/out.txt", 0, "exit_code: 0")],
            1.0,
        ),
    ]
}
