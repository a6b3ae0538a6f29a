//! `shadercam`: where did the classifier look? A thin command line over the library crates:
//! argument parsing, progress, printing and writing files. Exit codes: 0 all good (also when
//! stdout's reader went away, as with `| head`), 1 some input failed (the others still
//! produced their outputs), 2 usage error, 130 interrupted by Ctrl-C.
//!
//! Layout: `cli` (every flag), `commands/` (one module per subcommand), `run` (the batch
//! driver, progress bar and error reporting of `explain` and `classify`), `model` (loading the
//! checkpoint), `output` (stdout and the files written).

mod cli;
mod commands;
mod model;
mod output;
mod run;

use clap::Parser;
use cli::{Cli, Command, Usage};
use commands::{bench, classify, eval, explain, models, selftest};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    run::handle_ctrl_c();
    let result = match cli.command {
        Command::Explain(a) => explain::explain(a),
        Command::Classify(a) => classify::classify(a),
        Command::Eval(a) => eval::eval(a),
        Command::Bench(a) => bench::bench(a).map(|()| true),
        Command::Profile(a) => bench::profile(a).map(|()| true),
        Command::Models(a) => models::models(a),
        Command::Selftest(a) => selftest::selftest(a),
    };
    match result {
        _ if run::interrupted() => ExitCode::from(130),
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<Usage>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
