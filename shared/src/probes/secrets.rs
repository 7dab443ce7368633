//! The Twitch secrets: which spelling of an id names which secret, which services inject one, its
//! current version, and when either last changed. Values are never read here (see `twitch`).

use crate::aws::{describe_error, Aws, AwsError};
use crate::deps::Deps;

/// The Twitch secrets' values, held only to blank them out of text Autoheal reads (log lines,
/// error messages) before it goes into a report, a log or the ledger. It never prints them.
#[derive(Clone, Default)]
pub struct Redactor {
    values: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor([{} values])", self.values.len())
    }
}

impl Redactor {
    /// Values shorter than 6 characters are not secrets worth blanking (and would mangle text).
    pub fn of(values: impl IntoIterator<Item = String>) -> Self {
        let mut values: Vec<String> = values
            .into_iter()
            .flat_map(|v| {
                let bare = v.trim().trim_start_matches("oauth:").to_string();
                [v.trim().to_string(), bare]
            })
            .filter(|v| v.len() >= 6)
            .collect();
        // Longest first, so a value that contains another is blanked whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Self { values }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut s = text.to_string();
        for v in &self.values {
            if s.contains(v.as_str()) {
                s = s.replace(v.as_str(), "[REDACTED]");
            }
        }
        s
    }

    /// Reads both Twitch secrets' values. One that cannot be read is named in the second part
    /// (its value cannot appear in what Autoheal reads then only if it was never there).
    pub async fn read(deps: &Deps) -> (Self, Vec<String>) {
        let cfg = &deps.config;
        let (a, b) = tokio::join!(
            value(&deps.aws, &cfg.oauth_secret_id),
            value(&deps.aws, &cfg.client_id_secret_id)
        );
        let mut values = Vec::new();
        let mut problems = Vec::new();
        for r in [a, b] {
            match r {
                Ok(v) => values.push(v),
                Err(e) => problems.push(e),
            }
        }
        (Self::of(values), problems)
    }
}

/// A secret's current string value. The error names the secret, never a value.
pub(crate) async fn value(aws: &Aws, secret_id: &str) -> Result<String, String> {
    let out = aws
        .secrets()
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| format!("GetSecretValue {secret_id}: {}", describe_error(&e)))?;
    out.secret_string()
        .map(str::to_string)
        .ok_or_else(|| format!("{secret_id} holds no string value"))
}

/// The name inside any spelling of a secret id: a name, a partial ARN, or a full ARN whose name
/// carries Secrets Manager's random 6-character suffix.
pub fn secret_name_matches(id: &str, name: &str) -> bool {
    let resource = match id.split_once(":secret:") {
        Some((_, r)) => r,
        None => return id == name,
    };
    // ECS valueFrom may append `:json-key:version-stage:version-id`.
    let resource = resource.split(':').next().unwrap_or(resource);
    if resource == name {
        return true;
    }
    resource
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|suffix| {
            suffix.len() == 6 && suffix.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

/// Every ECS service in the cluster whose current task definition injects `secret`.
pub async fn services_using(
    aws: &Aws,
    cluster: &str,
    secret: &str,
) -> Result<Vec<(String, i32)>, String> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let page = aws
            .ecs()
            .list_services()
            .cluster(cluster)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| format!("ListServices {cluster}: {}", describe_error(&e)))?;
        arns.extend(page.service_arns().iter().cloned());
        match page.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    let mut services = Vec::new();
    for chunk in arns.chunks(10) {
        let svcs = aws
            .ecs()
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| format!("DescribeServices: {}", describe_error(&e)))?;
        for s in svcs.services() {
            if let Some(td) = s.task_definition() {
                let name = s.service_name().unwrap_or_default().to_string();
                services.push((name, s.desired_count(), td.to_string()));
            }
        }
    }
    // Every service's revision is described at once: one round trip, not one per service.
    let mut lookups = tokio::task::JoinSet::new();
    for (i, (_, _, td)) in services.iter().enumerate() {
        let (ecs, td) = (aws.ecs().clone(), td.clone());
        lookups.spawn(async move {
            let def = ecs
                .describe_task_definition()
                .task_definition(&td)
                .send()
                .await;
            (i, td, def)
        });
    }
    let mut uses = vec![false; services.len()];
    while let Some(joined) = lookups.join_next().await {
        let (i, td, def) = joined.map_err(|e| format!("DescribeTaskDefinition: {e}"))?;
        let def =
            def.map_err(|e| format!("DescribeTaskDefinition {td}: {}", describe_error(&e)))?;
        uses[i] = def.task_definition().is_some_and(|t| {
            t.container_definitions()
                .iter()
                .flat_map(|c| c.secrets())
                .any(|s| secret_name_matches(s.value_from(), secret))
        });
    }
    let mut out: Vec<(String, i32)> = services
        .into_iter()
        .zip(uses)
        .filter(|(_, uses)| *uses)
        .map(|((name, desired, _), _)| (name, desired))
        .collect();
    out.sort();
    Ok(out)
}

/// The version now labelled AWSCURRENT: the identity of "the change", so that UpdateSecret and the
/// RotationSucceeded that follows it count once.
pub async fn current_version(aws: &Aws, secret: &str) -> Result<Option<String>, AwsError> {
    let d = aws
        .secrets()
        .describe_secret()
        .secret_id(secret)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("DescribeSecret {secret}"), &e))?;
    Ok(d.version_ids_to_stages().and_then(|m| {
        m.iter()
            .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
            .map(|(v, _)| v.clone())
    }))
}

/// When either Twitch secret last changed (the newest of the two, with its name), and what is wrong
/// with them (missing, scheduled for deletion).
pub async fn secrets_state(deps: &Deps) -> (Option<(i64, String)>, Vec<String>) {
    let cfg = &deps.config;
    let mut newest: Option<(i64, String)> = None;
    let mut problems = Vec::new();
    // Both secrets are described at once: one round trip, not two.
    let describe = |name: &String| deps.aws.secrets().describe_secret().secret_id(name).send();
    let (oauth, client_id) = tokio::join!(
        describe(&cfg.oauth_secret_id),
        describe(&cfg.client_id_secret_id)
    );
    for (name, answer) in [
        (&cfg.oauth_secret_id, oauth),
        (&cfg.client_id_secret_id, client_id),
    ] {
        match answer {
            Ok(d) => {
                if d.deleted_date().is_some() {
                    problems.push(format!("{name} is scheduled for deletion"));
                }
                if let Some(t) = d.last_changed_date().map(|t| t.secs()) {
                    if newest.as_ref().is_none_or(|(n, _)| t > *n) {
                        newest = Some((t, name.clone()));
                    }
                }
            }
            Err(e) => problems.push(format!("{name}: {}", describe_error(&e))),
        }
    }
    (newest, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_ids_match_in_every_spelling() {
        let n = "vieweratlas/twitch/oauth_token";
        assert!(secret_name_matches(n, n));
        assert!(secret_name_matches(
            "arn:aws:secretsmanager:us-east-1:1:secret:vieweratlas/twitch/oauth_token",
            n
        ));
        assert!(secret_name_matches(
            "arn:aws:secretsmanager:us-east-1:1:secret:vieweratlas/twitch/oauth_token-Ab12Cd",
            n
        ));
        assert!(secret_name_matches("arn:aws:secretsmanager:us-east-1:1:secret:vieweratlas/twitch/oauth_token-Ab12Cd:token::", n));
        assert!(!secret_name_matches(
            "arn:aws:secretsmanager:us-east-1:1:secret:vieweratlas/twitch/oauth_token_v2-Ab12Cd",
            n
        ));
        assert!(!secret_name_matches(
            "arn:aws:secretsmanager:us-east-1:1:secret:vieweratlas/twitch/oauth_token-Ab12C",
            n
        ));
        assert!(!secret_name_matches("vieweratlas/twitch/client_id", n));
    }
}
