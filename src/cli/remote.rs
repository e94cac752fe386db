//! The commands that need the store, run against a server that holds it: while `aisle serve` runs, `import`,
//! `user`, `key`, `shopper` and `train` ask it over HTTP (the admin token, or for an import a secret key) instead
//! of failing on the store's lock.
use super::{import, KeyAction, ShopperAction, UserAction};
use crate::config::Config;
use anyhow::Context;
use serde_json::{json, Value};

/// A running server and the credentials to call it with.
pub struct Server {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
    key: Option<String>,
}

impl Server {
    /// The server at `AISLE_SERVER`, else the configured listen address (on this machine). `key_too`: a secret API
    /// key (`AISLE_API_KEY`) may stand in for the admin token.
    pub fn from_config(cfg: &Config, key_too: bool) -> anyhow::Result<Self> {
        let token = Some(cfg.admin_token.expose().to_string()).filter(|t| !t.is_empty());
        let key = std::env::var("AISLE_API_KEY").ok().filter(|k| !k.is_empty() && key_too);
        anyhow::ensure!(
            key.is_some() || token.is_some(),
            "the store is in use by a running server; to run this through it, set AISLE_ADMIN_TOKEN{}, or stop the \
             server",
            if key_too { " (or a secret API key in AISLE_API_KEY)" } else { "" }
        );
        let base = std::env::var("AISLE_SERVER").unwrap_or_else(|_| {
            let mut addr = cfg.listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{addr}")
        });
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Ok(Server { agent, base: base.trim_end_matches('/').to_string(), token, key })
    }

    /// Calls `method path` with an optional body; the server's JSON answer, or its error message as an error.
    pub fn call(&self, method: &str, path: &str, body: Option<&[u8]>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let builder = ureq::http::Request::builder().method(method).uri(&url);
        let builder = match (&self.key, &self.token) {
            (Some(k), _) => builder.header(crate::http::auth::KEY_HEADER, k),
            (None, Some(t)) => builder.header("Authorization", format!("Bearer {t}")),
            (None, None) => builder,
        };
        let builder = match body {
            Some(b) if b.first() == Some(&b'{') => builder.header("Content-Type", "application/json"),
            _ => builder,
        };
        let request = builder.body(body.unwrap_or_default().to_vec())?;
        let mut resp = self.agent.run(request).with_context(|| format!("no server answered at {}", self.base))?;
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        if !resp.status().is_success() {
            let msg = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(String::from))
                .unwrap_or(text);
            anyhow::bail!("the server at {} refused it (HTTP {}): {msg}", self.base, resp.status());
        }
        match text.trim() {
            "" => Ok(Value::Null),
            t => serde_json::from_str(t).context("the server's answer is not JSON"),
        }
    }

    /// `import` through the server: each file is sent to `POST /api/import` and its report printed.
    pub fn import(&self, sources: &import::Sources) -> anyhow::Result<()> {
        anyhow::ensure!(
            sources.online_retail.is_none(),
            "the store is in use by a running server, and --online-retail imports only into a stopped one; stop \
             the server, or convert the file to the generic format"
        );
        let files = [
            ("products", &sources.products),
            ("shopify", &sources.shopify),
            ("merchant", &sources.merchant),
            ("events", &sources.events),
        ];
        for (format, file) in files {
            let Some(path) = file else { continue };
            let body = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let mut url = format!("/api/imports?format={format}");
            if sources.keep_going {
                url += "&keep_going=true";
            }
            for (column, field) in sources.columns.pairs() {
                url += &format!("&map={}", percent(&format!("{column}={field}")));
            }
            eprintln!("importing {} through the running server at {}", path.display(), self.base);
            let job = self.call("POST", &url, Some(&body)).with_context(|| path.display().to_string())?;
            let report = self.wait_for(job).with_context(|| path.display().to_string())?;
            super::print_report(&report);
        }
        Ok(())
    }

    /// Polls an import job until it is done, printing its stage every few seconds; its report.
    fn wait_for(&self, mut job: Value) -> anyhow::Result<import::ImportReport> {
        let id = job["id"].as_str().context("the server's answer has no job id")?.to_string();
        let mut said = std::time::Instant::now();
        loop {
            match job["state"].as_str() {
                Some("done") => return serde_json::from_value(job["report"].take()).context("the server's report"),
                Some("failed") => anyhow::bail!("{}", job["error"].as_str().unwrap_or("the import failed")),
                _ => {}
            }
            if said.elapsed() >= std::time::Duration::from_secs(5) {
                let s = &job["stage"];
                eprintln!("{}: {}/{}", s["what"].as_str().unwrap_or("waiting"), s["done"], s["total"]);
                said = std::time::Instant::now();
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
            job = self.call("GET", &format!("/api/imports/{id}"), None)?;
        }
    }

    /// `user add|list|remove` through the staff accounts API.
    pub fn user(&self, action: UserAction) -> anyhow::Result<()> {
        match action {
            UserAction::Add { name, role } => {
                let password = super::read_password()?;
                let body = json!({ "name": name, "role": role, "password": password }).to_string();
                self.call("POST", "/staff/api/accounts", Some(body.as_bytes()))?;
                println!("added {name} ({})", role.as_str());
            }
            UserAction::List => {
                let list = self.call("GET", "/staff/api/accounts", None)?;
                for a in list.as_array().into_iter().flatten() {
                    let created = crate::prompts::datetime_iso(a["created"].as_u64().unwrap_or_default());
                    println!(
                        "{}\t{}\tcreated {created}",
                        a["name"].as_str().unwrap_or(""),
                        a["role"].as_str().unwrap_or("")
                    );
                }
            }
            UserAction::Remove { name } => {
                self.call("DELETE", &format!("/staff/api/accounts/{}", percent(&name)), None)?;
                println!("removed {name}");
            }
        }
        Ok(())
    }

    /// `key add|list|revoke` through the staff keys API.
    pub fn key(&self, action: KeyAction) -> anyhow::Result<()> {
        match action {
            KeyAction::Add { name, kind } => {
                let body = json!({ "name": name, "kind": kind }).to_string();
                let made = self.call("POST", "/staff/api/keys", Some(body.as_bytes()))?;
                let record: crate::keys::ApiKey = serde_json::from_value(made["record"].clone())?;
                println!("{}", made["key"].as_str().unwrap_or_default());
                eprintln!("made {} key {} ({name}); it is not shown again", kind.as_str(), record.id);
            }
            KeyAction::List => {
                let list: Vec<crate::keys::ApiKey> =
                    serde_json::from_value(self.call("GET", "/staff/api/keys", None)?)?;
                for k in list {
                    super::commands::print_key(&k);
                }
            }
            KeyAction::Revoke { id } => {
                let k: crate::keys::ApiKey = serde_json::from_value(self.call(
                    "POST",
                    &format!("/staff/api/keys/{}/revoke", percent(&id)),
                    None,
                )?)?;
                println!("revoked {} ({})", k.id, k.name);
            }
        }
        Ok(())
    }

    /// `shopper export|delete` through `/api/shoppers/{id}`.
    pub fn shopper(&self, action: ShopperAction) -> anyhow::Result<()> {
        let (method, id) = match &action {
            ShopperAction::Export { id } => ("GET", id),
            ShopperAction::Delete { id } => ("DELETE", id),
        };
        anyhow::ensure!(
            crate::identity::ShopperId::parse(id).is_some(),
            "{id:?}: {}",
            crate::identity::SHOPPER_ID_RULE
        );
        let answer = self.call(method, &format!("/api/shoppers/{}", percent(id)), None)?;
        match action {
            ShopperAction::Export { .. } => println!("{}", serde_json::to_string_pretty(&answer)?),
            ShopperAction::Delete { .. } => println!("{answer}"),
        }
        Ok(())
    }

    /// `train` through `POST /api/recommender/train`: the server retrains and swaps the model in.
    pub fn train(
        &self,
        hyper: &crate::reco::model::Hyper,
        sequential: crate::reco::serve::SequentialTraining,
    ) -> anyhow::Result<()> {
        let path = format!(
            "/api/recommender/train?epochs={}&dim={}&lr={}&reg={}&seed={}&sequential={sequential}",
            hyper.epochs, hyper.dim, hyper.lr, hyper.reg, hyper.seed
        );
        eprintln!("training through the running server at {} (it keeps serving meanwhile)", self.base);
        let out = self.call("POST", &path, None)?;
        println!("installed {}", out["file"].as_str().unwrap_or_default());
        eprintln!("the server now serves model version {}", out["model_version"]);
        Ok(())
    }
}

/// `a b=c` as a URL query value or path segment.
pub(crate) fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
