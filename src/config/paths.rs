//! Finding the files the shop did not write itself when Aisle runs from another folder than its checkout.
use super::Config;
use std::path::{Path, PathBuf};

/// The folders a relative path is looked for in, after the current one: the config file's, then the binary's
/// and three above it.
pub fn search_bases(config_file: Option<&Path>) -> Vec<PathBuf> {
    let mut bases = vec![];
    if let Some(dir) = config_file.and_then(Path::parent).filter(|d| !d.as_os_str().is_empty()) {
        bases.push(dir.to_path_buf());
    }
    if let Ok(exe) = std::env::current_exe() {
        bases.extend(exe.ancestors().skip(1).take(4).map(Path::to_path_buf));
    }
    bases
}

/// `path` itself when it is absolute or exists from the current folder, else the first `base/path` that exists,
/// else `path` unchanged.
pub fn locate_in(path: &Path, bases: &[PathBuf]) -> PathBuf {
    if path.is_absolute() || path.exists() {
        return path.to_path_buf();
    }
    bases.iter().map(|b| b.join(path)).find(|p| p.exists()).unwrap_or_else(|| path.to_path_buf())
}

impl Config {
    /// Finds the files the shop did not write itself (the models, the dictionary, the prompts, templates and
    /// static folders) when Aisle runs from another folder than its checkout: a relative path that does not
    /// exist from the current folder is looked for beside the config file, then beside the binary and up to
    /// three folders above it (`target/release/aisle` sits three below the checkout). What is found nowhere is
    /// left as it was, so the error that follows names the path the shop configured. The data folder is never
    /// moved: it is where the shop's data is written.
    pub fn locate_files(&mut self, config_file: Option<&Path>) {
        let bases = search_bases(config_file);
        for path in [
            &mut self.llm.model,
            &mut self.embed.model,
            &mut self.chat.dictionary,
            &mut self.prompts_dir,
            &mut self.templates_dir,
            &mut self.static_dir,
        ] {
            *path = locate_in(path, &bases);
        }
    }
}
