//! `drover mcp`: the MCP server over stdio for the configured fleet's running daemon; the
//! command line (which actions MCP clients may take) and start-up errors live here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::mcp::{self, McpOptions, tools::ACTIONS};

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Actions MCP clients may take, comma-separated: pause, resume, restart, block, unblock,
    /// extend. None by default: the tools only read.
    #[arg(long, value_delimiter = ',', value_name = "ACTIONS")]
    pub allow: Vec<String>,
    /// Control socket to use instead of the configured fleet's.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

/// The `--allow` list, checked against the actions that exist.
pub fn allowed(list: &[String]) -> anyhow::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for a in list.iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
        anyhow::ensure!(
            ACTIONS.contains(&a),
            "--allow {a}: no such action (known: {})",
            ACTIONS.join(", ")
        );
        out.insert(a.to_string());
    }
    Ok(out)
}

pub async fn mcp(args: McpArgs, config: Option<&Path>) -> anyhow::Result<()> {
    let allow = allowed(&args.allow)?;
    let socket = super::remote::socket(config, args.socket.as_deref())?;
    // With --socket alone there may be no config: the report tool then says so.
    let data_dir = super::remote::data_dir(config).ok();
    tracing::info!(socket = %socket.display(), ?allow, "MCP server on stdio");
    mcp::serve_stdio(McpOptions {
        socket,
        data_dir,
        allow,
    })
    .await
    .context("drover mcp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_names_known_actions_only() {
        let ok = allowed(&["pause".into(), " resume".into()]).unwrap();
        assert_eq!(ok.len(), 2);
        let err = allowed(&["rm".into()]).unwrap_err().to_string();
        assert!(err.contains("no such action"), "{err}");
    }
}
