//! `quire import` and `quire export`: Markdown files with frontmatter in and out, matched by
//! slug and language, so that a second import changes nothing.

use std::path::Path;
use std::process::Output;

use quire_core::ports::PostStore;
use quire_core::values::Slug;

use crate::helpers::{Engine, TestApp, TestEnv, on_both_engines, quire};

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn create_author(env: &TestEnv, username: &str) {
    let email = format!("{username}@example.com");
    let output = quire(
        env,
        &["user", "create", "--username", username, "--email", &email],
    );
    assert!(output.status.success(), "{output:?}");
}

fn import(env: &TestEnv, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    let output = quire(env, &all);
    (output.status.code(), stdout(&output))
}

fn slug(text: &str) -> Slug {
    Slug::parse(text).unwrap()
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const GOOD: &str = "---\ntitle: Good\ndate: 2024-05-01\ntags: [rust, web]\nseries:\n  name: Basics\n  order: 2\ncover: /a.png\naliases: [/old/]\n---\nThe first paragraph.\n";

on_both_engines! {
    async fn a_second_import_changes_nothing_and_a_bad_file_is_reported_and_skipped(engine: Engine) {
        let env = TestEnv::new(engine).await;
        create_author(&env, "alice");
        let source = tempfile::tempdir().unwrap();
        let dir = source.path();
        write(dir, "good.md", GOOD);
        write(dir, "2023-02-03-dated.markdown", "---\ntitle: Dated\nauthor: alice\n---\nBody.\n");
        write(dir, "bad.md", "---\ntitle: Bad\ntags: [unclosed\n---\nBody\n");
        write(dir, "untitled.md", "---\ndescription: no title\n---\nBody\n");
        write(dir, ".hidden/skipped.md", GOOD);
        write(dir, "notes.txt", "not markdown");
        let dir_arg = dir.to_str().unwrap();

        let (code, summary) = import(&env, &["--author", "alice", dir_arg]);
        assert_eq!(code, Some(2), "a failed file is an exit status of 2: {summary}");
        assert!(summary.starts_with("created 2, updated 0, unchanged 0, failed 2\n"), "{summary}");
        let bad = summary.lines().find(|line| line.contains("bad.md")).unwrap();
        assert!(bad.starts_with("failed: ") && bad.contains("bad.md: line 4: the YAML header does not parse"), "{bad}");
        let untitled = summary.lines().find(|line| line.contains("untitled.md")).unwrap();
        assert!(untitled.contains("line 1: has no title"), "{untitled}");

        let (code, summary) = import(&env, &["--author", "alice", dir_arg]);
        assert_eq!(code, Some(2));
        assert!(summary.starts_with("created 0, updated 0, unchanged 2, failed 2\n"), "{summary}");

        // A changed file updates its post, and only it.
        write(dir, "good.md", &GOOD.replace("title: Good", "title: Better"));
        std::fs::remove_file(dir.join("bad.md")).unwrap();
        std::fs::remove_file(dir.join("untitled.md")).unwrap();
        let (code, summary) = import(&env, &["--author", "alice", dir_arg]);
        assert_eq!(code, Some(0), "{summary}");
        assert!(summary.starts_with("created 0, updated 1, unchanged 1, failed 0\n"), "{summary}");

        // Without an author for a file that names none, the file fails and nothing is made.
        let other = tempfile::tempdir().unwrap();
        write(other.path(), "orphan.md", "---\ntitle: Orphan\n---\nBody\n");
        let (code, summary) = import(&env, &[other.path().to_str().unwrap()]);
        assert_eq!(code, Some(2));
        assert!(summary.contains("orphan.md: invalid input"), "{summary}");

        let app = TestApp::spawn_in(env).await;
        let store = app.quire.store();
        let good = store.post_by_slug(&slug("good"), None).await.unwrap().unwrap();
        assert_eq!(good.title.as_str(), "Better");
        assert_eq!(good.description.as_str(), "The first paragraph.", "a missing description is the first paragraph");
        assert_eq!(good.published_at.unwrap().to_rfc3339(), "2024-05-01T00:00:00.000Z");
        let tags: Vec<&str> = good.tags.as_slice().iter().map(|tag| tag.as_str()).collect();
        assert_eq!(tags, ["rust", "web"]);
        let series = good.meta.series.as_ref().unwrap();
        assert_eq!((series.name.as_str(), series.position), ("Basics", 2));
        assert_eq!(good.meta.metadata["image"], "/a.png");
        assert_eq!(good.meta.metadata["aliases"], serde_json::json!(["/old/"]));
        let dated = store.post_by_slug(&slug("dated"), None).await.unwrap().unwrap();
        assert_eq!(dated.published_at.unwrap().to_rfc3339(), "2023-02-03T00:00:00.000Z", "the date in the name");
        assert!(!dated.meta.metadata.contains_key("author"), "the author is the post's own");
        for missing in ["bad", "untitled", "orphan", "skipped"] {
            assert!(store.post_by_slug(&slug(missing), None).await.unwrap().is_none(), "{missing}");
        }
    }

    async fn an_import_asks_for_an_author_who_may_write(engine: Engine) {
        let env = TestEnv::new(engine).await;
        let output = quire(&env, &["user", "create", "--username", "reader", "--email", "r@example.com", "--roles", "reader"]);
        assert!(output.status.success(), "{output:?}");
        let source = tempfile::tempdir().unwrap();
        write(source.path(), "post.md", "---\ntitle: Post\n---\nBody\n");
        let (code, summary) = import(&env, &["--author", "reader", source.path().to_str().unwrap()]);
        assert_eq!(code, Some(2));
        assert!(summary.contains("active user with the author role"), "{summary}");
        let (code, summary) = import(&env, &["--author", "nobody", source.path().to_str().unwrap()]);
        assert_eq!(code, Some(2));
        assert!(summary.contains("names no user"), "{summary}");
    }
}

fn samples() -> std::path::PathBuf {
    std::path::PathBuf::from(std::env::var("QUIRE_TEST_SAMPLES").unwrap())
}

/// The corpus of real posts in `QUIRE_TEST_SAMPLES` (the shared samples folder), on each engine.
mod the_sample_corpus_imports_links_translations_and_exports_back_unchanged {
    #[tokio::test]
    #[cfg_attr(
        not(quire_test_samples),
        ignore = "QUIRE_TEST_SAMPLES is not set (the shared samples folder)"
    )]
    async fn sqlite() {
        super::corpus(super::Engine::Sqlite).await
    }

    #[tokio::test]
    #[cfg_attr(
        not(all(quire_test_samples, quire_test_postgres)),
        ignore = "QUIRE_TEST_SAMPLES (the shared samples folder) or QUIRE_TEST_POSTGRES_URL is not set"
    )]
    async fn postgres() {
        super::corpus(super::Engine::Postgres).await
    }
}

async fn corpus(engine: Engine) {
    {
        let env = TestEnv::new(engine).await;
        create_author(&env, "alice");
        let corpus = samples().join("corpus");
        let guide = samples().join("deep-dive-into-backend-development.ko.md");
        let (code, summary) = import(
            &env,
            &[
                "--author",
                "alice",
                corpus.to_str().unwrap(),
                guide.to_str().unwrap(),
            ],
        );
        // The Eleventy post has no title (it keeps it in `newstitle`); SOURCES.md no header.
        assert_eq!(code, Some(2), "{summary}");
        assert!(
            summary.starts_with("created 13, updated 0, unchanged 0, failed 2\n"),
            "{summary}"
        );
        assert!(
            summary.contains("08-eleventy-build-awesome-pro.md: line 1: has no title"),
            "{summary}"
        );
        assert!(
            summary.contains("SOURCES.md: line 1: has no title"),
            "a file with no header: {summary}"
        );
        assert!(
            summary.contains("deep-dive-into-backend-development.ko.md: its original"),
            "{summary}"
        );

        let (_, summary) = import(
            &env,
            &[
                "--author",
                "alice",
                corpus.to_str().unwrap(),
                guide.to_str().unwrap(),
            ],
        );
        assert!(
            summary.starts_with("created 0, updated 0, unchanged 13, failed 2\n"),
            "{summary}"
        );

        let exported = tempfile::tempdir().unwrap();
        let output = quire(&env, &["export", exported.path().to_str().unwrap()]);
        assert!(output.status.success(), "{output:?}");
        assert_eq!(
            stdout(&output).trim_end(),
            format!("exported 13 posts to {}", exported.path().display())
        );
        // No author needed: every post exists, and keeps its own.
        let (code, summary) = import(&env, &[exported.path().to_str().unwrap()]);
        assert_eq!(code, Some(0), "{summary}");
        assert!(
            summary.starts_with("created 0, updated 0, unchanged 13, failed 0\n"),
            "{summary}"
        );

        let app = TestApp::spawn_in(env).await;
        let store = app.quire.store();
        let post = |text: &'static str| async move {
            store
                .post_by_slug(&slug(text), None)
                .await
                .unwrap()
                .unwrap()
        };
        // Astro's translation folder: linked by originalSlug.
        let original = post("ai-tools").await;
        let chinese = post("ai-tools-zh-cn").await;
        assert_eq!(chinese.meta.language.as_deref(), Some("zh-CN"));
        assert_eq!(original.meta.translation_group, Some(original.id.get()));
        assert_eq!(chinese.meta.translation_group, Some(original.id.get()));
        let series = original.meta.series.as_ref().unwrap();
        assert_eq!(
            (series.name.as_str(), series.position),
            ("AI Foundations", 4)
        );
        // Hugo's page bundle: index.md and index.en.md are one work.
        let korean = post("03-hugo-ko-en-jammy-release-notes").await;
        let english = post("03-hugo-ko-en-jammy-release-notes-en").await;
        assert_eq!(english.meta.language.as_deref(), Some("en"));
        assert_eq!(korean.meta.translation_group, Some(korean.id.get()));
        assert_eq!(english.meta.translation_group, Some(korean.id.get()));
        // Jekyll's date with an offset; a draft stays a draft; unknown keys are kept.
        let jekyll = post("05-jekyll-4-3-0-released").await;
        assert_eq!(
            jekyll.published_at.unwrap().to_rfc3339(),
            "2022-10-20T15:20:22.000Z"
        );
        assert_eq!(jekyll.meta.metadata["version"], "4.3.0");
        assert_eq!(
            post("13-astro-vi-intl-draft-comma-tags").await.status,
            quire_core::model::PostStatus::Draft
        );
        let hugo = post("01-hugo-toml-ja-text-to-math-converter").await;
        assert_eq!(
            hugo.meta.metadata["scripts"],
            serde_json::json!({"mathjax": true, "mermaidjs": false})
        );
        assert_eq!(
            post("instagram-grids").await.meta.metadata.get("slug"),
            None,
            "slug is a field, not metadata"
        );
    }
}

/// A `multipart/form-data` body with one file part per (file name, text).
fn multipart(boundary: &str, files: &[(&str, &str)]) -> String {
    let mut body = String::new();
    for (name, text) in files {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: text/markdown\r\n\r\n{text}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    body
}

pub(crate) fn tar(files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, text.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap()
}

on_both_engines! {
    async fn admins_import_through_the_api_as_multipart_or_tar(engine: Engine) {
        use quire_core::roles::{Role, Roles};
        use serde_json::Value;
        let app = TestApp::spawn(engine).await;
        let admin = app.user_with_roles("chief", Roles::of(&[Role::Admin])).await;
        let writer = app.register("writer").await;
        let send = |token: Option<&str>, content_type: &str, body: Vec<u8>| {
            let mut request = app
                .client
                .post(app.url("/api/v1/imports?author=writer"))
                .header("content-type", content_type)
                .body(body);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send()
        };
        let boundary = "quire-boundary-7d1";
        let form = format!("multipart/form-data; boundary={boundary}");
        let files = multipart(boundary, &[("posts/good.md", GOOD), ("bad.md", "---\ntitle: [x\n---\nBody\n")]);

        let reply = send(Some(&admin.token), &form, files.clone().into_bytes()).await.unwrap();
        assert_eq!(reply.status(), 200);
        let report: Value = reply.json().await.unwrap();
        assert_eq!((report["created"].as_u64(), report["failed"].as_u64()), (Some(1), Some(1)), "{report}");
        let good = report["files"].as_array().unwrap().iter().find(|file| file["path"] == "posts/good.md").unwrap();
        assert_eq!((good["outcome"].as_str(), good["slug"].as_str()), (Some("created"), Some("good")), "{report}");
        let bad = report["files"].as_array().unwrap().iter().find(|file| file["path"] == "bad.md").unwrap();
        assert_eq!(bad["outcome"], "failed");
        assert_eq!(bad["line"], 3, "{bad}");
        assert!(bad["reason"].as_str().unwrap().contains("YAML"), "{bad}");
        let post = app.get(&format!("/api/v1/posts/{}", good["postId"]), None).await.body;
        assert_eq!(post["title"], "Good");
        assert_eq!(post["author"]["username"], "writer");

        // The same files again: nothing changes. One changed, in a tar archive: one update.
        let again: Value = send(Some(&admin.token), &form, files.into_bytes()).await.unwrap().json().await.unwrap();
        assert_eq!((again["created"].as_u64(), again["unchanged"].as_u64()), (Some(0), Some(1)), "{again}");
        let archive = tar(&[
            ("site/good.md", &GOOD.replace("title: Good", "title: Better")),
            ("site/._good.md", "AppleDouble noise"),
            ("site/notes.txt", "not markdown"),
        ]);
        let reply = send(Some(&admin.token), "application/x-tar", archive).await.unwrap();
        assert_eq!(reply.status(), 200);
        let report: Value = reply.json().await.unwrap();
        assert_eq!((report["updated"].as_u64(), report["files"].as_array().map(Vec::len)), (Some(1), Some(1)), "{report}");
        assert_eq!(app.get(&format!("/api/v1/posts/{}", good["postId"]), None).await.body["title"], "Better");

        // Admins only, before the body is read; a body that is not what it says is a 400.
        let denied = send(Some(&writer.token), &form, b"anything".to_vec()).await.unwrap();
        assert_eq!(denied.status(), 403);
        assert_eq!(send(None, &form, b"anything".to_vec()).await.unwrap().status(), 401);
        assert_eq!(send(Some(&admin.token), "text/plain", b"x".to_vec()).await.unwrap().status(), 415);
        let broken = send(Some(&admin.token), "application/x-tar", vec![7; 1024]).await.unwrap();
        assert_eq!(broken.status(), 400);
        let problem: Value = broken.json().await.unwrap();
        assert_eq!(problem["type"], "/api/v1/problems/malformed", "{problem}");
        // A body over the usual 1 MiB limit is fine here (1.5 MB of Korean).
        let big = format!("---\ntitle: Big\n---\n{}\n", "한국어 ".repeat(150_000));
        let reply = send(Some(&admin.token), &form, multipart(boundary, &[("big.md", &big)]).into_bytes()).await.unwrap();
        assert_eq!(reply.status(), 200);
        let report: Value = reply.json().await.unwrap();
        assert_eq!(report["created"], 1, "{report}");
    }
}

on_both_engines! {
    async fn names_suffixes_and_slugs_are_read_as_a_site_means_them(engine: Engine) {
        let env = TestEnv::new(engine).await;
        create_author(&env, "alice");
        let source = tempfile::tempdir().unwrap();
        let dir = source.path();
        let post = |title: &str, extra: &str| format!("---\ntitle: {title}\n{extra}---\nBody of {title}.\n");
        // A lone file's dotted name is its name; files that share a work are translations.
        write(dir, "node.js.md", &post("Node", ""));
        write(dir, "about/index.en.md", &post("About", ""));
        write(dir, "about/index.fr.md", &post("À propos", ""));
        // A slug as written is kept (a long one is not cut); a title-like one is made a slug.
        let long = format!("{}-a1b2c3", "x".repeat(96));
        write(dir, "long.md", &post("Long", &format!("slug: {long}\n")));
        write(dir, "spaced.md", &post("Spaced", "slug: Mixed Case Slug\n"));
        // Two files with one slug: the later fails; a translation is in another language.
        write(dir, "a/same.md", &post("First", ""));
        write(dir, "b/same.md", &post("Second", ""));
        write(dir, "orphan-translation.md", &post("Translated", "originalSlug: node-js\n"));
        write(dir, "feed.md", &post("Feed", ""));
        let (code, summary) = import(&env, &["--author", "alice", "--language", "en", dir.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{summary}");
        assert!(summary.starts_with("created 6, updated 0, unchanged 0, failed 3\n"), "{summary}");
        assert!(summary.contains("b/same.md: line 1: has the slug \"same\" of"), "{summary}");
        assert!(summary.contains("orphan-translation.md: invalid input: originalSlug names a post in the same language"), "{summary}");
        assert!(summary.contains("feed.md: line 1: slug names a route"), "{summary}");
        let (_, again) = import(&env, &["--author", "alice", "--language", "en", dir.to_str().unwrap()]);
        assert!(again.starts_with("created 0, updated 0, unchanged 6, failed 3\n"), "{again}");

        let app = TestApp::spawn_in(env).await;
        let store = app.quire.store();
        let node = store.post_by_slug(&slug("node-js"), None).await.unwrap().unwrap();
        assert_eq!(node.meta.language.as_deref(), Some("en"), "the import's language, not `js`");
        let english = store.post_by_slug(&slug("about"), None).await.unwrap().unwrap();
        let french = store.post_by_slug(&slug("about-fr"), None).await.unwrap().unwrap();
        assert_eq!(english.meta.language.as_deref(), Some("en"));
        assert_eq!(french.meta.language.as_deref(), Some("fr"));
        assert_eq!(french.meta.translation_group, Some(english.id.get()));
        assert!(store.post_by_slug(&slug(&long), None).await.unwrap().is_some(), "{long}");
        assert!(store.post_by_slug(&slug("mixed-case-slug"), None).await.unwrap().is_some());

        // Editing an imported post through RealWorld, title sent as it was, keeps its slug.
        let chief = app.user_with_roles("chief", quire_core::roles::Roles::of(&[quire_core::roles::Role::Editor])).await;
        let edited = app
            .put("/api/articles/node-js", Some(&chief.token), serde_json::json!({"article": {"title": "Node", "body": "Edited."}}))
            .await;
        assert_eq!(edited.status, 200, "{}", edited.body);
        assert_eq!(edited.body["article"]["slug"], "node-js");
    }
}

on_both_engines! {
    async fn series_and_translations_are_offered_by_v1_and_graphql(engine: Engine) {
        let env = TestEnv::new(engine).await;
        create_author(&env, "alice");
        let source = tempfile::tempdir().unwrap();
        let dir = source.path();
        let part = |title: &str, order: i64, extra: &str| {
            format!("---\ntitle: {title}\nseries:\n  name: Backend Engineering\n  order: {order}\n{extra}---\nBody.\n")
        };
        write(dir, "one.md", &part("Part one", 1, "lang: en\n"));
        write(dir, "two.md", &part("Part two", 2, "lang: en\n"));
        write(dir, "three.md", &part("Part three", 3, "lang: en\n"));
        write(dir, "draft.md", &part("Part four", 4, "lang: en\ndraft: true\n"));
        write(dir, "two.ko.md", &part("2부", 2, "lang: ko\noriginalSlug: two\n"));
        let (code, summary) = import(&env, &["--author", "alice", dir.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{summary}");
        let app = TestApp::spawn_in(env).await;
        let id = |slug_text: &'static str| {
            let store = app.quire.store();
            async move { store.post_by_slug(&slug(slug_text), None).await.unwrap().unwrap().id.get() }
        };
        let (one, two, three, korean) = (id("one").await, id("two").await, id("three").await, id("two-ko").await);

        let series = app.get(&format!("/api/v1/posts/{two}/series"), None).await;
        assert_eq!(series.status, 200, "{}", series.body);
        assert_eq!(series.body["name"], "Backend Engineering");
        assert_eq!(series.body["position"], 2);
        let titles: Vec<&str> = series.body["posts"].as_array().unwrap().iter().map(|post| post["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["Part one", "Part two", "Part three"], "published posts in the post's language, in order");
        assert_eq!(series.body["previous"]["postId"], one);
        assert_eq!(series.body["next"]["postId"], three);
        let first = app.get(&format!("/api/v1/posts/{one}/series"), None).await.body;
        assert_eq!(first["previous"], serde_json::Value::Null);
        app.create_article(&app.register("bob").await, "No series", &[]).await;
        let lone = id("no-series").await;
        let none = app.get(&format!("/api/v1/posts/{lone}/series"), None).await;
        assert_eq!(none.status, 404, "{}", none.body);
        assert_eq!(app.get(&format!("/api/v1/posts/{lone}/translations"), None).await.body["items"], serde_json::json!([]));

        let translations = app.get(&format!("/api/v1/posts/{two}/translations"), None).await;
        assert_eq!(translations.status, 200, "{}", translations.body);
        assert_eq!(translations.body["items"][0]["postId"], korean);
        assert_eq!(translations.body["items"][0]["language"], "ko");
        assert_eq!(translations.body["items"].as_array().unwrap().len(), 1);
        let back = app.get(&format!("/api/v1/posts/{korean}/translations"), None).await.body;
        assert_eq!(back["items"][0]["postId"], two);

        let reply = app
            .post(
                "/graphql",
                None,
                serde_json::json!({
                    "query": "query($id: ID!) { post(id: $id) { series { name position posts { slug } previous { slug } next { title } } translations { slug language } } }",
                    "variables": {"id": two.to_string()},
                }),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(reply.body.get("errors").is_none(), "{}", reply.body);
        let post = &reply.body["data"]["post"];
        assert_eq!(post["series"]["previous"]["slug"], "one");
        assert_eq!(post["series"]["next"]["title"], "Part three");
        assert_eq!(post["series"]["posts"].as_array().unwrap().len(), 3);
        assert_eq!(post["translations"], serde_json::json!([{"slug": "two-ko", "language": "ko"}]));
    }
}
