//! `drover mcp`: a Model Context Protocol server over stdio (the official `rmcp` SDK) that
//! reaches the running daemon through its control socket, exactly as `drover ctl` does.
//!
//! Invariants: read tools only read; an action tool is listed and runs only when `--allow`
//! named it, and anything else is refused here before the daemon is asked. Every action goes
//! through the control protocol's `command` request — the same path, idempotency and audit
//! as `drover ctl` — with `who = mcp:<client name>`. Each call opens its own connection, so a
//! daemon restart between calls costs nothing, and every wait is bounded (the control
//! client's deadlines, [`PUSH_WAIT`] for pushed frames). Stdout carries the protocol only.

pub mod tools;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler, ServiceExt};
use serde_json::{Value, json};

use crate::control::client::{ClientError, Connection};
use crate::control::protocol::{Reply, Request, ServerFrame, Subscription, audit_who};
use crate::core::{CommandReply, CommandRequest};

/// How long pushed frames (log tail, PROGRESS.md) are awaited after subscribing.
pub const PUSH_WAIT: Duration = Duration::from_secs(5);
/// A pause this long after the last tail line ends the tail (the daemon sends it in one go).
const TAIL_QUIET: Duration = Duration::from_millis(300);

/// What `drover mcp` was started with.
#[derive(Clone, Debug)]
pub struct McpOptions {
    pub socket: PathBuf,
    /// The fleet's data dir, for the store-only report; `None` when only a socket was given.
    pub data_dir: Option<PathBuf>,
    pub allow: BTreeSet<String>,
}

/// Why `drover mcp` stopped.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("the MCP session did not start: {0}")]
    Start(String),
    #[error("the MCP session ended with an error: {0}")]
    Run(String),
}

/// The MCP server handler.
pub struct DroverMcp {
    opts: McpOptions,
}

fn text(s: impl Into<String>) -> Vec<ContentBlock> {
    vec![ContentBlock::text(s)]
}

fn failed(s: impl Into<String>) -> Result<CallToolResult, ErrorData> {
    Ok(CallToolResult::error(text(s)))
}

fn json_result(v: &Value) -> Result<CallToolResult, ErrorData> {
    let body = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    Ok(CallToolResult::success(text(crate::secrets::mask_owned(
        body,
    ))))
}

impl DroverMcp {
    pub fn new(opts: McpOptions) -> Self {
        Self { opts }
    }

    async fn connect(&self) -> Result<Connection, ClientError> {
        Connection::open(&self.opts.socket, "mcp")
            .await
            .map(|(c, _)| c)
    }

    async fn call(&self, body: Request) -> Result<Reply, ClientError> {
        self.connect().await?.call(body).await
    }

    async fn run_tool(&self, name: &str, args: &JsonObject, who: String) -> CallResult {
        if tools::is_action(name) {
            if !self.opts.allow.contains(name) {
                return failed(format!(
                    "refused: `{name}` is not enabled for MCP clients (start `drover mcp --allow {name}`)"
                ));
            }
            return self.action(name, args, who).await;
        }
        match name {
            "fleet_status" => match self.call(Request::Status).await {
                Ok(Reply::Status(s)) => json_result(&json!(s)),
                other => unexpected(other),
            },
            "slot_detail" => self.slot_detail(args).await,
            "recent_events" => self.events(args).await,
            "log_tail" => self.log_tail(args).await,
            "locks" => match self.call(Request::Snapshot).await {
                Ok(Reply::Snapshot(s)) => json_result(&json!(s.locks)),
                other => unexpected(other),
            },
            "progress" => self.progress().await,
            "report" => self.report(args).await,
            _ => failed(format!("no tool named `{name}`")),
        }
    }

    async fn action(&self, name: &str, args: &JsonObject, who: String) -> CallResult {
        let (command, why) = match tools::command(name, args) {
            Ok(c) => c,
            Err(e) => return failed(format!("{name}: {e}")),
        };
        tracing::info!(tool = name, who, "MCP action");
        let req = CommandRequest { command, who, why };
        match self.call(Request::Command(req)).await {
            Ok(Reply::Command(reply)) => {
                let v = json!({"reply": reply});
                match reply {
                    CommandReply::Accepted | CommandReply::Unchanged => json_result(&v),
                    _ => Ok(CallToolResult::error(text(v.to_string()))),
                }
            }
            other => unexpected(other),
        }
    }

    async fn slot_detail(&self, args: &JsonObject) -> CallResult {
        let slot = match tools::string(args, "slot") {
            Ok(Some(s)) => s,
            Ok(None) => return failed("`slot` is required"),
            Err(e) => return failed(e.to_string()),
        };
        match self.call(Request::Snapshot).await {
            Ok(Reply::Snapshot(s)) => match s.slots.iter().find(|v| v.slot == slot) {
                Some(v) => json_result(&json!(v)),
                None => failed(format!("not found: no slot {slot}")),
            },
            other => unexpected(other),
        }
    }

    async fn events(&self, args: &JsonObject) -> CallResult {
        let (slot, limit) = match (tools::string(args, "slot"), tools::integer(args, "limit")) {
            (Ok(s), Ok(l)) => (s, l.unwrap_or(50).clamp(1, 500)),
            (Err(e), _) | (_, Err(e)) => return failed(e.to_string()),
        };
        let req = Request::Events {
            after_id: 0,
            since_ms: None,
            slot,
            limit: u32::try_from(limit).unwrap_or(500),
        };
        match self.call(req).await {
            Ok(Reply::Events(e)) => json_result(&json!(e)),
            other => unexpected(other),
        }
    }

    async fn log_tail(&self, args: &JsonObject) -> CallResult {
        let (slot, lines) = match (tools::string(args, "slot"), tools::integer(args, "lines")) {
            (Ok(Some(s)), Ok(l)) => (s, l.unwrap_or(100).clamp(1, 1000)),
            (Ok(None), _) => return failed("`slot` is required"),
            (Err(e), _) | (_, Err(e)) => return failed(e.to_string()),
        };
        let (conn, mut pushes) = match Connection::open(&self.opts.socket, "mcp").await {
            Ok(c) => c,
            Err(e) => return failed(e.to_string()),
        };
        let sub = Subscription {
            logs: true,
            log_tail: u32::try_from(lines).unwrap_or(1000),
            ..Subscription::default()
        };
        if let Err(e) = conn.call(Request::Subscribe(sub)).await {
            return failed(e.to_string());
        }
        let mut out: Vec<String> = Vec::new();
        let mut wait = PUSH_WAIT;
        while let Ok(Some(frame)) = tokio::time::timeout(wait, pushes.0.recv()).await {
            if let ServerFrame::Log(l) = frame
                && l.slot == slot
            {
                out.push(l.text);
            }
            wait = TAIL_QUIET;
        }
        let skip = out
            .len()
            .saturating_sub(usize::try_from(lines).unwrap_or(usize::MAX));
        let body = out[skip..].join("\n");
        Ok(CallToolResult::success(text(crate::secrets::mask_owned(
            body,
        ))))
    }

    async fn progress(&self) -> CallResult {
        let (conn, mut pushes) = match Connection::open(&self.opts.socket, "mcp").await {
            Ok(c) => c,
            Err(e) => return failed(e.to_string()),
        };
        let sub = Subscription {
            progress: true,
            ..Subscription::default()
        };
        if let Err(e) = conn.call(Request::Subscribe(sub)).await {
            return failed(e.to_string());
        }
        while let Ok(Some(frame)) = tokio::time::timeout(PUSH_WAIT, pushes.0.recv()).await {
            if let ServerFrame::Progress(p) = frame {
                return json_result(&json!(p));
            }
        }
        failed("the daemon sent no PROGRESS.md in time")
    }

    async fn report(&self, args: &JsonObject) -> CallResult {
        let Some(dir) = &self.opts.data_dir else {
            return failed(
                "the report reads the fleet's store: start `drover mcp` with the fleet's config",
            );
        };
        let since = match tools::string(args, "since") {
            Ok(s) => s.unwrap_or_else(|| "24h".into()),
            Err(e) => return failed(e.to_string()),
        };
        let window = match humantime::parse_duration(&since) {
            Ok(d) => d,
            Err(e) => return failed(format!("`since`: {since:?}: {e}")),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let from = now.saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
        let db = dir.join("drover.db");
        match crate::control::report::json_from_store(&db, from, now).await {
            Ok(v) => json_result(&v),
            Err(e) => failed(format!("reading {}: {e}", db.display())),
        }
    }
}

type CallResult = Result<CallToolResult, ErrorData>;

fn unexpected(r: Result<Reply, ClientError>) -> CallResult {
    match r {
        Ok(other) => failed(format!("unexpected reply from the daemon: {other:?}")),
        Err(e) => failed(e.to_string()),
    }
}

impl ServerHandler for DroverMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("drover", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Reads the state of a drover fleet (status, slots, events, logs, locks, \
                 PROGRESS.md, the report) and, where the operator allowed it, acts on slots.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::listed(
            &self.opts.allow,
        )))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        if !tools::exists(&name) {
            return Err(ErrorData::invalid_params(
                format!("no tool named `{name}`"),
                None,
            ));
        }
        let who = audit_who(context.client_info().as_ref().map(|i| i.name.as_str()));
        let args = request.arguments.unwrap_or_default();
        self.run_tool(&name, &args, who).await.map(Into::into)
    }
}

/// Serves MCP on stdin/stdout until the client closes it.
pub async fn serve_stdio(opts: McpOptions) -> Result<(), McpError> {
    let running = DroverMcp::new(opts)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| McpError::Start(e.to_string()))?;
    running
        .waiting()
        .await
        .map(|_| ())
        .map_err(|e| McpError::Run(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_names_the_client_and_nothing_else() {
        assert_eq!(audit_who(Some("claude-code")), "mcp:claude-code");
        assert_eq!(audit_who(Some("a b\n\"c")), "mcp:a_b__c");
        assert_eq!(audit_who(None), "mcp:unknown");
        assert_eq!(
            audit_who(Some(&"x".repeat(200))).len(),
            4 + crate::control::protocol::MAX_CLIENT_NAME
        );
    }
}
