//! `orbctl`: control and inspect a running `orbital run` (see `orbital::ctl`).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let a = orbital::ctl::CtlArgs::parse();
    match orbital::ctl::main_with(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            orbital::errln!("orbctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}
