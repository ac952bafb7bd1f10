//! `quire import` and `quire export`: posts in and out as Markdown files with frontmatter.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use quire_core::service::{ImportOptions, ImportOutcome, ImportReport, Importer, MAX_FILE_BYTES};

use crate::app::build_core;
use crate::config::Config;

/// `created 3, updated 1, unchanged 9, failed 1`, then a line per failure and per note.
pub fn summary(report: &ImportReport) -> String {
    let mut out = format!(
        "created {}, updated {}, unchanged {}, failed {}\n",
        report.count(ImportOutcome::Created),
        report.count(ImportOutcome::Updated),
        report.count(ImportOutcome::Unchanged),
        report.failed().count()
    );
    for (path, error) in report.failed() {
        out.push_str(&format!("failed: {}: {error}\n", path.display()));
    }
    for file in &report.files {
        for note in file.result.iter().flat_map(|imported| &imported.notes) {
            out.push_str(&format!("note: {}: {note}\n", file.path.display()));
        }
    }
    out
}

/// The Markdown files under `paths`, with their bytes: each file as named, each folder
/// searched (hidden entries skipped, links not followed), sorted by name.
fn markdown_files(paths: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut found = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
        if meta.is_file() {
            found.push(path.clone());
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
                found.push(entry.into_path());
            }
        }
    }
    found
        .into_iter()
        .map(|path| {
            // A file too large to import is not read whole: its first bytes past the limit
            // are enough for the import to refuse it.
            let mut bytes = Vec::new();
            std::fs::File::open(&path)
                .and_then(|file| file.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes))
                .with_context(|| format!("reading {}", path.display()))?;
            Ok((path, bytes))
        })
        .collect()
}

pub(crate) fn progress(len: u64, verb: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {wide_msg}") {
        bar.set_style(style.progress_chars("#>-"));
    }
    bar.set_prefix(verb.to_owned());
    bar
}

/// Imports the Markdown files under `paths` ([`quire_core::service::Quire::import_files`]), showing
/// progress on a terminal.
///
/// # Errors
/// A path that does not exist or cannot be read, a database that cannot be opened, or a
/// storage fault during the import.
pub async fn import(
    config: &Config,
    paths: &[PathBuf],
    options: ImportOptions,
) -> anyhow::Result<ImportReport> {
    let files = markdown_files(paths)?;
    let quire = build_core(config).await?;
    let bar = progress(files.len() as u64, "importing");
    let mut tick = |path: &Path| {
        bar.set_message(path.display().to_string());
        bar.inc(1);
    };
    let report = quire
        .import_files(Importer::CommandLine, files, &options, &mut tick)
        .await;
    bar.finish_and_clear();
    quire.store().close().await;
    report.map_err(|error| anyhow::anyhow!("the import stopped: {error}"))
}

/// Rebuilds the search index entry of every post, with a progress bar; answers how many.
pub async fn reindex(config: &Config) -> anyhow::Result<usize> {
    let quire = build_core(config).await?;
    let bar = progress(0, "indexing");
    let done = quire
        .reindex_search(false, |done| bar.set_position(done as u64))
        .await;
    bar.finish_and_clear();
    quire.store().close().await;
    done.map_err(|error| anyhow::anyhow!("the rebuild stopped: {error}"))
}

/// Writes `text` to a new file beside `path`, then renames it over `path`: a link already at
/// `path` is replaced, never followed, and a reader never sees half a file.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(error);
    }
    std::fs::rename(&temporary, path)
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
                    write_new(&path, &file.text)
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
