//! The test world harness: starts the emulator (moto server plus ViewerAtlas's world, see
//! `tests/world/emulator.py`) on 127.0.0.1 at a port the kernel picks, seeds a healthy ViewerAtlas,
//! and stops it all on drop. Nothing here talks to any address but loopback.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use autoheal::aws::{Aws, CredentialSource, StaticKeys};
use autoheal::config::Config;
use autoheal::deps::Deps;
use autoheal::run::{self, Function, RunOptions};
use serde_json::{json, Value};

pub const SENTINEL_TOKEN: &str = "SENTINEL-oauth-9f27c1d4e8b3";
pub const SENTINEL_CLIENT_ID: &str = "SENTINEL-clientid-5a61e0";
pub const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:123456789012:vieweratlas-alerts";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `target/<profile>/` of this test run, where cargo put the `autoheal` binary too.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("target dir")
}

pub fn sample_event(name: &str) -> Value {
    let path = repo_root().join("tests/fixtures/events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An ECS Task State Change (STOPPED) of a scheduled ViewerAtlas task: `family`, task `task_id`,
/// started by `started_by` (`events-rule/<rule>` for a scheduled run, `autoheal` for Autoheal's).
pub fn stopped_task_event(family: &str, task_id: &str, started_by: &str) -> Value {
    let mut ev = sample_event("ecs-task-stopped-analysis.json");
    ev["id"] = json!(format!("evt-{task_id}"));
    ev["detail"]["taskArn"] = json!(format!(
        "arn:aws:ecs:us-east-1:123456789012:task/vieweratlas-cluster/{task_id}"
    ));
    ev["detail"]["group"] = json!(format!("family:{family}"));
    ev["detail"]["taskDefinitionArn"] = json!(format!(
        "arn:aws:ecs:us-east-1:123456789012:task-definition/{family}:2"
    ));
    ev["detail"]["startedBy"] = json!(started_by);
    ev
}

/// One moto server with its control plane, owned by a test.
pub struct Emulator {
    child: Child,
    _stdin: ChildStdin,
    pub url: String,
    port: u16,
}

impl Emulator {
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// An emulator with extra environment, e.g. `AUTOHEAL_IAM_TEMPLATE` (the template whose IAM it
    /// models, default template.yaml).
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        let python = repo_root().join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run `make test` (or tools/venv.sh) to install the pinned emulator",
            python.display()
        );
        let mut child = Command::new(&python)
            .arg(repo_root().join("tests/world/emulator.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .envs(env.iter().copied())
            .spawn()
            .expect("start the emulator");
        let stdin = child.stdin.take().expect("emulator stdin");
        let stdout = child.stdout.take().expect("emulator stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read emulator URL");
        let url = line
            .trim()
            .strip_prefix("EMULATOR_URL=")
            .unwrap_or_else(|| panic!("emulator said {line:?}"))
            .to_string();
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "emulator must bind loopback, got {url}"
        );
        Self {
            child,
            _stdin: stdin,
            url,
            port,
        }
    }

    /// POST a JSON body to the control plane (or any path) and return the JSON answer.
    pub fn post(&self, path: &str, body: &Value) -> Value {
        let payload = body.to_string();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to emulator");
        stream.set_read_timeout(Some(Duration::from_secs(120))).ok();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            payload.len()
        )
        .expect("send request");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read response");
        assert!(Instant::now() < deadline, "emulator too slow on {path}");
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status_ok = head.lines().next().is_some_and(|l| l.contains(" 200 "));
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        assert!(status_ok, "emulator {path} failed: {head}\n{body}");
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("emulator {path} answered non-JSON ({e}): {body}"))
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What Autoheal published, read back through the topic's SQS subscription.
#[derive(Debug, Clone)]
pub struct Published {
    pub subject: String,
    pub report: Value,
    pub attributes: HashMap<String, String>,
}

/// A simulated ViewerAtlas in a fresh emulator.
pub struct World {
    pub emulator: Emulator,
    pub seed: Value,
}

impl World {
    pub fn healthy() -> Self {
        Self::healthy_in(Emulator::start())
    }

    /// A healthy world in an emulator the caller started (e.g. with another template's IAM).
    pub fn healthy_in(emulator: Emulator) -> Self {
        let seed = emulator.post("/_world/seed", &json!({}));
        Self { emulator, seed }
    }

    pub fn url(&self) -> &str {
        &self.emulator.url
    }

    /// The settings a deployed function would have, pointed at this world.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ENDPOINT_URL".into(), self.emulator.url.clone()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("S3_BUCKET".into(), "vieweratlas-data-lake".into()),
            ("SNS_TOPIC_ARN".into(), TOPIC_ARN.into()),
            // Twitch is off the machine: the token check is off unless a test serves one on loopback.
            ("AUTOHEAL_TWITCH_VALIDATE_URL".into(), String::new()),
        ]
    }

    pub fn config_with(&self, extra: &[(&str, &str)]) -> Config {
        let mut map: HashMap<String, String> = self.env().into_iter().collect();
        for (k, v) in extra {
            map.insert((*k).to_string(), (*v).to_string());
        }
        Config::from_lookup(&move |k| map.get(k).cloned()).expect("valid test config")
    }

    pub async fn deps_with(&self, extra: &[(&str, &str)]) -> Deps {
        let config = self.config_with(extra);
        let keys = StaticKeys {
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
        };
        let aws = Aws::connect(&config, CredentialSource::Static(keys)).await;
        Deps { config, aws }
    }

    pub async fn deps(&self) -> Deps {
        self.deps_with(&[]).await
    }

    /// Runs `event` in-process through what `function` runs, with this world's settings plus
    /// `extra`; the report as JSON. Boxed: a run's future is large for a 2 MiB test thread.
    pub async fn run(&self, function: Function, event: &Value, extra: &[(&str, &str)]) -> Value {
        let deps = self.deps_with(extra).await;
        let report = Box::pin(run::handle(&deps, function, event, RunOptions::default()))
            .await
            .expect("the run completes");
        serde_json::to_value(report).expect("a report is JSON")
    }

    pub fn scenario(&self, name: &str, args: Value) -> Value {
        self.emulator
            .post("/_world/scenario", &json!({"name": name, "args": args}))
    }

    pub fn set_service(&self, body: Value) -> Value {
        self.emulator.post("/_world/ecs/service", &body)
    }

    /// Lets `minutes` pass for Autoheal's ledger (cooldowns, leases, deferrals end).
    pub fn age_ledger(&self, minutes: f64) -> Value {
        self.emulator
            .post("/_world/ledger/age", &json!({ "minutes": minutes }))
    }

    /// Everything Autoheal could have changed (services, tasks, rules, alarms, ledger).
    pub fn state(&self) -> Value {
        self.emulator.post("/_world/state", &json!({}))
    }

    /// Autoheal's API calls as the emulator saw them (service, op, mutating), oldest first.
    pub fn journal(&self) -> Vec<Value> {
        self.emulator
            .post("/_world/journal", &json!({}))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// How many times Autoheal called `op` (e.g. "UpdateService").
    pub fn calls(&self, op: &str) -> usize {
        self.journal().iter().filter(|e| e["op"] == op).count()
    }

    /// Autoheal's mutating calls, as `service:op`.
    pub fn mutations(&self) -> Vec<String> {
        self.journal()
            .iter()
            .filter(|e| e["mutating"] == true)
            .map(|e| {
                format!(
                    "{}:{}",
                    e["service"].as_str().unwrap_or("?"),
                    e["op"].as_str().unwrap_or("?")
                )
            })
            .collect()
    }

    /// Every ledger object (key and body).
    pub fn ledger(&self) -> Vec<(String, String)> {
        self.emulator
            .post("/_world/ledger", &json!({}))
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|o| {
                (
                    o["key"].as_str().unwrap_or_default().to_string(),
                    o["body"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Drains the report sink. Each message's JSON report is parsed, and every message is checked
    /// for the planted secret values (so the whole suite is a leak test).
    pub fn published(&self) -> Vec<Published> {
        let raw = self.emulator.post("/_world/published", &json!({}));
        assert_no_secret("a published SNS message", &raw.to_string());
        raw.as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|m| Published {
                subject: m["subject"].as_str().unwrap_or_default().to_string(),
                report: serde_json::from_str(m["message"].as_str().unwrap_or("null"))
                    .unwrap_or(Value::Null),
                attributes: m["attributes"]
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Starts the `autoheal` CLI against this world with `args` and `stdin`, without waiting.
    pub fn cli_spawn(&self, args: &[&str], stdin: &str, extra_env: &[(&str, &str)]) -> Child {
        let bin = bin_dir().join("autoheal");
        assert!(bin.exists(), "{} not built", bin.display());
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("run autoheal");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child
    }

    /// Runs the `autoheal` CLI against this world with `args` and `stdin`.
    pub fn cli(&self, args: &[&str], stdin: &str, extra_env: &[(&str, &str)]) -> CliRun {
        let out = self
            .cli_spawn(args, stdin, extra_env)
            .wait_with_output()
            .expect("autoheal output");
        assert_no_secret("autoheal's stdout", &String::from_utf8_lossy(&out.stdout));
        assert_no_secret(
            "autoheal's stderr (logs)",
            &String::from_utf8_lossy(&out.stderr),
        );
        CliRun {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Waits until the emulator holds a call to `op` (a fault with "hold"), and returns it.
    pub fn wait_for_held(&self, op: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self
                .journal()
                .into_iter()
                .find(|e| e["op"] == op && e["held"] == true)
            {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no {op} call was held within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Every planted secret value, and anything derived from one, must stay out of `text`.
pub fn assert_no_secret(what: &str, text: &str) {
    for s in [SENTINEL_TOKEN, SENTINEL_CLIENT_ID] {
        assert!(
            !text.contains(s),
            "a secret value leaked into {what}: {text}"
        );
    }
}

impl Drop for World {
    /// At the end of every test: nothing in the ledger, and nothing left unread on the alerts
    /// topic, holds a secret value.
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let _ = self.published();
        for (key, body) in self.ledger() {
            assert_no_secret(&format!("the ledger object {key}"), &body);
        }
    }
}

#[derive(Debug)]
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    pub fn report(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not a report ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Finds a check by name in a report.
pub fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

/// A stand-in for Twitch's `oauth2/validate` on loopback: 200 for the tokens it is told are valid,
/// 401 for anything else. It records every token it receives, so tests can prove the token went
/// nowhere else and was sent exactly as stored.
pub struct TwitchStub {
    pub url: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    port: u16,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TwitchStub {
    pub fn start(valid: &[&str]) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind stub");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let valid: Vec<String> = valid.iter().map(|s| s.to_string()).collect();
        let (rx, st) = (received.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let token = req
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("Authorization: OAuth ")
                            .or_else(|| l.strip_prefix("authorization: OAuth "))
                    })
                    .unwrap_or("")
                    .trim()
                    .to_string();
                let ok = valid.contains(&token);
                rx.lock().unwrap().push(token);
                let body = if ok {
                    r#"{"client_id":"stubclient","login":"viewer_atlas","scopes":["chat:read"],"user_id":"1","expires_in":5184000}"#
                } else {
                    r#"{"status":401,"message":"invalid access token"}"#
                };
                let status = if ok { "200 OK" } else { "401 Unauthorized" };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}/oauth2/validate"),
            received,
            stop,
            port,
            thread: Some(thread),
        }
    }

    pub fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for TwitchStub {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
