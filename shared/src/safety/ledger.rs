//! The audit ledger: Autoheal's durable memory, in an S3 prefix of the ViewerAtlas bucket.
//!
//! Why S3 and not DynamoDB: the bucket already exists, S3 now applies `If-None-Match: *` and
//! `If-Match: <etag>` atomically (so claims and read-modify-write updates are safe across
//! concurrent invocations), it needs no new table, no extra SDK crate and no capacity settings, and
//! the records are plain JSON an engineer can read with `aws s3 cp`. The price is a few ms more per
//! write and no query language; Autoheal reads only keys it can name.
//!
//! Layout under `AUTOHEAL_LEDGER_PREFIX` (default `autoheal/`):
//! - `claims/<change>--<action>--<target>.json`: one per (change, action, target): whoever creates
//!   it acts; copies find it.
//! - `targets/<target>.json`: per-target history for cooldowns, caps and loop detection.
//! - `schedules/<rule>.json`: consecutive failed runs, and whether Autoheal disabled the rule.
//! - `decisions/YYYY/MM/DD/<epoch-ms>-<trigger>-<seq>-<nanos>-<pid>.json`: every decision, with its
//!   evidence.
//! - `known-good/<cluster>_<service>.json`: the revision last seen passing every check.
//!
//! Names are made safe with [`safe_key`] ('/' and other characters become '_').

use aws_sdk_s3::primitives::ByteStream;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::aws::{describe_error, is_transient};
use crate::clock::{civil_date, rfc3339};
use crate::deps::Deps;
use crate::safety::actions::{ActionSpec, Intent};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {op} s3://{bucket}/{key}: {detail}")]
    S3 {
        op: &'static str,
        bucket: String,
        key: String,
        detail: String,
        /// A timeout, a dropped connection or a 5xx: the request may or may not have taken effect,
        /// and trying again may succeed. Anything else (access denied, no such bucket) will not.
        transient: bool,
    },
    #[error("ledger record s3://{bucket}/{key} is unreadable: {detail}")]
    Corrupt {
        bucket: String,
        key: String,
        detail: String,
    },
    #[error("ledger record s3://{bucket}/{key} kept changing under concurrent writers; gave up after {tries} tries")]
    Contended {
        bucket: String,
        key: String,
        tries: u32,
    },
}

impl LedgerError {
    /// Worth another try: S3 was slow or failing, not refusing.
    pub fn is_transient(&self) -> bool {
        match self {
            LedgerError::S3 { transient, .. } => *transient,
            LedgerError::Contended { .. } => true,
            LedgerError::Corrupt { .. } => false,
        }
    }
}

/// A record and the ETag it was read with, for a later `If-Match` write.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub value: T,
    pub etag: String,
    /// S3's `LastModified` of this version (epoch seconds): when it was written, by S3's clock.
    pub last_modified: Option<i64>,
    /// The token of the write that stored this version (see [`Ledger`]: own-write recognition).
    writer: Option<String>,
}

impl<T> Versioned<T> {
    fn written_by(&self, token: &str) -> bool {
        self.writer.as_deref() == Some(token)
    }
}

/// What a read-modify-write left stored: the value, and its ETag when known (for a later
/// `If-Match` write that need not read the record again).
#[derive(Debug, Clone)]
pub struct Upserted<T> {
    pub value: Option<T>,
    pub etag: Option<String>,
}

impl<T: Clone> Upserted<T> {
    fn written(value: T, etag: String) -> Self {
        Self {
            value: Some(value),
            etag: Some(etag),
        }
    }

    fn stored(v: &Versioned<T>) -> Self {
        Self {
            value: Some(v.value.clone()),
            etag: Some(v.etag.clone()),
        }
    }

    fn unchanged(v: Option<Versioned<T>>) -> Self {
        match v {
            Some(v) => Self {
                value: Some(v.value),
                etag: Some(v.etag),
            },
            None => Self {
                value: None,
                etag: None,
            },
        }
    }

    /// As a version read, for [`Ledger::upsert_from`]: `None` when the ETag is not known.
    pub fn versioned(self) -> Option<Option<Versioned<T>>> {
        match (self.value, self.etag) {
            (Some(value), Some(etag)) => Some(Some(Versioned {
                value,
                etag,
                last_modified: None,
                writer: None,
            })),
            (None, None) => Some(None),
            _ => None,
        }
    }
}

/// The result of trying to create a record that must exist at most once.
#[derive(Debug, Clone)]
pub enum Created<T> {
    Won(String),
    Exists(Versioned<T>),
}

/// The result of replacing the version one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaced {
    /// Written; the new ETag.
    Done(String),
    /// Someone else wrote the record after it was read: nothing was written.
    Superseded,
}

/// What S3 answered a conditional write.
enum Written {
    Yes(String),
    /// 412 (the condition failed) or 409 (a concurrent conditional write to the key).
    ConditionFailed,
}

/// How every record is stored: its own fields, plus the token of the write that stored it. A write
/// whose answer is lost (a timeout, a 500 after S3 applied it) is retried, by the SDK or by the
/// ledger, and then meets its own object: 412 for a create, a changed ETag for a replace. The
/// token tells "my earlier attempt landed" from "someone else wrote", so a claim is not mistaken
/// for another invocation's and a counter is not incremented twice.
#[derive(Serialize, Deserialize)]
struct Stored<T> {
    #[serde(flatten)]
    body: T,
    #[serde(rename = "_writer", default, skip_serializing_if = "Option::is_none")]
    writer: Option<String>,
}

/// A token no other write will carry: process, time and a counter, plus randomness so that two
/// containers with the same pid at the same nanosecond still differ.
fn write_token() -> String {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "{:x}-{:x}-{seq:x}-{:016x}",
        std::process::id(),
        crate::clock::now_millis(),
        fastrand::u64(..)
    )
}

/// How often the ledger tries one logical operation when S3 is slow, failing or contended, and how
/// long it waits in between (doubling). Each S3 call has its own SDK timeout and retries on top.
const MAX_TRIES: u32 = 6;
const FIRST_BACKOFF_MS: u64 = 100;

async fn backoff(try_no: u32) {
    let ms = FIRST_BACKOFF_MS << try_no.min(5);
    tokio::time::sleep(std::time::Duration::from_millis(ms + fastrand::u64(..=ms))).await;
}

/// Keys are built from event ids and names chosen by others: keep them to a safe alphabet.
pub fn safe_key(part: &str) -> String {
    let mut out: String = part
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.len() > 200 {
        // Long ids keep a readable head and a hash of the whole, so distinct ids stay distinct.
        let h = fnv1a(part);
        out.truncate(180);
        out.push_str(&format!("-{h:016x}"));
    }
    out
}

pub fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Deps {
    /// The audit ledger in the configured bucket and prefix (a handle; nothing is read yet).
    pub fn ledger(&self) -> Ledger {
        Ledger::new(
            self.aws.s3().clone(),
            &self.config.bucket,
            &self.config.ledger_prefix,
        )
    }
}

#[derive(Debug, Clone)]
pub struct Ledger {
    s3: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl Ledger {
    pub fn new(s3: aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Self {
        Self {
            s3,
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        }
    }

    pub fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}/{}.json", self.prefix, safe_key(name))
    }

    fn err(&self, op: &'static str, key: &str, detail: String, transient: bool) -> LedgerError {
        LedgerError::S3 {
            op,
            bucket: self.bucket.clone(),
            key: key.to_string(),
            detail,
            transient,
        }
    }

    /// The record's value, or the empty record when there is none yet.
    pub async fn value_or_default<T: DeserializeOwned + Default>(
        &self,
        key: &str,
    ) -> Result<T, LedgerError> {
        Ok(self
            .get::<T>(key)
            .await?
            .map(|v| v.value)
            .unwrap_or_default())
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<Versioned<T>>, LedgerError> {
        let out = match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                let d = describe_error(&e);
                if d.starts_with("NoSuchKey") || d.contains("NotFound") {
                    return Ok(None);
                }
                return Err(self.err("GetObject", key, d, is_transient(&e)));
            }
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        let last_modified = out.last_modified().map(|t| t.secs());
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| self.err("GetObject", key, format!("reading body: {e}"), true))?
            .into_bytes();
        let stored: Stored<T> =
            serde_json::from_slice(&bytes).map_err(|e| LedgerError::Corrupt {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                detail: e.to_string(),
            })?;
        Ok(Some(Versioned {
            value: stored.body,
            etag,
            last_modified,
            writer: stored.writer,
        }))
    }

    /// One conditional PUT: `None` means "must not exist yet", `Some(etag)` means "must still be
    /// the version I read".
    async fn write<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        token: &str,
        expect: Option<&str>,
    ) -> Result<Written, LedgerError> {
        let stored = Stored {
            body: value,
            writer: Some(token.to_string()),
        };
        let body = serde_json::to_vec_pretty(&stored)
            .map_err(|e| self.err("PutObject", key, e.to_string(), false))?;
        let mut req = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        req = match expect {
            None => req.if_none_match("*"),
            Some(etag) => req.if_match(etag),
        };
        match req.send().await {
            Ok(out) => Ok(Written::Yes(out.e_tag().unwrap_or_default().to_string())),
            Err(e) => {
                let d = describe_error(&e);
                if d.starts_with("PreconditionFailed") || d.contains("ConditionalRequestConflict") {
                    Ok(Written::ConditionFailed)
                } else {
                    Err(self.err("PutObject", key, d, is_transient(&e)))
                }
            }
        }
    }

    /// Creates the record unless it exists; exactly one of any number of concurrent callers wins.
    /// A write whose answer was lost is recognised by its token: the caller that made it wins.
    pub async fn create<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<Created<T>, LedgerError> {
        self.write_resolved(key, value, None, Created::Won, |found, token| match found {
            Some(v) if v.written_by(token) => Some(Created::Won(v.etag)),
            Some(v) => Some(Created::Exists(v)),
            // Not there (yet): a writer whose object is not readable yet, or our write failed.
            None => None,
        })
        .await
    }

    /// Replaces the version read with `etag`. `Superseded` when someone else wrote in between; a
    /// retried write that meets its own earlier attempt counts as done.
    pub async fn replace<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        value: &T,
        etag: &str,
    ) -> Result<Replaced, LedgerError> {
        self.write_resolved(key, value, Some(etag), Replaced::Done, |found, token| {
            match found {
                Some(v) if v.written_by(token) => Some(Replaced::Done(v.etag)),
                // Unchanged: the write did not land; try it again.
                Some(v) if v.etag == etag => None,
                _ => Some(Replaced::Superseded),
            }
        })
        .await
    }

    /// One conditional write, made certain: when S3 refuses the condition or the answer is lost,
    /// the record is read back and `resolve` says what happened (`None`: write again).
    async fn write_resolved<T, R>(
        &self,
        key: &str,
        value: &T,
        expect: Option<&str>,
        written: impl Fn(String) -> R,
        resolve: impl Fn(Option<Versioned<T>>, &str) -> Option<R>,
    ) -> Result<R, LedgerError>
    where
        T: Serialize + DeserializeOwned,
    {
        let token = write_token();
        let mut last_error = None;
        for try_no in 0..MAX_TRIES {
            if try_no > 0 {
                backoff(try_no - 1).await;
            }
            match self.write(key, value, &token, expect).await {
                Ok(Written::Yes(etag)) => return Ok(written(etag)),
                Ok(Written::ConditionFailed) => {}
                // The write may or may not have landed: reading the record tells.
                Err(e) if e.is_transient() => last_error = Some(e),
                Err(e) => return Err(e),
            }
            match self.get::<T>(key).await {
                Ok(found) => {
                    if let Some(r) = resolve(found, &token) {
                        return Ok(r);
                    }
                }
                Err(e) if e.is_transient() => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| self.contended(key)))
    }

    /// Read-modify-write with optimistic concurrency. `f` sees the latest version (or `None`) and
    /// returns the new one, or `None` when nothing needs writing; it is re-applied to the latest
    /// version until the conditional write succeeds. Returns what is stored afterwards. A retry
    /// that finds its own earlier write stops there, so `f` takes effect exactly once.
    pub async fn upsert<T, F>(&self, key: &str, f: F) -> Result<Option<T>, LedgerError>
    where
        T: Serialize + DeserializeOwned + Clone,
        F: FnMut(Option<&T>) -> Option<T>,
    {
        Ok(self.upsert_from(key, None, f).await?.value)
    }

    /// [`Ledger::upsert`] starting from a version already read (`read`: `Some(None)` when the
    /// record did not exist), so that the read can be made together with other calls. A stale
    /// version only costs a retry: the conditional write fails and the record is read again.
    pub async fn upsert_from<T, F>(
        &self,
        key: &str,
        mut read: Option<Option<Versioned<T>>>,
        mut f: F,
    ) -> Result<Upserted<T>, LedgerError>
    where
        T: Serialize + DeserializeOwned + Clone,
        F: FnMut(Option<&T>) -> Option<T>,
    {
        let token = write_token();
        let mut last_error = None;
        for try_no in 0..MAX_TRIES {
            let current = match read.take() {
                Some(r) => r,
                None => {
                    if try_no > 0 {
                        backoff(try_no - 1).await;
                    }
                    match self.get::<T>(key).await {
                        Ok(c) => c,
                        Err(e) if e.is_transient() => {
                            last_error = Some(e);
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            if let Some(c) = current.as_ref().filter(|c| c.written_by(&token)) {
                return Ok(Upserted::stored(c));
            }
            let Some(next) = f(current.as_ref().map(|c| &c.value)) else {
                return Ok(Upserted::unchanged(current));
            };
            let expect = current.as_ref().map(|c| c.etag.as_str());
            match self.write(key, &next, &token, expect).await {
                Ok(Written::Yes(etag)) => return Ok(Upserted::written(next, etag)),
                Ok(Written::ConditionFailed) => {}
                Err(e) if e.is_transient() => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| self.contended(key)))
    }

    /// [`Ledger::upsert`] for records with a natural empty value: `f` edits it in place.
    pub async fn update<T, F>(&self, key: &str, f: F) -> Result<T, LedgerError>
    where
        T: Serialize + DeserializeOwned + Default + Clone,
        F: FnMut(&mut T),
    {
        Ok(self
            .update_from(key, None, f)
            .await?
            .value
            .unwrap_or_default())
    }

    /// [`Ledger::update`] starting from a version already read (see [`Ledger::upsert_from`]).
    pub async fn update_from<T, F>(
        &self,
        key: &str,
        read: Option<Option<Versioned<T>>>,
        mut f: F,
    ) -> Result<Upserted<T>, LedgerError>
    where
        T: Serialize + DeserializeOwned + Default + Clone,
        F: FnMut(&mut T),
    {
        self.upsert_from::<T, _>(key, read, |current| {
            let mut value = current.cloned().unwrap_or_default();
            f(&mut value);
            Some(value)
        })
        .await
    }

    fn contended(&self, key: &str) -> LedgerError {
        LedgerError::Contended {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            tries: MAX_TRIES,
        }
    }

    /// The decision with this id (its record's name, which begins with its epoch milliseconds, so
    /// the day's folder is known without an index). `None` when there is none.
    pub async fn decision(&self, id: &str) -> Result<Option<Decision>, LedgerError> {
        let Some(key) = self.decision_key(id) else {
            return Ok(None);
        };
        Ok(self.get::<Decision>(&key).await?.map(|v| Decision {
            id: id.to_string(),
            ..v.value
        }))
    }

    /// Where the decision with this id is recorded; `None` for what cannot be a decision id.
    pub fn decision_key(&self, id: &str) -> Option<String> {
        let ms = id.split('-').next().and_then(|m| m.parse::<i64>().ok());
        let safe = !id.is_empty() && safe_key(id) == id;
        let (y, m, d) = civil_date(ms.filter(|_| safe)?.div_euclid(1000));
        Some(format!(
            "{}decisions/{y:04}/{m:02}/{d:02}/{id}.json",
            self.prefix
        ))
    }

    /// Appends one decision record; never overwrites (names are unique per run and sequence).
    pub async fn record_decision(&self, record: &Decision) -> Result<String, LedgerError> {
        let (y, m, d) = civil_date(record.at);
        let name = format!(
            "{}decisions/{y:04}/{m:02}/{d:02}/{}-{}-{}-{:09}-{}.json",
            self.prefix,
            record.at_ms,
            safe_key(&record.trigger_id),
            record.seq,
            crate::clock::now_nanos_part(),
            std::process::id()
        );
        match self.create(&name, record).await? {
            Created::Won(_) => Ok(name),
            Created::Exists(_) => Err(self.err(
                "PutObject",
                &name,
                "a decision record with this name already exists".into(),
                false,
            )),
        }
    }

    /// Decisions of the last `days` UTC days (today included), newest first.
    pub async fn recent_decisions(
        &self,
        now: i64,
        days: i64,
    ) -> Result<Vec<Decision>, LedgerError> {
        let mut out = Vec::new();
        for back in 0..days.max(1) {
            let (y, m, d) = civil_date(now - back * 86_400);
            let prefix = format!("{}decisions/{y:04}/{m:02}/{d:02}/", self.prefix);
            for k in self.list(&prefix).await? {
                if let Some(v) = self.get::<Decision>(&k).await? {
                    let id = decision_id(&k);
                    out.push(Decision { id, ..v.value });
                }
            }
        }
        out.sort_by(|a, b| b.at_ms.cmp(&a.at_ms).then(b.seq.cmp(&a.seq)));
        Ok(out)
    }

    /// The keys of every record of one kind (`targets`, `conversations`, …).
    pub async fn keys(&self, kind: &str) -> Result<Vec<String>, LedgerError> {
        self.list(&format!("{}{kind}/", self.prefix)).await
    }

    /// Every key under a prefix, all pages.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, LedgerError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    self.err(
                        "ListObjectsV2",
                        prefix,
                        describe_error(&e),
                        is_transient(&e),
                    )
                })?;
            out.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }
}

/// A decision's id, as `autoheal approve` takes it: its record's name (which starts with the
/// decision's epoch milliseconds, so [`Ledger::decision`] finds the record without an index).
pub fn decision_id(key: &str) -> String {
    let name = key.rsplit('/').next().unwrap_or(key);
    name.strip_suffix(".json").unwrap_or(name).to_string()
}

/// One line of the audit trail: what was decided about one intended action, and on what evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub at: i64,
    pub at_ms: i64,
    pub seq: u32,
    pub at_text: String,
    pub trigger_id: String,
    pub trigger_name: String,
    pub playbook: String,
    pub action: String,
    pub target: String,
    /// `done`, `planned`, `skipped` or `failed`, as in the report.
    pub status: String,
    pub reason: String,
    #[serde(default)]
    pub evidence: Vec<String>,
    #[serde(default)]
    pub result: Option<String>,
    /// The person behind an operator's command, and whether they forced or approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<crate::safety::operator::Operator>,
    /// Held by policy (report-only, the allow-list) or a pause: a human may approve it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approvable: bool,
    /// Its id (the record's name), filled in when read back; `autoheal approve` takes it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// What was intended and the action itself, so a held decision can be approved as recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ActionSpec>,
}

impl Decision {
    pub fn stamp(at_ms: i64) -> (i64, String) {
        (at_ms.div_euclid(1000), rfc3339(at_ms.div_euclid(1000)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_safe_and_distinct() {
        assert_eq!(safe_key("ecs-svc/4815:x y"), "ecs-svc_4815_x_y");
        let a = safe_key(&"a".repeat(300));
        let b = safe_key(&format!("{}b", "a".repeat(299)));
        assert!(a.len() <= 200 && a != b);
    }
}
