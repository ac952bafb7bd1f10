//! `quire import` and `quire export`: posts in and out as Markdown files with frontmatter.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use quire_core::service::{ImportOptions, ImportOutcome, Importer, Source, read_sources};

use crate::app::build_core;
use crate::config::Config;

/// What an import did, file by file, for its summary.
#[derive(Debug, Default)]
pub struct ImportSummary {
    pub counts: BTreeMap<ImportOutcome, usize>,
    /// (path, why) of every file not imported.
    pub failed: Vec<(PathBuf, String)>,
    /// (path, note) of what an imported file could not have.
    pub notes: Vec<(PathBuf, String)>,
}

impl ImportSummary {
    fn count(&self, outcome: ImportOutcome) -> usize {
        self.counts.get(&outcome).copied().unwrap_or(0)
    }

    /// `created 3, updated 1, unchanged 9, failed 1`, then a line per failure and note.
    pub fn report(&self) -> String {
        let mut out = format!(
            "created {}, updated {}, unchanged {}, failed {}\n",
            self.count(ImportOutcome::Created),
            self.count(ImportOutcome::Updated),
            self.count(ImportOutcome::Unchanged),
            self.failed.len()
        );
        for (path, reason) in &self.failed {
            out.push_str(&format!("failed: {}: {reason}\n", path.display()));
        }
        for (path, note) in &self.notes {
            out.push_str(&format!("note: {}: {note}\n", path.display()));
        }
        out
    }
}

/// The Markdown files under `paths`: each file as named, each folder searched (hidden entries
/// skipped), each file with its path relative to the folder named, sorted.
fn markdown_files(paths: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, PathBuf)>> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
        if meta.is_file() {
            files.push((path.clone(), path.clone()));
            continue;
        }
        let walker = walkdir::WalkDir::new(path)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|entry| {
                entry.depth() == 0 || !entry.file_name().to_string_lossy().starts_with('.')
            });
        for entry in walker {
            let entry = entry.with_context(|| format!("reading {}", path.display()))?;
            if entry.file_type().is_file() && quire_content::layout::is_markdown(entry.path()) {
                let relative = entry
                    .path()
                    .strip_prefix(path)
                    .unwrap_or(entry.path())
                    .to_path_buf();
                files.push((entry.path().to_path_buf(), relative));
            }
        }
    }
    Ok(files)
}

fn progress(len: u64, verb: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {wide_msg}") {
        bar.set_style(style.progress_chars("#>-"));
    }
    bar.set_prefix(verb.to_owned());
    bar
}

/// Imports the Markdown files under `paths` (see [`quire_core::service::read_sources`]),
/// showing progress on a terminal; a file that cannot be read or imported is reported and
/// skipped.
///
/// # Errors
/// A path that does not exist, or a database that cannot be opened.
pub async fn import(
    config: &Config,
    paths: &[PathBuf],
    options: ImportOptions,
) -> anyhow::Result<ImportSummary> {
    let files = markdown_files(paths)?;
    let mut summary = ImportSummary::default();
    let mut texts = Vec::with_capacity(files.len());
    for (path, relative) in files {
        match std::fs::read(&path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => texts.push((relative, text, path)),
                Err(_) => summary
                    .failed
                    .push((path, "line 1: is not UTF-8 text".to_owned())),
            },
            Err(error) => summary.failed.push((path, error.to_string())),
        }
    }
    // The paths shown are the ones given; the layout reads the relative ones.
    let shown: BTreeMap<PathBuf, PathBuf> = texts
        .iter()
        .map(|(relative, _, path)| (relative.clone(), path.clone()))
        .collect();
    let sources: Vec<Source> = read_sources(
        texts
            .into_iter()
            .map(|(relative, text, _)| (relative, text))
            .collect(),
        &options,
    );
    let quire = build_core(config).await?;
    let bar = progress(sources.len() as u64, "importing");
    for source in sources {
        let path = shown.get(&source.path).cloned().unwrap_or(source.path);
        bar.set_message(path.display().to_string());
        match source.post {
            Err(error) => summary.failed.push((path, error.to_string())),
            Ok(post) => match quire
                .import_post(Importer::CommandLine, &post, &options)
                .await
            {
                Ok(imported) => {
                    *summary.counts.entry(imported.outcome).or_default() += 1;
                    for note in imported.notes {
                        summary.notes.push((path.clone(), note));
                    }
                }
                Err(error) => summary.failed.push((path, error.to_string())),
            },
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    quire.store().close().await;
    Ok(summary)
}

/// Writes every post, drafts included, into `dir` as `<slug>.md`; answers how many.
///
/// # Errors
/// A folder that cannot be made or written, or a database that cannot be read.
pub async fn export(config: &Config, dir: &Path) -> anyhow::Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
    let quire = build_core(config).await?;
    let bar = progress(0, "exporting");
    let mut written = 0;
    for drafts in [false, true] {
        let mut after = None;
        loop {
            let (ids, next) = quire
                .export_ids(Importer::CommandLine, drafts, after)
                .await
                .map_err(|error| anyhow::anyhow!("{error}"))?;
            bar.inc_length(ids.len() as u64);
            for id in ids {
                let file = quire
                    .export_post(Importer::CommandLine, id)
                    .await
                    .map_err(|error| anyhow::anyhow!("{error}"))?;
                if let Some(file) = file {
                    let path = dir.join(&file.path);
                    bar.set_message(file.path.display().to_string());
                    std::fs::write(&path, file.text)
                        .with_context(|| format!("writing {}", path.display()))?;
                    written += 1;
                }
                bar.inc(1);
            }
            match next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
    }
    bar.finish_and_clear();
    quire.store().close().await;
    Ok(written)
}
