//! The Atom feed and the sitemaps: links to the site that shows the posts, with `hreflang`
//! alternates for translations; well-formed XML whatever the posts hold.

use crate::helpers::{TestApp, TestEnv, on_both_engines};

/// Reads `xml` through, failing on the first thing that is not well-formed.
fn assert_well_formed(xml: &str) {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(error) => panic!(
                "not well-formed at {}: {error}\n{xml}",
                reader.buffer_position()
            ),
        }
    }
}

async fn fetch(app: &TestApp, path: &str) -> (u16, String, String) {
    let reply = app.client.get(app.url(path)).send().await.unwrap();
    let status = reply.status().as_u16();
    let content_type = reply
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, reply.text().await.unwrap())
}

on_both_engines! {
    async fn the_feed_and_the_sitemaps_link_every_version(engine: Engine) {
        let env = TestEnv::new(engine).await;
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_quire"))
            .env_clear()
            .envs(env.vars())
            .args(["user", "create", "--username", "alice", "--email", "alice@example.com"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let source = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(source.path().join(name), text).unwrap();
        write("two.md", "---\ntitle: Two & <more>\nlang: en\ntags: [rust]\n---\nBody with <script>alert(1)</script> & **bold**.\n");
        write("two.ko.md", "---\ntitle: 둘\nlang: ko\noriginalSlug: two\n---\n본문.\n");
        write("draft.md", "---\ntitle: Hidden\nlang: en\ndraft: true\n---\nSecret.\n");
        write("백엔드.md", "---\ntitle: 백엔드\nlang: ko\n---\n한국어.\n");
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_quire"))
            .env_clear()
            .envs(env.vars())
            .args(["import", "--author", "alice", source.path().to_str().unwrap()])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let mut config = env.config();
        config.site.url = "https://blog.example.com".to_owned();
        config.site.post_path = "/p/{slug}".to_owned();
        config.site.title = "A & B".to_owned();
        let app = TestApp::spawn_with(config, env).await;
        // A character XML forbids, stored as the API takes it, spoils nothing.
        let bob = app.register("bob").await;
        let created = app
            .client
            .post(app.url("/api/v1/posts"))
            .bearer_auth(&bob.token)
            .json(&serde_json::json!({"title": "Bell", "description": "ding\u{7} dong", "content": "Body \u{1b}[31m"}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let two = {
            use quire_core::ports::PostStore;
            app.quire
                .store()
                .post_by_slug(&quire_core::values::Slug::parse("two").unwrap(), None)
                .await
                .unwrap()
                .unwrap()
                .id
                .get()
        };

        let (status, content_type, feed) = fetch(&app, "/feed.atom").await;
        assert_eq!(status, 200, "{feed}");
        assert!(content_type.starts_with("application/atom+xml"), "{content_type}");
        assert_well_formed(&feed);
        assert!(feed.contains("<title>A &amp; B</title>"), "{feed}");
        assert!(feed.contains("ding\u{FFFD} dong"), "{feed}");
        assert!(feed.contains(&format!("<id>tag:blog.example.com,2026:post:{two}</id>")), "an id that outlives the slug: {feed}");
        assert!(feed.contains(r#"<link rel="self" href="https://blog.example.com/feed.atom"/>"#), "{feed}");
        assert!(feed.contains("<title>Two &amp; &lt;more&gt;</title>"), "{feed}");
        assert!(feed.contains(r#"<link rel="alternate" href="https://blog.example.com/p/two" hreflang="en"/>"#), "{feed}");
        assert!(feed.contains(r#"<link rel="alternate" href="https://blog.example.com/p/two-ko" hreflang="ko"/>"#), "{feed}");
        assert!(feed.contains("https://blog.example.com/p/%EB%B0%B1%EC%97%94%EB%93%9C"), "a slug in Hangul is percent-encoded: {feed}");
        assert!(feed.contains(r#"<category term="rust"/>"#), "{feed}");
        assert!(!feed.contains("Hidden") && !feed.contains("Secret"), "no drafts: {feed}");
        assert!(!feed.contains("<script") && !feed.contains("&lt;script"), "the rendered body is sanitized: {feed}");
        let (_, _, korean) = fetch(&app, "/feed.atom?lang=ko").await;
        assert_well_formed(&korean);
        assert!(korean.contains("<title>둘</title>") && !korean.contains("Two &amp;"), "{korean}");
        assert!(korean.contains(r#"<id>https://blog.example.com/feed.atom?lang=ko</id>"#), "each filter is its own feed: {korean}");
        assert!(korean.contains(r#"xml:lang="ko""#), "{korean}");

        let (status, content_type, index) = fetch(&app, "/sitemap.xml").await;
        assert_eq!(status, 200);
        assert!(content_type.starts_with("application/xml"), "{content_type}");
        assert_well_formed(&index);
        assert!(index.contains("<loc>https://blog.example.com/sitemaps/posts-0.xml</loc>"), "{index}");
        let (status, _, sitemap) = fetch(&app, "/sitemaps/posts-0.xml").await;
        assert_eq!(status, 200, "{sitemap}");
        assert_well_formed(&sitemap);
        assert!(sitemap.contains("<loc>https://blog.example.com/p/two</loc>"), "{sitemap}");
        assert!(sitemap.contains(r#"<xhtml:link rel="alternate" hreflang="ko" href="https://blog.example.com/p/two-ko"/>"#), "{sitemap}");
        assert!(sitemap.contains(r#"<xhtml:link rel="alternate" hreflang="en" href="https://blog.example.com/p/two"/>"#), "{sitemap}");
        assert!(!sitemap.contains("/p/draft"), "no drafts: {sitemap}");
        assert_eq!(sitemap.matches("<url>").count(), 4, "{sitemap}");
        assert_eq!(fetch(&app, "/sitemaps/posts-00.xml").await.0, 404, "one address per file");
        assert_eq!(fetch(&app, "/sitemaps/posts-x.xml").await.0, 404);
        assert_eq!(fetch(&app, "/sitemaps/posts-7.xml").await.0, 200, "an empty block is an empty sitemap");
    }
}

on_both_engines! {
    async fn a_post_is_read_in_the_language_asked_for(engine: Engine) {
        let env = TestEnv::new(engine).await;
        let quire = |args: &[&str]| {
            let output = std::process::Command::new(env!("CARGO_BIN_EXE_quire"))
                .env_clear()
                .envs(env.vars())
                .args(args)
                .output()
                .unwrap();
            assert!(output.status.success(), "{output:?}");
        };
        quire(&["user", "create", "--username", "alice", "--email", "alice@example.com"]);
        let source = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(source.path().join(name), text).unwrap();
        write("two.md", "---\ntitle: Two\nlang: en\n---\nEnglish.\n");
        write("two.ko.md", "---\ntitle: 둘\nlang: ko-KR\noriginalSlug: two\n---\n한국어.\n");
        write("solo.md", "---\ntitle: Solo\nlang: en\n---\nAlone.\n");
        quire(&["import", "--author", "alice", source.path().to_str().unwrap()]);
        let mut config = env.config();
        config.site.language = Some("ko".to_owned());
        let app = TestApp::spawn_with(config, env).await;
        let store = app.quire.store();
        use quire_core::ports::PostStore;
        let id = |slug: &'static str| async move {
            store
                .post_by_slug(&quire_core::values::Slug::parse(slug).unwrap(), None)
                .await
                .unwrap()
                .unwrap()
                .id
                .get()
        };
        let (two, korean, solo) = (id("two").await, id("two-ko-kr").await, id("solo").await);
        let read = |path: String, languages: Option<&'static str>| {
            let mut request = app.client.get(app.url(&path));
            if let Some(languages) = languages {
                request = request.header("accept-language", languages);
            }
            async move {
                let reply = request.send().await.unwrap();
                let language = reply.headers().get("content-language").map(|v| v.to_str().unwrap().to_owned());
                let vary = reply.headers().get_all("vary").iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>().join(", ");
                let body: serde_json::Value = reply.json().await.unwrap();
                (body["postId"].as_i64().unwrap(), language, vary)
            }
        };
        let (got, language, _) = read(format!("/api/v1/posts/{two}?lang=ko"), None).await;
        assert_eq!((got, language.as_deref()), (korean, Some("ko-KR")), "ko takes ko-KR");
        let (got, _, vary) = read(format!("/api/v1/posts/{two}"), Some("ko-KR,ko;q=0.9,en;q=0.8")).await;
        assert_eq!(got, korean);
        assert!(vary.contains("Accept-Language"), "{vary}");
        // One reader's languages never answer another's, cached or not.
        for _ in 0..2 {
            assert_eq!(read(format!("/api/v1/posts/{two}"), Some("en")).await.0, two);
            assert_eq!(read(format!("/api/v1/posts/{two}"), Some("ko")).await.0, korean);
            assert_eq!(read(format!("/api/v1/posts/{korean}"), Some("en-GB, ko;q=0.5")).await.0, two);
        }
        // Nothing asked for is there: the site's language; no language asked: the post itself.
        assert_eq!(read(format!("/api/v1/posts/{two}"), Some("fr")).await.0, korean);
        let (got, _, vary) = read(format!("/api/v1/posts/{two}"), None).await;
        assert_eq!(got, two);
        assert!(vary.contains("Accept-Language"), "a shared cache keeps readers' languages apart: {vary}");
        assert_eq!(read(format!("/api/v1/posts/{two}"), Some("ko;Q=0, en")).await.0, two, "a refused language");
        let (got, language, _) = read(format!("/api/v1/posts/{solo}?lang=ko"), None).await;
        assert_eq!((got, language.as_deref()), (solo, Some("en")), "a post without translations is itself");
    }
}
