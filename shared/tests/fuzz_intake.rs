//! Property-based fuzzing of the event intake (stable Rust, `proptest`).
//!
//! Inputs: the 8 sample events in `tests/fixtures/events/` mutated at random (keys deleted, values
//! replaced by values of another type, unknown keys inserted, strings truncated, the fields intake
//! dispatches on set to random strings, the SNS message opened up and mutated inside, the whole
//! event nested in an SNS envelope as a JSON string, …), byte-level damage to their JSON text,
//! fully random JSON values, and random bytes. Everything goes through `intake::parse_str`.
//!
//! Properties, for every input:
//! - intake never panics;
//! - an `Err` displays as one non-empty line that starts with an `IntakeError` prefix (multi-line
//!   messages are collected over the whole run and reported together, by code path, with the
//!   shortest input for each);
//! - an `Ok` trigger's `reference()` has a non-empty id;
//! - `parse(&value)` and `parse_str(&text)` agree on the kind of answer.
//!
//! Case budget: `AUTOHEAL_FUZZ_CASES` (default 20,000, a few seconds in debug) is split across the
//! four tests below; `AUTOHEAL_FUZZ_CASES=1000000 cargo test -p autoheal --test fuzz_intake --
//! --nocapture` runs the million (add `--release` for speed). Each test prints how many cases it ran.
//! `PROPTEST_RNG_SEED=<u64>` makes a run reproducible; failures are shrunk and printed, and never
//! persisted to files.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use autoheal::intake::{parse, parse_str, IntakeError, Trigger};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Number, Value};

// ---------------------------------------------------------------------------------------------
// Budget and bookkeeping
// ---------------------------------------------------------------------------------------------

const DEFAULT_CASES: u64 = 20_000;

fn total_cases() -> u64 {
    match std::env::var("AUTOHEAL_FUZZ_CASES") {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("AUTOHEAL_FUZZ_CASES must be a whole number, got {v:?}")),
        _ => DEFAULT_CASES,
    }
}

/// This test's share of the budget, in tenths.
fn share(tenths: u64) -> u32 {
    let n = (total_cases() * tenths / 10).max(1);
    u32::try_from(n).expect("AUTOHEAL_FUZZ_CASES too large for one run")
}

const PREFIXES: [&str; 4] = [
    "event is not valid JSON",
    "event is not a JSON object",
    "unrecognised event",
    "malformed ",
];

/// What the inputs turned into (proof the generator reaches past the first rejection), and every
/// error message that spans lines.
#[derive(Default)]
struct Tally {
    cases: AtomicU64,
    ok: [AtomicU64; 6],
    err: [AtomicU64; 4],
    multiline: Mutex<BTreeMap<String, Multiline>>,
}

/// One class of multi-line error messages: how often, and the shortest input that produced one.
#[derive(Debug)]
struct Multiline {
    count: u64,
    input: String,
    message: String,
}

const OK_NAMES: [&str; 6] = [
    "alarm",
    "schedule",
    "secret",
    "task",
    "deployment",
    "own-report",
];
const ERR_NAMES: [&str; 4] = ["not-json", "not-object", "unrecognised", "malformed"];

impl Tally {
    fn record(&self, r: &Result<Trigger, IntakeError>) {
        let slot = match r {
            Ok(Trigger::Alarm(_)) => &self.ok[0],
            Ok(Trigger::Schedule(_)) => &self.ok[1],
            Ok(Trigger::SecretChange(_)) => &self.ok[2],
            Ok(Trigger::TaskChange(_)) => &self.ok[3],
            Ok(Trigger::Deployment(_)) => &self.ok[4],
            Ok(Trigger::OwnReport { .. }) => &self.ok[5],
            Err(IntakeError::NotJson(_)) => &self.err[0],
            Err(IntakeError::NotObject(_)) => &self.err[1],
            Err(IntakeError::Unrecognised(_)) => &self.err[2],
            Err(IntakeError::Malformed { .. }) => &self.err[3],
        };
        slot.fetch_add(1, Ordering::Relaxed);
    }

    fn ok_count(&self, i: usize) -> u64 {
        self.ok[i].load(Ordering::Relaxed)
    }

    fn err_count(&self, i: usize) -> u64 {
        self.err[i].load(Ordering::Relaxed)
    }

    fn multiline_count(&self) -> u64 {
        self.multiline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|m| m.count)
            .sum()
    }

    /// Multi-line messages are collected rather than failing the first case, so that one run names
    /// every code path that produces them (each with its shortest input) and the case count holds.
    fn record_multiline(
        &self,
        r: &Result<Trigger, IntakeError>,
        msg: &str,
        input: &str,
        strings: &[String],
    ) {
        let class = format!("{} | {}", kind_of(r), template(msg, strings));
        let mut map = self.multiline.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(class).or_insert_with(|| Multiline {
            count: 0,
            input: input.to_string(),
            message: msg.to_string(),
        });
        entry.count += 1;
        if input.len() < entry.input.len() {
            entry.input = input.to_string();
            entry.message = msg.to_string();
        }
    }

    fn multiline_report(&self) -> String {
        let map = self.multiline.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .map(|(class, m)| {
                format!(
                    "  [{} cases] {class}\n    shortest input: {}\n    message: {:?}",
                    m.count, m.input, m.message
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn summary(&self) -> String {
        let ok: Vec<String> = OK_NAMES
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{n} {}", self.ok_count(i)))
            .collect();
        let err: Vec<String> = ERR_NAMES
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{n} {}", self.err_count(i)))
            .collect();
        format!(
            "ok: {}; err: {}; multi-line errors: {}",
            ok.join(", "),
            err.join(", "),
            self.multiline_count()
        )
    }
}

/// Runs `cases` generated inputs through `test`, then prints and returns what happened.
fn fuzz<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value, &Tally) -> Result<(), TestCaseError>,
) -> Tally {
    let config = Config {
        cases,
        // Nothing is written next to the sources; a failure prints its shrunk input instead.
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let tally = Tally::default();
    let started = Instant::now();
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |input| {
        tally.cases.fetch_add(1, Ordering::Relaxed);
        test(input, &tally)
    });
    let ran = tally.cases.load(Ordering::Relaxed);
    println!(
        "fuzz_intake {name}: {ran} inputs run ({cases} cases required) in {:.2?}, {}; {}",
        started.elapsed(),
        if result.is_ok() {
            "no panic and no failed property"
        } else {
            "FAILED (see below)"
        },
        tally.summary()
    );
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    assert!(
        ran >= u64::from(cases),
        "{name}: ran {ran} of {cases} cases"
    );
    let multiline = tally.multiline_count();
    assert!(
        multiline == 0,
        "{name}: {multiline} of {ran} inputs got an error message that spans lines (it must be one line), by code path:\n{}",
        tally.multiline_report()
    );
    tally
}

// ---------------------------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------------------------

fn check_result(
    input: &str,
    strings: &[String],
    r: &Result<Trigger, IntakeError>,
    tally: &Tally,
) -> Result<(), TestCaseError> {
    match r {
        Ok(t) => {
            let rf = t.reference();
            prop_assert!(
                !rf.id.is_empty(),
                "trigger with an empty id from {input}: {t:?}"
            );
        }
        Err(e) => {
            let msg = e.to_string();
            prop_assert!(!msg.trim().is_empty(), "empty error message for {input}");
            prop_assert!(
                PREFIXES.iter().any(|p| msg.starts_with(p)),
                "error message has no IntakeError prefix: {msg:?}\ninput: {input}"
            );
            if msg.contains('\n') || msg.contains('\r') {
                tally.record_multiline(r, &msg, input, strings);
            }
        }
    }
    Ok(())
}

/// Every key and string in the input, including inside strings that are JSON themselves (the SNS
/// message), longest first.
fn strings_of(v: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>, depth: usize) {
        match v {
            Value::String(s) => {
                out.push(s.clone());
                if depth < 4 {
                    if let Ok(inner) = serde_json::from_str::<Value>(s) {
                        walk(&inner, out, depth + 1);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out, depth)),
            Value::Object(m) => {
                for (k, x) in m {
                    out.push(k.clone());
                    walk(x, out, depth);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out, 0);
    out.retain(|s| !s.is_empty());
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// The code path behind a message: its fixed text up to the first part taken from the input (a
/// string of the input that holds a line break, or a quoted or parenthesised detail).
fn template(msg: &str, strings: &[String]) -> String {
    let from_input = strings
        .iter()
        .filter(|s| s.contains(['\n', '\r']))
        .filter_map(|s| msg.find(s.as_str()))
        .min();
    let detail = msg.find(['(', '`']);
    let cut = match (from_input, detail) {
        (Some(i), Some(d)) if d < i => d,
        (Some(i), _) => i,
        (None, Some(d)) => d,
        (None, None) => msg.len(),
    };
    let mut t: String = msg[..cut].chars().take(100).collect();
    if from_input == Some(cut) {
        t.push_str("<input>");
    }
    t.replace(['\n', '\r'], "⏎")
}

/// The category of an answer, to compare `parse` with `parse_str`.
fn kind_of(r: &Result<Trigger, IntakeError>) -> String {
    match r {
        Ok(t) => format!("ok {:?}", t.reference().kind),
        Err(IntakeError::NotJson(_)) => "not-json".into(),
        Err(IntakeError::NotObject(k)) => format!("not-object {k}"),
        Err(IntakeError::Unrecognised(_)) => "unrecognised".into(),
        Err(IntakeError::Malformed { shape, .. }) => format!("malformed {shape}"),
    }
}

fn check_text(text: &str, tally: &Tally) -> Result<(), TestCaseError> {
    let r = parse_str(text);
    tally.record(&r);
    let strings = match &r {
        Err(e) if e.to_string().contains(['\n', '\r']) => serde_json::from_str::<Value>(text)
            .map(|v| strings_of(&v))
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    check_result(&shorten(text), &strings, &r, tally)
}

fn check_value(v: &Value, tally: &Tally) -> Result<(), TestCaseError> {
    let text = v.to_string();
    let from_text = parse_str(&text);
    tally.record(&from_text);
    let strings = match &from_text {
        Err(e) if e.to_string().contains(['\n', '\r']) => strings_of(v),
        _ => Vec::new(),
    };
    check_result(&shorten(&text), &strings, &from_text, tally)?;
    let from_value = parse(v);
    // Counted once (from the text); checked again for the other entry point.
    let quiet = Tally::default();
    check_result(&shorten(&text), &strings, &from_value, &quiet)?;
    prop_assert_eq!(
        kind_of(&from_value),
        kind_of(&from_text),
        "parse and parse_str disagree on {}",
        shorten(&text)
    );
    Ok(())
}

/// Inputs can be large; failure messages show a bounded prefix (the shrunk input is printed whole).
fn shorten(s: &str) -> String {
    if s.len() <= 2000 {
        s.to_string()
    } else {
        let cut = (0..=2000)
            .rev()
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(0);
        format!("{}… ({} bytes)", &s[..cut], s.len())
    }
}

// ---------------------------------------------------------------------------------------------
// Sample events
// ---------------------------------------------------------------------------------------------

fn samples() -> &'static [(String, Value)] {
    static SAMPLES: OnceLock<Vec<(String, Value)>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/events");
        let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("directory entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| {
                let text =
                    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                let v: Value =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                (
                    p.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned(),
                    v,
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            out.len(),
            8,
            "expected the 8 sample events in {}",
            dir.display()
        );
        out
    })
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/// Strings intake looks for or compares against, and strings that tend to break things.
const DICT: &[&str] = &[
    "",
    " ",
    "\n",
    "\r\n",
    "\t",
    "\0",
    "\u{2028}",
    "\"",
    "\\",
    "{",
    "[]",
    "{}",
    "null",
    "true",
    "0",
    "-1",
    "1e999",
    "é",
    "日本",
    "🦀",
    "\u{feff}",
    "\u{7f}",
    // keys
    "Records",
    "detail-type",
    "source",
    "id",
    "detail",
    "resources",
    "time",
    "alarmData",
    "alarmArn",
    "AlarmName",
    "AlarmArn",
    "NewStateValue",
    "OldStateValue",
    "StateChangeTime",
    "Trigger",
    "Metrics",
    "AlarmRule",
    "EventSource",
    "eventSource",
    "Sns",
    "MessageId",
    "Message",
    "Subject",
    "MessageAttributes",
    "autoheal_report",
    "playbook",
    "outcome",
    "trigger",
    "alarmName",
    "state",
    "value",
    "timestamp",
    "reason",
    "previousState",
    "configuration",
    "metrics",
    "metricStat",
    "metric",
    "namespace",
    "name",
    "alarmRule",
    "description",
    "eventName",
    "eventTime",
    "errorCode",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "arn",
    "aRN",
    "ARN",
    "secretId",
    "SecretId",
    "versionId",
    "VersionId",
    "clientRequestToken",
    "taskArn",
    "taskDefinitionArn",
    "lastStatus",
    "group",
    "containers",
    "exitCode",
    "stopCode",
    "startedAt",
    "stoppedAt",
    "clusterArn",
    "deploymentId",
    "eventType",
    "updatedAt",
    // values
    "ALARM",
    "OK",
    "INSUFFICIENT_DATA",
    "alarm",
    "aws:sns",
    "aws:sqs",
    "aws.cloudwatch",
    "aws.ecs",
    "aws.events",
    "aws.secretsmanager",
    "aws.ec2",
    "Scheduled Event",
    "CloudWatch Alarm State Change",
    "ECS Task State Change",
    "ECS Deployment State Change",
    "AWS API Call via CloudTrail",
    "AWS Service Event via CloudTrail",
    "UpdateSecret",
    "PutSecretValue",
    "RotationSucceeded",
    "RotationFailed",
    "DeleteSecret",
    "STOPPED",
    "RUNNING",
    "SERVICE_DEPLOYMENT_FAILED",
    "family:",
    "family:vieweratlas-analysis",
    "arn:aws:events:us-east-1:1:rule/",
    "arn:aws:events:us-east-1:1:rule/vieweratlas-autoheal-daily",
    "arn:aws:ecs:us-east-1:1:service/",
    "arn:aws:ecs:us-east-1:1:service/c/",
    "arn:aws:ecs:us-east-1:1:service/vieweratlas-collector",
    "arn:aws:ecs:us-east-1:1:task-definition/",
    "arn:aws:ecs:us-east-1:1:task-definition/f:",
    "arn:aws:ecs:us-east-1:1:task-definition/f:99999999999",
    "arn:aws:secretsmanager:us-east-1:1:secret:",
    "arn:aws:secretsmanager:us-east-1:1:secret:vieweratlas/twitch/oauth_token-Ab12Cd",
    "arn:aws:cloudwatch:us-east-1:1:alarm:",
    ":",
    "/",
    "//",
    "::",
    "2026-11-28T10:15:00Z",
    "2026-11-28T10:15:00.121+0000",
    "2026-02-30T25:61:61Z",
    "9999-12-31T23:59:59Z",
    "0000-00-00T00:00:00Z",
    "-2026-11-28T10:15:00Z",
    "2026-11-28",
    "1764324900",
];

fn arb_string() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        4 => prop::sample::select(DICT).prop_map(str::to_string),
        2 => "[a-zA-Z0-9:/._@ -]{0,24}",
        2 => prop::collection::vec(any::<char>(), 0..12).prop_map(|cs| cs.into_iter().collect::<String>()),
        1 => (prop::sample::select(DICT), prop::sample::select(DICT), "[a-z0-9\n]{0,3}").prop_map(|(a, b, c)| format!("{a}{c}{b}")),
        1 => (prop::sample::select(DICT), 1usize..300).prop_map(|(s, n)| s.repeat(n)),
    ]
}

fn arb_number() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(&[0i64, 1, -1, 7, 300, 1_764_324_900, i64::MIN, i64::MAX][..])
            .prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> + Clone {
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        2 => arb_number(),
        4 => arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((arb_string(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// One mutation. Node and key choices are indices taken modulo what exists when the op applies.
#[derive(Debug, Clone)]
enum Op {
    DeleteKey {
        node: usize,
        key: usize,
    },
    /// Replace a value with one of another type: 0 null, 1 number, 2 string, 3 array, 4 object.
    Retype {
        node: usize,
        kind: u8,
        payload: Value,
        text: String,
    },
    Replace {
        node: usize,
        with: Value,
    },
    InsertKey {
        node: usize,
        key: String,
        value: Value,
    },
    Truncate {
        node: usize,
        at: usize,
    },
    /// Set a dispatch field (every occurrence of the key) to a random string.
    SetField {
        field: usize,
        to: String,
    },
    /// Set any string to a string intake cares about.
    SetString {
        node: usize,
        to: String,
    },
    /// A nested value becomes its own JSON text (double encoding), or JSON text its value.
    Stringify {
        node: usize,
    },
    Unstringify {
        node: usize,
    },
    /// Arrays gain a copy of an element (e.g. two SNS records) or lose all elements.
    DuplicateElement {
        node: usize,
    },
    Empty {
        node: usize,
    },
    /// A value is wrapped in an array.
    WrapInArray {
        node: usize,
    },
}

const DISPATCH_FIELDS: &[&str] = &[
    "detail-type",
    "source",
    "eventName",
    "value",
    "NewStateValue",
    "OldStateValue",
    "EventSource",
    "lastStatus",
    "id",
    "MessageId",
    "alarmName",
    "AlarmName",
    "arn",
    "secretId",
    "SecretId",
    "errorCode",
    "versionId",
    "Message",
];

fn arb_op() -> impl Strategy<Value = Op> {
    let idx = any::<usize>();
    prop_oneof![
        3 => (idx, idx).prop_map(|(node, key)| Op::DeleteKey { node, key }),
        3 => (idx, 0u8..5, arb_json(), arb_string()).prop_map(|(node, kind, payload, text)| Op::Retype { node, kind, payload, text }),
        1 => (idx, arb_json()).prop_map(|(node, with)| Op::Replace { node, with }),
        2 => (idx, arb_string(), arb_json()).prop_map(|(node, key, value)| Op::InsertKey { node, key, value }),
        2 => (idx, idx).prop_map(|(node, at)| Op::Truncate { node, at }),
        4 => (0..DISPATCH_FIELDS.len(), arb_string()).prop_map(|(field, to)| Op::SetField { field, to }),
        2 => (idx, prop::sample::select(DICT).prop_map(str::to_string)).prop_map(|(node, to)| Op::SetString { node, to }),
        1 => idx.prop_map(|node| Op::Stringify { node }),
        1 => idx.prop_map(|node| Op::Unstringify { node }),
        1 => idx.prop_map(|node| Op::DuplicateElement { node }),
        1 => idx.prop_map(|node| Op::Empty { node }),
        1 => idx.prop_map(|node| Op::WrapInArray { node }),
    ]
}

/// An SNS envelope around the (mutated) event, as Lambda delivers it.
#[derive(Debug, Clone)]
struct SnsWrap {
    event_source: String,
    message_id: String,
    subject: Option<String>,
    own_report_attribute: bool,
    records: usize,
}

fn arb_sns_wrap() -> impl Strategy<Value = SnsWrap> {
    (
        prop_oneof![8 => Just("aws:sns".to_string()), 1 => Just("aws:sqs".to_string()), 1 => arb_string()],
        prop_oneof![8 => "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}", 2 => arb_string()],
        prop::option::of(arb_string()),
        prop::bool::weighted(0.05),
        prop_oneof![18 => Just(1usize), 1 => Just(0usize), 1 => Just(2usize)],
    )
        .prop_map(|(event_source, message_id, subject, own_report_attribute, records)| SnsWrap {
            event_source,
            message_id,
            subject,
            own_report_attribute,
            records,
        })
}

#[derive(Debug, Clone)]
struct Mutated {
    sample: usize,
    /// Open the SNS sample's Message (JSON text) so the ops reach inside it; closed again after.
    open_message: bool,
    ops: Vec<Op>,
    wrap: Option<SnsWrap>,
}

fn arb_mutated() -> impl Strategy<Value = Mutated> {
    (
        0..8usize,
        prop::bool::weighted(0.5),
        prop::collection::vec(arb_op(), 0..6),
        prop::option::weighted(0.2, arb_sns_wrap()),
    )
        .prop_map(|(sample, open_message, ops, wrap)| Mutated {
            sample,
            open_message,
            ops,
            wrap,
        })
}

// ---------------------------------------------------------------------------------------------
// Applying mutations
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Idx(usize),
}

/// Every node's path, root first, depth-first.
fn paths(v: &Value) -> Vec<Vec<Seg>> {
    fn walk(v: &Value, cur: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
        out.push(cur.clone());
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    cur.push(Seg::Key(k.clone()));
                    walk(c, cur, out);
                    cur.pop();
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    cur.push(Seg::Idx(i));
                    walk(c, cur, out);
                    cur.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

fn at<'a>(v: &'a Value, p: &[Seg]) -> Option<&'a Value> {
    p.iter().try_fold(v, |cur, s| match s {
        Seg::Key(k) => cur.get(k.as_str()),
        Seg::Idx(i) => cur.get(*i),
    })
}

fn at_mut<'a>(v: &'a mut Value, p: &[Seg]) -> Option<&'a mut Value> {
    p.iter().try_fold(v, |cur, s| match s {
        Seg::Key(k) => cur.get_mut(k.as_str()),
        Seg::Idx(i) => cur.get_mut(*i),
    })
}

/// The `sel`-th (modulo) node that satisfies `pred`.
fn pick(v: &mut Value, sel: usize, pred: impl Fn(&Value) -> bool) -> Option<&mut Value> {
    let candidates: Vec<Vec<Seg>> = paths(v)
        .into_iter()
        .filter(|p| at(v, p).is_some_and(&pred))
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let p = candidates[sel % candidates.len()].clone();
    at_mut(v, &p)
}

fn type_index(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) | Value::Number(_) => 1,
        Value::String(_) => 2,
        Value::Array(_) => 3,
        Value::Object(_) => 4,
    }
}

fn value_of_type(kind: u8, payload: &Value, text: &str) -> Value {
    match kind {
        0 => Value::Null,
        1 => match payload {
            Value::Number(_) | Value::Bool(_) => payload.clone(),
            _ => json!(text.len() as i64 - 3),
        },
        2 => Value::String(text.to_string()),
        3 => match payload {
            Value::Array(_) => payload.clone(),
            other => json!([other]),
        },
        _ => match payload {
            Value::Object(_) => payload.clone(),
            other => json!({ text: other }),
        },
    }
}

fn apply(v: &mut Value, op: &Op) {
    match op {
        Op::DeleteKey { node, key } => {
            if let Some(Value::Object(m)) =
                pick(v, *node, |n| n.as_object().is_some_and(|m| !m.is_empty()))
            {
                if let Some(k) = m.keys().nth(key % m.len()).cloned() {
                    m.remove(&k);
                }
            }
        }
        Op::Retype {
            node,
            kind,
            payload,
            text,
        } => {
            if let Some(n) = pick(v, *node, |_| true) {
                let mut k = *kind % 5;
                if k == type_index(n) {
                    k = (k + 1) % 5;
                }
                *n = value_of_type(k, payload, text);
            }
        }
        Op::Replace { node, with } => {
            if let Some(n) = pick(v, *node, |_| true) {
                *n = with.clone();
            }
        }
        Op::InsertKey { node, key, value } => {
            if let Some(Value::Object(m)) = pick(v, *node, Value::is_object) {
                m.insert(key.clone(), value.clone());
            }
        }
        Op::Truncate { node, at } => {
            if let Some(Value::String(s)) =
                pick(v, *node, |n| n.as_str().is_some_and(|s| !s.is_empty()))
            {
                let chars = s.chars().count();
                let keep = at % chars;
                *s = s.chars().take(keep).collect();
            }
        }
        Op::SetField { field, to } => {
            let name = DISPATCH_FIELDS[*field % DISPATCH_FIELDS.len()];
            set_everywhere(v, name, to);
        }
        Op::SetString { node, to } => {
            if let Some(n) = pick(v, *node, Value::is_string) {
                *n = Value::String(to.clone());
            }
        }
        Op::Stringify { node } => {
            if let Some(n) = pick(v, *node, |n| n.is_object() || n.is_array()) {
                *n = Value::String(n.to_string());
            }
        }
        Op::Unstringify { node } => {
            if let Some(n) = pick(v, *node, |n| {
                n.as_str()
                    .is_some_and(|s| serde_json::from_str::<Value>(s).is_ok())
            }) {
                if let Some(parsed) = n
                    .as_str()
                    .and_then(|s| serde_json::from_str::<Value>(s).ok())
                {
                    *n = parsed;
                }
            }
        }
        Op::DuplicateElement { node } => {
            if let Some(Value::Array(a)) =
                pick(v, *node, |n| n.as_array().is_some_and(|a| !a.is_empty()))
            {
                let first = a[0].clone();
                a.push(first);
            }
        }
        Op::Empty { node } => {
            if let Some(n) = pick(v, *node, |n| n.is_object() || n.is_array()) {
                match n {
                    Value::Object(m) => m.clear(),
                    Value::Array(a) => a.clear(),
                    _ => {}
                }
            }
        }
        Op::WrapInArray { node } => {
            if let Some(n) = pick(v, *node, |_| true) {
                *n = json!([n.take()]);
            }
        }
    }
}

fn set_everywhere(v: &mut Value, key: &str, to: &str) {
    match v {
        Value::Object(m) => {
            for (k, c) in m.iter_mut() {
                if k == key {
                    *c = Value::String(to.to_string());
                } else {
                    set_everywhere(c, key, to);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| set_everywhere(c, key, to)),
        _ => {}
    }
}

fn message_path() -> Vec<Seg> {
    vec![
        Seg::Key("Records".into()),
        Seg::Idx(0),
        Seg::Key("Sns".into()),
        Seg::Key("Message".into()),
    ]
}

fn wrap_sns(event: Value, w: &SnsWrap) -> Value {
    let mut sns = json!({
        "Type": "Notification",
        "MessageId": w.message_id,
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:vieweratlas-alerts",
        "Message": event.to_string(),
        "Timestamp": "2026-11-28T10:20:00.511Z",
        "MessageAttributes": {},
    });
    if let Some(s) = &w.subject {
        sns["Subject"] = json!(s);
    }
    if w.own_report_attribute {
        sns["MessageAttributes"]["autoheal_report"] = json!({"Type": "String", "Value": "1"});
    }
    let record = json!({"EventSource": w.event_source, "EventVersion": "1.0", "Sns": sns});
    json!({ "Records": vec![record; w.records] })
}

fn build(m: &Mutated) -> Value {
    let mut v = samples()[m.sample % samples().len()].1.clone();
    let opened = m.open_message
        && match at_mut(&mut v, &message_path()) {
            Some(msg) => match msg
                .as_str()
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
            {
                Some(inner) => {
                    *msg = inner;
                    true
                }
                None => false,
            },
            None => false,
        };
    for op in &m.ops {
        apply(&mut v, op);
    }
    if opened {
        // Back to JSON text, as SNS delivers it (unless an op turned it into a string already).
        if let Some(msg) = at_mut(&mut v, &message_path()) {
            if !msg.is_string() {
                *msg = Value::String(msg.to_string());
            }
        }
    }
    match &m.wrap {
        Some(w) => wrap_sns(v, w),
        None => v,
    }
}

/// Byte-level damage to an event's JSON text.
#[derive(Debug, Clone)]
enum ByteOp {
    Flip { at: usize, bits: u8 },
    Delete { at: usize, len: usize },
    Insert { at: usize, bytes: Vec<u8> },
    InsertText { at: usize, text: String },
    Truncate { at: usize },
    Duplicate { at: usize, len: usize },
}

fn arb_byte_op() -> impl Strategy<Value = ByteOp> {
    let idx = any::<usize>();
    prop_oneof![
        (idx, 1u8..=255).prop_map(|(at, bits)| ByteOp::Flip { at, bits }),
        (idx, 1usize..16).prop_map(|(at, len)| ByteOp::Delete { at, len }),
        (idx, prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| ByteOp::Insert { at, bytes }),
        (
            idx,
            prop_oneof![
                Just("\"".to_string()),
                Just(",".to_string()),
                Just("}".to_string()),
                Just("]".to_string()),
                Just("\\u0000".to_string()),
                Just("\\ud800".to_string()),
                Just("1e400".to_string()),
                arb_string()
            ]
        )
            .prop_map(|(at, text)| ByteOp::InsertText { at, text }),
        idx.prop_map(|at| ByteOp::Truncate { at }),
        (idx, 1usize..64).prop_map(|(at, len)| ByteOp::Duplicate { at, len }),
    ]
}

fn damage(bytes: &mut Vec<u8>, op: &ByteOp) {
    let n = bytes.len();
    match op {
        ByteOp::Flip { at, bits } if n > 0 => bytes[at % n] ^= bits,
        ByteOp::Delete { at, len } if n > 0 => {
            let start = at % n;
            let end = (start + len).min(n);
            bytes.drain(start..end);
        }
        ByteOp::Insert { at, bytes: b } => {
            let pos = at % (n + 1);
            bytes.splice(pos..pos, b.iter().copied());
        }
        ByteOp::InsertText { at, text } => {
            let pos = at % (n + 1);
            bytes.splice(pos..pos, text.bytes());
        }
        ByteOp::Truncate { at } => bytes.truncate(at % (n + 1)),
        ByteOp::Duplicate { at, len } if n > 0 => {
            let start = at % n;
            let chunk: Vec<u8> = bytes[start..(start + len).min(n)].to_vec();
            bytes.splice(start..start, chunk);
        }
        _ => {}
    }
}

/// Text that is not JSON at all, or JSON nested far deeper than any event.
fn arb_raw_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(any::<u8>(), 0..512).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        2 => prop::collection::vec(any::<char>(), 0..256).prop_map(|cs| cs.into_iter().collect::<String>()),
        1 => (prop::sample::select(&["[", "{\"a\":", "{\"Records\":[", "{\"detail-type\":\"x\",\"id\":\"i\",\"detail\":", "\""][..]), 1usize..20_000)
            .prop_map(|(open, depth)| open.repeat(depth)),
        1 => "[ -~\n\t]{0,200}",
    ]
}

// ---------------------------------------------------------------------------------------------
// The tests (their shares of AUTOHEAL_FUZZ_CASES add up to ten tenths)
// ---------------------------------------------------------------------------------------------

#[test]
fn mutated_sample_events_never_panic_and_errors_are_one_line() {
    let cases = share(5);
    let tally = fuzz("mutated sample events", cases, arb_mutated(), |m, tally| {
        check_value(&build(&m), tally)
    });
    if cases >= 2_000 {
        // The mutations must leave enough intact to reach every trigger kind and the field-level
        // checks, not only the top-level rejections.
        for (i, n) in OK_NAMES.iter().enumerate() {
            assert!(
                tally.ok_count(i) > 0,
                "no mutated event parsed as {n}: {}",
                tally.summary()
            );
        }
        for (i, n) in ERR_NAMES.iter().enumerate().skip(1) {
            assert!(
                tally.err_count(i) > 0,
                "no mutated event was rejected as {n}: {}",
                tally.summary()
            );
        }
    }
}

#[test]
fn damaged_event_text_never_panics() {
    let strategy = (
        0..8usize,
        prop::bool::ANY,
        prop::collection::vec(arb_byte_op(), 1..5),
    );
    fuzz(
        "damaged event text",
        share(2),
        strategy,
        |(sample, pretty, ops), tally| {
            let v = &samples()[sample].1;
            let text = if pretty {
                serde_json::to_string_pretty(v).unwrap_or_default()
            } else {
                v.to_string()
            };
            let mut bytes = text.into_bytes();
            for op in &ops {
                damage(&mut bytes, op);
            }
            check_text(&String::from_utf8_lossy(&bytes), tally)
        },
    );
}

#[test]
fn random_json_values_never_panic() {
    // Half the objects get one of the keys intake dispatches on, so the shape parsers see them.
    let strategy = (
        arb_json(),
        prop::option::of((
            prop::sample::select(&["Records", "detail-type", "alarmData", "AlarmName"][..]),
            arb_json(),
        )),
    );
    fuzz(
        "random JSON values",
        share(2),
        strategy,
        |(mut v, key), tally| {
            if let (Value::Object(m), Some((k, x))) = (&mut v, key) {
                m.insert(k.to_string(), x);
                if k == "AlarmName" {
                    m.entry("NewStateValue").or_insert(json!("ALARM"));
                }
            }
            check_value(&v, tally)
        },
    );
}

#[test]
fn random_bytes_never_panic() {
    fuzz("random bytes", share(1), arb_raw_text(), |text, tally| {
        check_text(&text, tally)
    });
}

#[test]
fn the_generators_start_from_valid_samples() {
    // Sanity check of the harness itself: no ops, no wrap → every sample parses.
    for i in 0..8 {
        let v = build(&Mutated {
            sample: i,
            open_message: true,
            ops: vec![],
            wrap: None,
        });
        assert_eq!(v, samples()[i].1, "{}", samples()[i].0);
        parse(&v).unwrap_or_else(|e| panic!("{}: {e}", samples()[i].0));
        // Wrapped in SNS, EventBridge events keep parsing (the alarm notification samples do too).
        let w = SnsWrap {
            event_source: "aws:sns".into(),
            message_id: "m-1".into(),
            subject: None,
            own_report_attribute: false,
            records: 1,
        };
        let wrapped = wrap_sns(v.clone(), &w);
        if v.get("detail-type").is_some() {
            let a = parse(&v).unwrap().reference();
            let b = parse(&wrapped)
                .unwrap_or_else(|e| panic!("{} in SNS: {e}", samples()[i].0))
                .reference();
            assert_eq!((a.kind, a.id), (b.kind, b.id));
        }
    }
}
