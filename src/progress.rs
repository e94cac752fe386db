//! Progress bars for long jobs (imports, embedding a catalog, training), shared by every domain that runs one.
use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps labelled `what`.
pub fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} ({per_sec}, {eta})")
            .expect("valid progress template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}
