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

use crate::aws::describe_error;
use crate::clock::{civil_date, rfc3339};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {op} s3://{bucket}/{key}: {detail}")]
    S3 {
        op: &'static str,
        bucket: String,
        key: String,
        detail: String,
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

/// A record and the ETag it was read with, for a later `If-Match` write.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub value: T,
    pub etag: String,
}

/// The result of trying to create a record that must exist at most once.
#[derive(Debug, Clone)]
pub enum Created<T> {
    Won(String),
    Exists(Versioned<T>),
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

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[derive(Debug, Clone)]
pub struct Ledger {
    s3: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

/// How often a read-modify-write retries when another writer got there first.
const MAX_TRIES: u32 = 8;

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

    fn err(&self, op: &'static str, key: &str, detail: String) -> LedgerError {
        LedgerError::S3 {
            op,
            bucket: self.bucket.clone(),
            key: key.to_string(),
            detail,
        }
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
                return Err(self.err("GetObject", key, d));
            }
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| self.err("GetObject", key, format!("reading body: {e}")))?
            .into_bytes();
        let value = serde_json::from_slice(&bytes).map_err(|e| LedgerError::Corrupt {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            detail: e.to_string(),
        })?;
        Ok(Some(Versioned { value, etag }))
    }

    /// Writes `value` only if `expect` holds: `None` means "must not exist yet", `Some(etag)` means
    /// "must still be the version I read". `Ok(false)` when the condition failed.
    pub async fn put_if<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        expect: Option<&str>,
    ) -> Result<Option<String>, LedgerError> {
        let body = serde_json::to_vec_pretty(value)
            .map_err(|e| self.err("PutObject", key, e.to_string()))?;
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
            Ok(out) => Ok(Some(out.e_tag().unwrap_or_default().to_string())),
            Err(e) => {
                let d = describe_error(&e);
                // 412: someone else wrote first. 409: a concurrent conditional write is in flight.
                if d.starts_with("PreconditionFailed") || d.contains("ConditionalRequestConflict") {
                    Ok(None)
                } else {
                    Err(self.err("PutObject", key, d))
                }
            }
        }
    }

    /// Creates the record unless it exists; exactly one of any number of concurrent callers wins.
    pub async fn create<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<Created<T>, LedgerError> {
        for _ in 0..MAX_TRIES {
            if let Some(etag) = self.put_if(key, value, None).await? {
                return Ok(Created::Won(etag));
            }
            if let Some(existing) = self.get(key).await? {
                return Ok(Created::Exists(existing));
            }
            // Lost the race to a writer whose object is not yet readable; try again.
        }
        Err(LedgerError::Contended {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            tries: MAX_TRIES,
        })
    }

    /// Read-modify-write with optimistic concurrency: `f` is re-applied to the latest version
    /// until the conditional write succeeds.
    pub async fn update<T, F>(&self, key: &str, mut f: F) -> Result<T, LedgerError>
    where
        T: Serialize + DeserializeOwned + Default,
        F: FnMut(&mut T),
    {
        for _ in 0..MAX_TRIES {
            let current = self.get::<T>(key).await?;
            let (mut value, etag) = match current {
                Some(v) => (v.value, Some(v.etag)),
                None => (T::default(), None),
            };
            f(&mut value);
            if self.put_if(key, &value, etag.as_deref()).await?.is_some() {
                return Ok(value);
            }
        }
        Err(LedgerError::Contended {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            tries: MAX_TRIES,
        })
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
        match self.put_if(&name, record, None).await? {
            Some(_) => Ok(name),
            None => Err(self.err(
                "PutObject",
                &name,
                "a decision record with this name already exists".into(),
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
            let mut token = None;
            loop {
                let page = self
                    .s3
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(&prefix)
                    .set_continuation_token(token.take())
                    .send()
                    .await
                    .map_err(|e| self.err("ListObjectsV2", &prefix, describe_error(&e)))?;
                for o in page.contents() {
                    if let Some(k) = o.key() {
                        if let Some(v) = self.get::<Decision>(k).await? {
                            out.push(v.value);
                        }
                    }
                }
                match page.next_continuation_token() {
                    Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        out.sort_by(|a, b| b.at_ms.cmp(&a.at_ms).then(b.seq.cmp(&a.seq)));
        Ok(out)
    }
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
