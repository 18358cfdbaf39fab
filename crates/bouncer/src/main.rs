//! `bouncer`: see `bouncer --help`.

use std::process::ExitCode;

use bouncer::cli::{Cli, Command, ConfigCommand, run};
use bouncer::config::Config;
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let file = match &cli.command {
        Command::Config(ConfigCommand::Check { file: Some(f) }) => Some(f.clone()),
        _ => cli.config.clone(),
    };
    let config = match Config::load(file.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bouncer: {e}");
            return ExitCode::from(2);
        }
    };
    if matches!(cli.command, Command::Serve | Command::Migrate) {
        bouncer::logging::init(&config);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bouncer: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bouncer: {e}");
            ExitCode::FAILURE
        }
    }
}
