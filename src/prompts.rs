//! Template environments: `prompts/` for the model (no escaping) and `templates/` for pages (HTML auto-escaped).
//! Every file is parsed at start-up, so a broken template stops the server at boot rather than a request.
use minijinja::{AutoEscape, Environment};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read templates in {dir}: {source}")]
    Read { dir: String, source: std::io::Error },
    #[error("template {name}: {source}")]
    Syntax { name: String, source: minijinja::Error },
    #[error("rendering {name}: {source}")]
    Render { name: String, source: minijinja::Error },
}

/// A set of templates loaded from one directory. Cloning is shallow.
#[derive(Clone)]
pub struct Templates {
    env: std::sync::Arc<Environment<'static>>,
    /// The language folder looked in first (`zh/`), when not English.
    lang: Option<std::sync::Arc<str>>,
    /// A template set (`sets/NAME/`, an experiment's variant) looked in before the language and the defaults.
    set: Option<std::sync::Arc<str>>,
}

impl Templates {
    /// Loads every file under `dir` (names are paths relative to it, with `/`).
    pub fn load(dir: &Path, html: bool) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(move |_| if html { AutoEscape::Html } else { AutoEscape::None });
        let syntax = minijinja::syntax::SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build();
        env.set_syntax(syntax.expect("static syntax config is valid"));
        env.add_filter("truncate", truncate);
        env.add_filter("datetime", datetime);
        let mut files = vec![];
        collect(dir, dir, &mut files)
            .map_err(|source| TemplateError::Read { dir: dir.display().to_string(), source })?;
        for (name, body) in files {
            env.add_template_owned(name.clone(), body).map_err(|source| TemplateError::Syntax { name, source })?;
        }
        Ok(Self { env: std::sync::Arc::new(env), lang: None, set: None })
    }

    /// The same templates in a language: `name` renders `<code>/name` where that file exists (English, the
    /// templates at the top, otherwise).
    pub fn localized(&self, code: &str) -> Self {
        let lang = (code != crate::lang::DEFAULT).then(|| std::sync::Arc::from(format!("{code}/")));
        Self { env: self.env.clone(), lang, set: self.set.clone() }
    }

    /// The same templates with the set `sets/NAME/` in front: a file there (or its language's, under
    /// `sets/NAME/<code>/`) replaces the default of the same name; the rest stay.
    pub fn with_set(&self, name: &str) -> Self {
        Self {
            env: self.env.clone(),
            lang: self.lang.clone(),
            set: Some(std::sync::Arc::from(format!("sets/{name}/"))),
        }
    }

    /// Whether `sets/NAME/` holds any template.
    pub fn has_set(&self, name: &str) -> bool {
        !self.names_under(&format!("sets/{name}/")).is_empty()
    }

    /// The language these templates write in.
    pub fn lang(&self) -> &str {
        self.lang.as_deref().map_or(crate::lang::DEFAULT, |l| l.trim_end_matches('/'))
    }

    /// The file `name` resolves to in this language.
    fn resolve(&self, name: &str) -> String {
        let exists = |n: &str| self.env.get_template(n).is_ok();
        if let Some(set) = &self.set {
            if let Some(l) = self.lang.as_deref().map(|l| format!("{set}{l}{name}")).filter(|n| exists(n)) {
                return l;
            }
            if exists(&format!("{set}{name}")) {
                return format!("{set}{name}");
            }
        }
        match &self.lang {
            Some(l) if exists(&format!("{l}{name}")) => format!("{l}{name}"),
            _ => name.to_string(),
        }
    }

    pub fn render(&self, name: &str, ctx: impl Serialize) -> Result<String, TemplateError> {
        let name = &self.resolve(name);
        let render = || self.env.get_template(name)?.render(minijinja::Value::from(minijinja::value::Serde(&ctx)));
        render().map_err(|source| TemplateError::Render { name: name.to_string(), source })
    }

    pub fn has(&self, name: &str) -> bool {
        self.env.get_template(&self.resolve(name)).is_ok()
    }

    /// A file's text as it was loaded (`phrases.toml`), in this language where it has one.
    pub fn source(&self, name: &str) -> Option<String> {
        self.env.get_template(&self.resolve(name)).ok().map(|t| t.source().to_string())
    }

    /// Template names under a folder (e.g. `copy/`), sorted.
    pub fn names_under(&self, prefix: &str) -> Vec<String> {
        let mut v: Vec<String> =
            self.env.templates().map(|(n, _)| n.to_string()).filter(|n| n.starts_with(prefix)).collect();
        v.sort();
        v
    }
}

/// `{{ text | truncate(300) }}`: at most n characters, cut at a word boundary, with an ellipsis.
fn truncate(s: String, n: usize) -> String {
    if s.chars().count() <= n {
        return s;
    }
    let cut: String = s.chars().take(n).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(a, _)| a);
    format!("{}…", cut.trim_end_matches([',', '.', ';', ':']))
}

/// `{{ unix_seconds | datetime }}` -> `2026-11-28 12:00` (UTC).
fn datetime(secs: u64) -> String {
    datetime_iso(secs).replacen('T', " ", 1)[..16].to_string()
}

/// Unix seconds as ISO-8601 UTC, `2026-11-28T12:00:00`.
pub fn datetime_iso(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // civil-from-days (H. Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(root, &path, out)?;
        } else {
            let name = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            out.push((name, std::fs::read_to_string(&path)?));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_set_replaces_only_the_files_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sets/brief/zh")).unwrap();
        std::fs::create_dir_all(dir.path().join("zh")).unwrap();
        std::fs::write(dir.path().join("a.j2"), "default a").unwrap();
        std::fs::write(dir.path().join("b.j2"), "default b").unwrap();
        std::fs::write(dir.path().join("zh/b.j2"), "zh b").unwrap();
        std::fs::write(dir.path().join("sets/brief/a.j2"), "brief a").unwrap();
        std::fs::write(dir.path().join("sets/brief/zh/a.j2"), "brief zh a").unwrap();
        let t = Templates::load(dir.path(), false).unwrap();
        let brief = t.with_set("brief");
        assert_eq!(brief.render("a.j2", ()).unwrap(), "brief a");
        assert_eq!(brief.render("b.j2", ()).unwrap(), "default b", "what the set lacks stays");
        assert_eq!(brief.localized("zh").render("a.j2", ()).unwrap(), "brief zh a");
        assert_eq!(brief.localized("zh").render("b.j2", ()).unwrap(), "zh b");
        assert_eq!(t.render("a.j2", ()).unwrap(), "default a", "the set applies only where asked");
        assert!(t.has_set("brief") && !t.has_set("nope"));
    }

    #[test]
    fn pages_escape_html_and_prompts_do_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.html"), "{{ x }}").unwrap();
        let ctx = serde_json::json!({ "x": "<b>" });
        assert_eq!(Templates::load(dir.path(), true).unwrap().render("t.html", &ctx).unwrap(), "&lt;b&gt;");
        assert_eq!(Templates::load(dir.path(), false).unwrap().render("t.html", &ctx).unwrap(), "<b>");
    }

    #[test]
    fn unix_seconds_print_as_utc_dates() {
        assert_eq!(datetime(0), "1970-01-01 00:00");
        assert_eq!(datetime(1_795_870_800), "2026-11-28 13:00");
    }

    #[test]
    fn a_broken_template_fails_at_load_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.j2"), "{% if %}").unwrap();
        let err = Templates::load(dir.path(), false).err().unwrap();
        assert!(err.to_string().contains("bad.j2"), "{err}");
    }
}
