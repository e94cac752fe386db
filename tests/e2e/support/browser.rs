//! Drives Debian's headless Chromium over the DevTools protocol (a WebSocket), so widget tests run in a real
//! browser: open a page, evaluate JavaScript, take a screenshot.
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    ws: super::Ws,
    session: String,
    next_id: u64,
}

pub fn chromium() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|b| {
        Command::new("which")
            .arg(b)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    })
}

impl Browser {
    /// Starts Chromium with a phone-sized window and opens `url`.
    pub async fn open(url: &str, width: u32, height: u32) -> Self {
        let bin = chromium().expect("chromium is installed (the test command installs Debian's chromium)");
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new(bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        let port_file = profile.path().join("DevToolsActivePort");
        let started = Instant::now();
        let text = loop {
            if let Ok(t) = std::fs::read_to_string(&port_file) {
                if t.lines().count() >= 2 {
                    break t;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(30), "chromium did not open its DevTools port");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let mut lines = text.lines();
        let (port, path) = (lines.next().unwrap().trim().to_string(), lines.next().unwrap().trim().to_string());
        let (ws, _) =
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}{path}")).await.expect("devtools connects");
        let mut b = Browser { child, _profile: profile, ws, session: String::new(), next_id: 0 };
        let target = b.call(None, "Target.createTarget", json!({ "url": "about:blank" })).await;
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = b.call(None, "Target.attachToTarget", json!({ "targetId": target_id, "flatten": true })).await;
        b.session = attached["sessionId"].as_str().unwrap().to_string();
        let s = Some(b.session.clone());
        b.call(
            s.clone(),
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500 }),
        )
        .await;
        b.call(s, "Page.navigate", json!({ "url": url })).await;
        b
    }

    async fn call(&mut self, session: Option<String>, method: &str, params: Value) -> Value {
        match self.try_call(session, method, params).await {
            Ok(v) => v,
            Err(e) => panic!("{method} failed: {e}"),
        }
    }

    /// A devtools call, its error returned (a page navigating away answers an evaluation with one).
    async fn try_call(&mut self, session: Option<String>, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws.send(Message::Text(msg.to_string().into())).await.unwrap();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .expect("devtools answers")
                .unwrap()
                .unwrap();
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["id"] == id {
                    return match v.get("error") {
                        Some(e) => Err(e.clone()),
                        None => Ok(v["result"].clone()),
                    };
                }
            }
        }
    }

    /// Evaluates JavaScript in the page and returns its (JSON) value.
    pub async fn eval(&mut self, js: &str) -> Value {
        let s = Some(self.session.clone());
        let r = self
            .call(s, "Runtime.evaluate", json!({ "expression": js, "returnByValue": true, "awaitPromise": true }))
            .await;
        r["result"]["value"].clone()
    }

    /// Evaluates `js` until it returns true, or panics after `secs` (an evaluation that fails while the page is
    /// navigating counts as not yet).
    pub async fn wait_for(&mut self, js: &str, secs: u64) {
        let started = Instant::now();
        loop {
            let s = Some(self.session.clone());
            let params = json!({ "expression": js, "returnByValue": true, "awaitPromise": true });
            let r = self.try_call(s, "Runtime.evaluate", params).await;
            if r.is_ok_and(|r| r["result"]["value"] == json!(true)) {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(secs), "timed out waiting for: {js}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn screenshot(&mut self, path: &Path) {
        let s = Some(self.session.clone());
        let r = self.call(s, "Page.captureScreenshot", json!({ "format": "png" })).await;
        let data = r["data"].as_str().unwrap();
        std::fs::write(path, base64_decode(data)).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let v: Vec<u32> = chunk.iter().map(|c| val(*c) as u32).collect();
        let n = v.iter().enumerate().fold(0u32, |acc, (i, x)| acc | (x << (18 - 6 * i)));
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    out
}
