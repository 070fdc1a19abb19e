//! `pulse-analyzer alerts`: the on-call view from a shell.
//!
//! Listing reads the history database directly, so it works whether or not the analyzer
//! runs (and over SSH on the host). Acknowledging and resolving go through the running
//! analyzer's API: its engine owns the alert state (group timers, escalation), and a write
//! behind its back would be undone or repeated by it.

use std::io::{self, Write};
use std::path::Path;

use crate::alerting::store::{AlertFilter, AlertStore, AlertStoreError};
use crate::alerting::{AlertState, Severity};

#[derive(Debug, thiserror::Error)]
pub enum AlertsCliError {
    #[error("{0}")]
    Store(#[from] AlertStoreError),
    #[error("no history at {} (has the analyzer run yet?)", .0.display())]
    NoDatabase(std::path::PathBuf),
    #[error("--{flag}: unknown value {value:?}")]
    BadValue { flag: &'static str, value: String },
    #[error("writing the output: {0}")]
    Output(#[from] io::Error),
    #[error("{url}: {message}")]
    Api { url: String, message: String },
    #[error(
        "acknowledging or resolving needs the write token (web.write_token_file in the config)"
    )]
    NoToken,
}

/// Parses a comma-separated list of values with `parse`, naming the flag on failure.
pub fn parse_list<T>(
    flag: &'static str,
    text: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, AlertsCliError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            parse(s).ok_or_else(|| AlertsCliError::BadValue {
                flag,
                value: s.to_owned(),
            })
        })
        .collect()
}

/// Writes the alerts matching `state` and `severity` (comma-separated lists), newest first,
/// as an aligned table or as JSON.
pub fn list(
    db: &Path,
    state: Option<&str>,
    severity: Option<&str>,
    limit: usize,
    json: bool,
    out: &mut impl Write,
) -> Result<(), AlertsCliError> {
    let filter = AlertFilter {
        severity: parse_list("severity", severity, Severity::parse)?,
        state: parse_list("state", state, AlertState::parse)?,
        start: None,
        end: None,
        limit,
    };
    if !db.exists() {
        return Err(AlertsCliError::NoDatabase(db.to_owned()));
    }
    let (alerts, truncated) = AlertStore::open(db)?.alerts(&filter)?;
    if json {
        let body = serde_json::json!({"alerts": alerts, "truncated": truncated});
        writeln!(out, "{body}")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:>5}  {:<12}  {:<9}  {:<28}  SUMMARY",
        "ID", "STATE", "SEVERITY", "NAME"
    )?;
    for alert in &alerts {
        writeln!(
            out,
            "{:>5}  {:<12}  {:<9}  {:<28}  {}",
            alert.id,
            alert.state.as_str(),
            alert.severity.as_str(),
            alert.name,
            alert.summary
        )?;
    }
    if truncated {
        writeln!(out, "(more: raise --limit)")?;
    }
    Ok(())
}

/// `acknowledge` or `resolve` alert `id` through the analyzer at `base_url`.
pub async fn act(
    base_url: &str,
    token: Option<&str>,
    action: &str,
    id: i64,
    by: &str,
) -> Result<serde_json::Value, AlertsCliError> {
    let token = token.ok_or(AlertsCliError::NoToken)?;
    let url = format!(
        "{}/api/v1/alerts/{id}/{action}",
        base_url.trim_end_matches('/')
    );
    let api = |message: String| AlertsCliError::Api {
        url: url.clone(),
        message,
    };
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(token)
        .json(&serde_json::json!({ "by": by }))
        .send()
        .await
        .map_err(|e| api(e.to_string()))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.map_err(|e| api(e.to_string()))?;
    if !status.is_success() {
        let reason = body["error"].as_str().unwrap_or("request failed");
        return Err(api(format!("{status}: {reason}")));
    }
    Ok(body["alert"].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_name_the_flag_and_value_they_reject() {
        let states = parse_list("state", Some("firing, acknowledged"), AlertState::parse).unwrap();
        assert_eq!(states, [AlertState::Firing, AlertState::Acknowledged]);
        let err = parse_list("severity", Some("P1,loud"), Severity::parse).unwrap_err();
        assert_eq!(err.to_string(), "--severity: unknown value \"loud\"");
    }

    #[test]
    fn missing_database_is_named() {
        let err = list(
            Path::new("/nonexistent/h.db"),
            None,
            None,
            10,
            false,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no history at /nonexistent/h.db (has the analyzer run yet?)"
        );
    }
}
