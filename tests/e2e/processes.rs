//! `aval ROLE` started by a test as its own process, on a pipeline's topics and consumer
//! groups, as a deployment runs it: the fault and scale tests kill and restart these.

use crate::common;
use aval_topics::{Catalogue, TopicRole};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};

/// A started process; killed when dropped, so a failing test leaves none behind.
#[derive(Debug)]
pub struct Process {
    child: Child,
    log: Option<PathBuf>,
}

impl Process {
    /// Starts `aval role` with instance id `instance` (static group membership), the
    /// catalogue's prefix for topics and groups, and `settings` as further environment.
    /// With `log`, its output goes to that file; otherwise it is dropped.
    pub fn start(
        role: &str,
        catalogue: &Catalogue,
        instance: &str,
        settings: &[(&str, String)],
        log: Option<PathBuf>,
    ) -> Self {
        let stack = common::stack();
        let prefix = catalogue
            .topic(TopicRole::Ingest)
            .name
            .trim_end_matches("ingest")
            .to_owned();
        let output = || match &log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("log file"),
            ),
            None => Stdio::null(),
        };
        let child = Command::new(env!("CARGO_BIN_EXE_aval"))
            .arg(role)
            .env("KAFKA_BOOTSTRAP", &stack.kafka_bootstrap)
            .env("SCHEMA_REGISTRY_URL", &stack.schema_registry_url)
            .env("DATABASE_URL", &stack.database_url)
            .env("AVAL_TOPIC_PREFIX", &prefix)
            .env("AVAL_GROUP_PREFIX", &prefix)
            .env("AVAL_INSTANCE_ID", instance)
            .env(
                "AVAL_JWT_SECRET",
                std::str::from_utf8(common::TEST_SECRET).expect("utf8"),
            )
            .envs(settings.iter().map(|(k, v)| (k, v)))
            .stdout(output())
            .stderr(output())
            .spawn()
            .expect("start aval");
        Self { child, log }
    }

    /// Sends `signal` (`-KILL`, `-TERM`) and waits until the process is gone.
    pub fn kill(&mut self, signal: &str) -> ExitStatus {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
        self.child.wait().expect("reap")
    }

    /// Sends SIGTERM and waits, at most `within`, for the process to exit.
    pub async fn terminate(&mut self, within: std::time::Duration) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(started.elapsed() < within, "SIGTERM ignored for {within:?}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Whether the process has exited, and its log's last lines when it has one.
    pub fn exited(&mut self) -> Option<String> {
        self.child.try_wait().expect("wait").map(|status| {
            let tail = self
                .log
                .as_ref()
                .and_then(|path| std::fs::read_to_string(path).ok())
                .map(|text| {
                    let lines: Vec<&str> = text.lines().collect();
                    lines[lines.len().saturating_sub(20)..].join("\n")
                })
                .unwrap_or_default();
            format!("{status}\n{tail}")
        })
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback address with a port free at the time of the call, for a process to listen on.
pub fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").to_string()
}
