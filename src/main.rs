//! The `tailings-atlas` command: parses the command line and dispatches to the subcommands in
//! [`cli`].

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    cli::init_tracing();
    cli::run(cli::Cli::parse())
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
