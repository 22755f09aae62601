//! One module per group of docker commands.

pub mod build;
pub mod containers;
pub mod files;
pub mod images;
pub mod objects;
pub mod run;
pub mod stats;
pub mod system;

use crate::client::{CliError, Result};

/// Parses `-f key=value` filters into the API's JSON form.
pub fn filters_json(filters: &[String]) -> Result<Option<String>> {
    if filters.is_empty() {
        return Ok(None);
    }
    let mut map: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for f in filters {
        let (k, v) = f.split_once('=').ok_or_else(|| {
            CliError::Other(format!("bad format of filter (expected name=value): {f}"))
        })?;
        map.entry(k.to_string()).or_default().push(v.to_string());
    }
    Ok(Some(serde_json::to_string(&map)?))
}

/// Runs `f` for each name, printing what it returns, and reports every failure, as
/// docker does for `stop a b c`.
pub async fn for_each<F, Fut>(names: &[String], mut f: F) -> Result<i32>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>>>,
{
    let mut failed = false;
    for n in names {
        match f(n.clone()).await {
            Ok(Some(out)) => println!("{out}"),
            Ok(None) => {}
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// `GET /containers/{name}/json`.
pub async fn inspect_container(
    client: &crate::client::Client,
    name: &str,
) -> Result<serde_json::Value> {
    client
        .json(http::Method::GET, &format!("/containers/{name}/json"), None)
        .await
}
