//! `drover status`: the fleet from the running daemon, as a table or as the documented JSON
//! view ([`crate::control::view::StatusView`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::remote::{self, RemoteFailure};
use crate::control::protocol::{Reply, Request};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The running fleet to talk to, by name (see `drover ls`), whatever config is around.
    #[arg(long, value_name = "NAME")]
    pub fleet: Option<String>,
    /// Print the documented JSON view instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Control socket to use instead of the configured fleet's.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

pub async fn status(args: StatusArgs, config: Option<&Path>) -> ExitCode {
    match run(&args, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drover status: {e:#}");
            e.code()
        }
    }
}

async fn run(args: &StatusArgs, config: Option<&Path>) -> Result<(), RemoteFailure> {
    let path = remote::socket(config, args.socket.as_deref())?;
    let (conn, _pushes) = remote::connect(&path, "status").await?;
    let view = match conn.call(Request::Status).await? {
        Reply::Status(v) => v,
        other => return Err(anyhow::anyhow!("unexpected reply {other:?}").into()),
    };
    if args.json {
        let mut value = serde_json::to_value(&view).map_err(anyhow::Error::from)?;
        // The daemon reads the board and masks it; an older daemon or a board not read in
        // time leaves the key out rather than failing the status.
        if let (Some(obj), Ok(Reply::Board(Some(board)))) =
            (value.as_object_mut(), conn.call(Request::Board).await)
        {
            obj.insert("board".into(), *board);
        }
        let text = serde_json::to_string_pretty(&value).map_err(anyhow::Error::from)?;
        println!("{text}");
    } else {
        print!("{}", view.to_text());
    }
    Ok(())
}
