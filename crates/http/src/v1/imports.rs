//! `POST /api/v1/imports`: Markdown files with frontmatter imported through the API, for
//! sites without a shell (admins only; docs/publishing.md). The same import as `quire import`.

use std::path::PathBuf;

use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use quire_core::ports::Store;
use quire_core::service::{ImportOptions, ImportOutcome, ImportReport, Importer};
use serde::{Deserialize, Serialize};

use super::caller::Authenticated;
use super::negotiate::{Format, Representation, Wire};
use super::problem::{Problem, V1Error};
use super::proto;
use crate::AppState;
use crate::caching::Caching;

/// Largest import request, in bytes: files travel in one body, apart from the usual limit.
pub const IMPORT_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// The choices of an import, as query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ImportParams {
    /// The author (a username) of posts whose `author` key names no user of this site.
    author: Option<String>,
    /// The language (BCP 47) of files that state none.
    language: Option<String>,
}

/// What an import did with each file.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ImportReportRepr {
    created: u32,
    updated: u32,
    unchanged: u32,
    failed: u32,
    files: Vec<ImportedFileRepr>,
}

/// One file of an import: its post, or why it has none.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImportedFileRepr {
    /// As sent: the part's file name, or the path in the archive.
    path: String,
    /// `created`, `updated`, `unchanged` or `failed`.
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    post_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slug: Option<String>,
    /// The line of the file a failure is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// What the import could not do but did not stop for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
}

fn count(number: usize) -> u32 {
    u32::try_from(number).unwrap_or(u32::MAX)
}

impl ImportReportRepr {
    fn of(report: &ImportReport) -> Self {
        let files = report
            .files
            .iter()
            .map(|file| {
                let path = file.path.to_string_lossy().into_owned();
                match &file.result {
                    Ok(imported) => ImportedFileRepr {
                        path,
                        outcome: imported.outcome.as_str(),
                        post_id: Some(imported.id.get()),
                        slug: Some(imported.slug.as_str().to_owned()),
                        line: None,
                        reason: None,
                        notes: imported.notes.clone(),
                    },
                    Err(error) => ImportedFileRepr {
                        path,
                        outcome: "failed",
                        post_id: None,
                        slug: None,
                        line: error.line.map(count),
                        reason: Some(error.reason.clone()),
                        notes: Vec::new(),
                    },
                }
            })
            .collect();
        Self {
            created: count(report.count(ImportOutcome::Created)),
            updated: count(report.count(ImportOutcome::Updated)),
            unchanged: count(report.count(ImportOutcome::Unchanged)),
            failed: count(report.failed().count()),
            files,
        }
    }
}

impl Wire for ImportReportRepr {
    type Proto = proto::ImportReport;
    fn proto(&self) -> proto::ImportReport {
        proto::ImportReport {
            created: self.created,
            updated: self.updated,
            unchanged: self.unchanged,
            failed: self.failed,
            files: self
                .files
                .iter()
                .map(|file| proto::ImportedFile {
                    path: file.path.clone(),
                    outcome: file.outcome.to_owned(),
                    post_id: file.post_id,
                    slug: file.slug.clone(),
                    line: file.line,
                    reason: file.reason.clone(),
                    notes: file.notes.clone(),
                })
                .collect(),
        }
    }
}

fn malformed(detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "malformed",
        "Malformed request",
        detail,
    )
}

/// `POST /api/v1/imports`: imports the Markdown files sent, as `multipart/form-data` (each
/// part with a file name is a file, the name its path) or as one `application/x-tar` archive
/// (each regular file ending in `.md` or `.markdown`). A file is matched to a post by slug and
/// language, so sending the same files again changes nothing. Answers 200 with what became
/// of each file; a file that failed is reported with its line and skipped whole.
#[utoipa::path(
    post,
    path = "/api/v1/imports",
    operation_id = "importPosts",
    tag = "posts",
    security(("bearer" = [])),
    params(ImportParams),
    request_body(
        description = "the files: multipart/form-data (one part per file) or application/x-tar",
        content(
            (String = "multipart/form-data"),
            (String = "application/x-tar"),
        ),
    ),
    responses(
        (status = 200, description = "what became of each file", body = ImportReportRepr),
        (status = 400, description = "a body that is not the multipart or tar it says"),
        (status = 401, description = "not signed in"),
        (status = 403, description = "not an admin"),
        (status = 413, description = "over the import size limit"),
        (status = 415, description = "neither multipart/form-data nor application/x-tar"),
    )
)]
pub(crate) async fn create<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
    Query(params): Query<ImportParams>,
    request: Request,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    let importer = Importer::Caller(&actor);
    // Only admins get as far as the body.
    state.quire.imports_allowed(importer)?;
    let essence = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let files = match essence.as_str() {
        "multipart/form-data" => multipart_files(request, &state).await?,
        "application/x-tar" | "application/tar" => {
            let body = axum::body::to_bytes(request.into_body(), IMPORT_BODY_LIMIT)
                .await
                .map_err(|_| too_large())?;
            tar_files(&body)?
        }
        _ => {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the files as multipart/form-data or application/x-tar",
            )
            .into());
        }
    };
    let options = ImportOptions {
        author: params.author,
        language: params.language,
    };
    let report = state
        .quire
        .import_files(importer, files, &options, &mut |_| {})
        .await?;
    Ok(
        Representation::of(format, "import", &ImportReportRepr::of(&report))?
            .respond(StatusCode::OK, Caching::NoStore),
    )
}

fn too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        "Payload too large",
        format!(
            "an import is at most {} MiB",
            IMPORT_BODY_LIMIT / (1024 * 1024)
        ),
    )
}

/// The parts of a multipart body that carry a file name, as (name, bytes).
async fn multipart_files<S: Store>(
    request: Request,
    state: &AppState<S>,
) -> Result<Vec<(PathBuf, Vec<u8>)>, V1Error> {
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|rejection| malformed(rejection.body_text()))?;
    let mut files = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(too_large().into());
            }
            Err(error) => return Err(malformed(error.body_text()).into()),
        };
        let Some(name) = field.file_name().map(PathBuf::from) else {
            continue;
        };
        let bytes = field.bytes().await.map_err(|error| {
            if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                malformed(error.body_text())
            }
        })?;
        files.push((name, bytes.to_vec()));
    }
    Ok(files)
}

/// The Markdown files of a tar archive, as (path in the archive, bytes). Links, folders,
/// hidden entries (`._post.md`, `.git/…`) and other files are passed over; nothing is
/// written anywhere.
fn tar_files(body: &[u8]) -> Result<Vec<(PathBuf, Vec<u8>)>, Problem> {
    use std::io::Read;
    let mut archive = tar::Archive::new(body);
    let entries = archive
        .entries()
        .map_err(|error| malformed(format!("not a tar archive: {error}")))?;
    let mut files = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(|error| malformed(format!("a broken tar entry: {error}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|error| malformed(format!("a tar entry's path: {error}")))?
            .into_owned();
        let hidden = path
            .components()
            .any(|part| part.as_os_str().to_string_lossy().starts_with('.'));
        if hidden || !quire_content::layout::is_markdown(&path) {
            continue;
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|error| malformed(format!("reading {}: {error}", path.display())))?;
        files.push((path, bytes));
    }
    Ok(files)
}
