//! `orbital`: run, replay, inspect and benchmark the Orbital data plane.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "orbital",
    version = orbital::version::LONG,
    about = "The Orbital OS networking data plane"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show how the data plane's parser sees every frame of a capture.
    Inspect {
        /// A pcap or pcapng file.
        file: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run the engine with capture files as its ports (deterministic).
    Replay(orbital::replay::ReplayArgs),
    /// Run the data plane as a daemon on real ports (AF_PACKET, TAP), with
    /// its API socket and optional Prometheus metrics.
    Run(orbital::daemon::RunArgs),
    /// A namespace lab: LAN host, router (orbital run), WAN host.
    Lab(orbital::lab::LabArgs),
    /// Benchmarks: `lpm` (route lookup), `forward` (the whole pipeline).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Build an LPM table and time bulk lookups (comparable with dpdk-test-fib).
    Lpm(orbital::bench::lpm::LpmArgs),
    /// Forward generated traffic through the whole pipeline in memory.
    Forward(orbital::bench::forward::ForwardArgs),
    /// Compile a ClassBench rule set and classify its trace (comparable with dpdk-test-acl).
    Classify(orbital::bench::classify::ClassifyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect { file, json } => orbital::inspect::inspect(&file).map(|s| {
            if json {
                orbital::outln!(
                    "{}",
                    serde_json::to_string_pretty(&s).expect("summary serialises")
                );
            } else {
                orbital::out!("{}", orbital::inspect::render_text(&s));
            }
        }),
        Command::Replay(args) => orbital::replay::run(&args).map(|_| ()),
        Command::Run(args) => orbital::daemon::run(&args),
        Command::Lab(args) => orbital::lab::run(&args),
        Command::Bench(BenchCommand::Lpm(args)) => orbital::bench::lpm::run(&args).map(|r| {
            if args.json {
                orbital::outln!(
                    "{}",
                    serde_json::to_string_pretty(&r).expect("report serialises")
                );
            } else {
                orbital::out!("{}", orbital::bench::lpm::render(&r));
            }
        }),
        Command::Bench(BenchCommand::Classify(args)) => {
            orbital::bench::classify::run(&args).map(|r| {
                if args.json {
                    orbital::outln!(
                        "{}",
                        serde_json::to_string_pretty(&r).expect("report serialises")
                    );
                } else {
                    orbital::out!("{}", orbital::bench::classify::render(&r));
                }
            })
        }
        Command::Bench(BenchCommand::Forward(args)) => {
            orbital::bench::forward::run(&args).map(|r| {
                if args.json {
                    orbital::outln!(
                        "{}",
                        serde_json::to_string_pretty(&r).expect("report serialises")
                    );
                } else {
                    orbital::out!("{}", orbital::bench::forward::render(&r));
                }
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            orbital::errln!("orbital: {e:#}");
            ExitCode::FAILURE
        }
    }
}
