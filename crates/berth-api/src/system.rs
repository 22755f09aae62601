//! `/version` and `/info`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Version {
    pub platform: serde_json::Value,
    pub components: Vec<serde_json::Value>,
    pub version: String,
    pub api_version: String,
    pub min_a_p_i_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub build_time: String,
}
