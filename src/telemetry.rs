//! Tracing set-up: `RUST_LOG` wins, otherwise `info` (or `debug` with `-v`).
use tracing_subscriber::EnvFilter;

pub fn init(verbose: bool) {
    let default = if verbose { "aisle=debug,info" } else { "aisle=info,warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // A second init (tests start several apps in one process) is harmless.
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).try_init();
}
