//! The `aisle` binary: parse the command line, start tracing, hand over to the library.
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = aisle::cli::Cli::parse();
    aisle::telemetry::init(cli.verbose);
    aisle::cli::run(cli)
}
