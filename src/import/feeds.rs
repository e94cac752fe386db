//! Feeds: a file the shop publishes at an address (a Merchant Center feed, a nightly products export), fetched and
//! imported on a schedule while the server runs. Kept in the store's settings; an admin adds and removes them on
//! the staff Import page or through `/api/feeds`.
use super::jobs::Format;
use super::ImportError;
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::Path;

const SETTING: &str = "feeds";
/// The shortest schedule: a feed is a file, not a stream.
pub const MIN_EVERY_MINUTES: u64 = 5;
/// How long a fetch may take in all.
const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Feed {
    /// 1-64 letters, digits, '-' or '_'.
    pub name: String,
    /// http(s) address of the file.
    pub url: String,
    pub format: Format,
    /// Minutes between fetches (0: only when asked).
    pub every_minutes: u64,
    /// The shop's own column names (`COLUMN=FIELD`), as `--map`.
    #[serde(default)]
    pub map: Vec<String>,
    #[serde(default)]
    pub keep_going: bool,
    /// When it was last fetched (seconds since the epoch) and the job that did it.
    #[serde(default)]
    pub last_run: Option<u64>,
    #[serde(default)]
    pub last_job: Option<String>,
}

impl Feed {
    /// What is wrong with the feed as given, if anything.
    pub fn problem(&self) -> Option<String> {
        let name_ok = (1..=64).contains(&self.name.len())
            && self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Some("a feed's name is 1-64 letters, digits, '-' or '_'".into());
        }
        let url_ok = ["http://", "https://"].iter().any(|s| self.url.to_ascii_lowercase().starts_with(s));
        if !url_ok || self.url.len() > 2000 || self.url.chars().any(char::is_whitespace) {
            return Some(format!("{:?} is not an http(s) address", self.url));
        }
        if self.every_minutes != 0 && self.every_minutes < MIN_EVERY_MINUTES {
            return Some(format!("a feed is fetched at most every {MIN_EVERY_MINUTES} minutes (0: only when asked)"));
        }
        super::ColumnMap::parse(&self.map).err().map(|e| e.to_string())
    }

    /// Whether its schedule says fetch now.
    pub fn due(&self, now: u64) -> bool {
        self.every_minutes > 0 && self.last_run.is_none_or(|t| now >= t + self.every_minutes * 60)
    }
}

pub fn list(store: &Store) -> Result<Vec<Feed>, StoreError> {
    Ok(store.setting::<Vec<Feed>>(SETTING)?.unwrap_or_default())
}

/// Adds or replaces a feed (by name), keeping when it last ran. Returns whether it existed.
pub fn put(store: &Store, mut feed: Feed) -> Result<bool, StoreError> {
    let mut all = list(store)?;
    let old = all.iter().position(|f| f.name == feed.name);
    if let Some(i) = old {
        let was = all.remove(i);
        (feed.last_run, feed.last_job) = (was.last_run, was.last_job);
    }
    all.push(feed);
    all.sort_by(|a, b| a.name.cmp(&b.name));
    store.put_setting(SETTING, &all)?;
    Ok(old.is_some())
}

/// Removes a feed; whether there was one.
pub fn remove(store: &Store, name: &str) -> Result<bool, StoreError> {
    let mut all = list(store)?;
    let before = all.len();
    all.retain(|f| f.name != name);
    store.put_setting(SETTING, &all)?;
    Ok(all.len() < before)
}

/// Records that a feed was fetched now, by `job`.
pub fn ran(store: &Store, name: &str, job: &str) -> Result<(), StoreError> {
    let mut all = list(store)?;
    if let Some(f) = all.iter_mut().find(|f| f.name == name) {
        (f.last_run, f.last_job) = (Some(crate::session::now()), Some(job.to_string()));
    }
    store.put_setting(SETTING, &all)
}

/// Downloads `url` into `dest` (at most `max` bytes); the file's first bytes, to tell its kind by.
pub fn fetch(url: &str, dest: &Path, max: u64) -> Result<Vec<u8>, ImportError> {
    let failed = |message: String| ImportError::Format { path: url.to_string(), message };
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(FETCH_TIMEOUT)).http_status_as_error(false).build().into();
    let mut resp = agent.get(url).call().map_err(|e| failed(format!("could not fetch it: {e}")))?;
    if !resp.status().is_success() {
        return Err(failed(format!("fetching it answered HTTP {}", resp.status())));
    }
    let len: u64 = resp.headers().get("content-length").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
    if len > max {
        return Err(failed(format!("it is {len} bytes, more than the {max} an import takes")));
    }
    let bar = crate::progress::progress(len, "download");
    let io = |source| ImportError::Open { path: dest.display().to_string(), source };
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut out = std::fs::File::create(dest).map_err(io)?;
    let mut reader = resp.body_mut().with_config().limit(max + 1).reader();
    let mut copy = || -> Result<Vec<u8>, ImportError> {
        let (mut head, mut total, mut buf) = (Vec::new(), 0u64, vec![0u8; 1 << 16]);
        loop {
            let n = reader.read(&mut buf).map_err(|e| failed(format!("reading it: {e}")))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > max {
                return Err(failed(format!("it is more than the {max} bytes an import takes")));
            }
            if head.len() < 512 {
                head.extend_from_slice(&buf[..n.min(512 - head.len())]);
            }
            out.write_all(&buf[..n]).map_err(io)?;
            bar.inc(n as u64);
        }
        out.sync_all().map_err(io)?;
        Ok(head)
    };
    let copied = copy();
    bar.finish_and_clear();
    if copied.is_err() {
        // no half-downloaded file is left behind
        let _ = std::fs::remove_file(dest);
    }
    copied
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(name: &str, url: &str, every: u64) -> Feed {
        Feed {
            name: name.into(),
            url: url.into(),
            format: Format::Merchant,
            every_minutes: every,
            map: vec![],
            keep_going: false,
            last_run: None,
            last_job: None,
        }
    }

    #[test]
    fn a_feed_is_checked_and_runs_on_its_schedule() {
        assert!(feed("ok_1", "https://shop.example/feed.xml", 60).problem().is_none());
        assert!(feed("bad name", "https://x.example/f", 60).problem().unwrap().contains("name"));
        assert!(feed("f", "file:///etc/passwd", 60).problem().unwrap().contains("http(s)"));
        assert!(feed("f", "https://x.example/f", 1).problem().unwrap().contains("5 minutes"));
        let mut f = feed("f", "https://x.example/f", 60);
        assert!(f.due(1_000_000), "never fetched: due");
        f.last_run = Some(1_000_000);
        assert!(!f.due(1_000_000 + 59 * 60));
        assert!(f.due(1_000_000 + 60 * 60));
        assert!(!feed("f", "https://x.example/f", 0).due(1_000_000), "0: only when asked");
    }

    #[test]
    fn feeds_are_kept_in_the_store_and_a_replaced_one_keeps_its_last_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(!put(&store, feed("a", "https://x.example/a", 60)).unwrap());
        ran(&store, "a", "job1").unwrap();
        assert!(put(&store, feed("a", "https://x.example/a2", 30)).unwrap());
        let all = list(&store).unwrap();
        assert_eq!(
            (all.len(), all[0].url.as_str(), all[0].last_job.as_deref()),
            (1, "https://x.example/a2", Some("job1"))
        );
        assert!(remove(&store, "a").unwrap());
        assert!(!remove(&store, "a").unwrap());
    }

    #[test]
    fn a_download_cut_short_leaves_no_file_behind() {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            // promises 100,000 bytes, sends 1,000, hangs up
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n").unwrap();
            conn.write_all(&[b'x'; 1000]).unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("uploads/feed.download");
        let err = fetch(&format!("http://127.0.0.1:{port}/feed.csv"), &dest, 1 << 20).unwrap_err();
        server.join().unwrap();
        assert!(err.to_string().contains("reading it"), "{err}");
        assert!(!dest.exists(), "the partial download was removed");
    }
}
