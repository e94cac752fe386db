//! Progress for long jobs (imports, embedding a catalog, training), shared by every domain that runs one.
//! On a terminal it is a bar (indicatif); otherwise (a log file, a service, a pipe) a plain line at most every
//! few seconds (`embeddings: 400/1585 (25%), 12.3/s, about 95 s left`), so a long job is never silent. A job run
//! inside [`watched`] also reports its stage to a [`Watch`] that a staff page polls.
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::cell::RefCell;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a job is now: the stage ("products", "embeddings", "events") and how far through it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stage {
    pub what: String,
    pub done: u64,
    pub total: u64,
}

/// A job's latest stage, shared with whoever watches it.
#[derive(Debug, Default)]
pub struct Watch(Mutex<Stage>);

impl Watch {
    pub fn stage(&self) -> Stage {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut Stage)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

thread_local! {
    static WATCHED: RefCell<Option<Arc<Watch>>> = const { RefCell::new(None) };
}

/// Runs `f` with every progress made on this thread reported to `watch` too.
pub fn watched<T>(watch: Arc<Watch>, f: impl FnOnce() -> T) -> T {
    let before = WATCHED.with(|w| w.replace(Some(watch)));
    let out = f();
    WATCHED.with(|w| *w.borrow_mut() = before);
    out
}

/// How often a plain progress line is printed.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// A job of `len` steps, shown as a bar on a terminal and as plain lines elsewhere.
pub struct Progress {
    bar: Option<ProgressBar>,
    plain: Option<Mutex<Plain>>,
    watch: Option<Arc<Watch>>,
}

struct Plain {
    what: String,
    /// The latest message (a loss, a stage), shown after the counts.
    note: String,
    len: u64,
    pos: u64,
    started: Instant,
    last: Instant,
}

/// A bar of `len` steps labelled `what` (plain lines on stderr when it is not a terminal).
pub fn progress(len: u64, what: &str) -> Progress {
    let mut p = progress_to(len, what, std::io::stderr().is_terminal());
    p.watch = WATCHED.with(|w| w.borrow().clone());
    if let Some(w) = &p.watch {
        w.update(|s| *s = Stage { what: what.to_string(), done: 0, total: len });
    }
    p
}

fn progress_to(len: u64, what: &str, terminal: bool) -> Progress {
    if terminal {
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} ({per_sec}, {eta})")
                .expect("valid progress template")
                .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        return Progress { bar: Some(bar), plain: None, watch: None };
    }
    let now = Instant::now();
    let plain = Plain { what: what.to_string(), note: String::new(), len, pos: 0, started: now, last: now };
    Progress { bar: None, plain: Some(Mutex::new(plain)), watch: None }
}

impl Plain {
    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = self.pos as f64 / secs;
        let mut line = format!("{}: {}/{}", self.what, self.pos, self.len);
        if self.len > 0 {
            line += &format!(" ({:.0}%)", 100.0 * self.pos as f64 / self.len as f64);
        }
        line += &format!(", {rate:.1}/s");
        if rate > 0.0 && self.pos < self.len {
            line += &format!(", about {:.0} s left", (self.len - self.pos) as f64 / rate);
        }
        if !self.note.is_empty() {
            line += &format!(" ({})", self.note);
        }
        line
    }

    fn moved(&mut self, pos: u64) -> Option<String> {
        self.pos = pos;
        (self.last.elapsed() >= PLAIN_EVERY).then(|| {
            self.last = Instant::now();
            self.line()
        })
    }
}

impl Progress {
    fn plain(&self, f: impl FnOnce(&mut Plain) -> Option<String>) {
        if let Some(p) = &self.plain {
            let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(line) = f(&mut p) {
                eprintln!("{line}");
            }
        }
    }

    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
        if let Some(w) = &self.watch {
            w.update(|s| s.done += n);
        }
        self.plain(|p| {
            let pos = p.pos + n;
            p.moved(pos)
        });
    }

    pub fn set_position(&self, pos: u64) {
        if let Some(b) = &self.bar {
            b.set_position(pos);
        }
        if let Some(w) = &self.watch {
            w.update(|s| s.done = pos);
        }
        self.plain(|p| p.moved(pos));
    }

    /// A message beside the counts (on a bar it replaces the label).
    pub fn set_message(&self, note: impl Into<String>) {
        let note = note.into();
        if let Some(b) = &self.bar {
            b.set_message(note.clone());
        }
        self.plain(|p| {
            p.note = note;
            None
        });
    }

    /// Ends the job: the bar disappears; a plain job that ran long enough to print says it finished.
    pub fn finish_and_clear(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        if let Some(w) = &self.watch {
            w.update(|s| s.done = s.total);
        }
        self.plain(|p| {
            (p.last > p.started)
                .then(|| format!("{}: done, {} in {:.1} s", p.what, p.pos, p.started.elapsed().as_secs_f64()))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_says_how_far_how_fast_and_how_long_is_left() {
        let p = progress_to(1585, "embeddings", false);
        let plain = p.plain.as_ref().unwrap();
        {
            let mut pl = plain.lock().unwrap();
            pl.started = Instant::now() - Duration::from_secs(10);
            pl.last = Instant::now() - PLAIN_EVERY;
            let line = pl.moved(400).expect("a line once the interval passed");
            assert!(line.starts_with("embeddings: 400/1585 (25%), 40"), "{line}");
            assert!(line.contains("about 30 s left"), "{line}");
            assert!(pl.moved(401).is_none(), "at most one line per interval");
        }
        assert!(p.bar.is_none());
        assert!(progress_to(5, "rows", true).plain.is_none(), "a terminal gets the bar");
    }

    #[test]
    fn a_watched_job_reports_its_stage_and_count() {
        let watch = Arc::new(Watch::default());
        watched(watch.clone(), || {
            let p = progress(10, "products");
            p.inc(4);
            assert_eq!(watch.stage(), Stage { what: "products".into(), done: 4, total: 10 });
            let q = progress(3, "embeddings");
            q.set_position(2);
            assert_eq!(watch.stage(), Stage { what: "embeddings".into(), done: 2, total: 3 });
        });
        progress(5, "elsewhere").inc(1);
        assert_eq!(watch.stage().what, "embeddings", "progress outside the watched call is not reported");
    }
}
