//! Ranked full-text search: BM25 with titles weighing most, Korean, Japanese and Chinese by
//! bigrams, filters, snippets, the index following every write, every contract, hostile
//! queries, and the same ranking on both engines.

use std::path::PathBuf;

use quire_grpc::pb::post_service_client::PostServiceClient;
use quire_proto::v1 as pb;
use serde_json::{Value, json};

use crate::helpers::{Engine, TestApp, TestEnv, TestUser, on_both_engines, quire, signed};

/// Creates a post through `/api/v1` and answers its id.
async fn publish(app: &TestApp, author: &TestUser, post: Value) -> i64 {
    let reply = app
        .client
        .post(app.url("/api/v1/posts"))
        .header("authorization", format!("Bearer {}", author.token))
        .json(&post)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 201);
    reply.json::<Value>().await.unwrap()["postId"]
        .as_i64()
        .unwrap()
}

/// `GET /api/v1/search` with `query` (already encoded): the status and the body.
async fn search(app: &TestApp, query: &str) -> (u16, Value) {
    let reply = app
        .client
        .get(app.url(&format!("/api/v1/search?{query}")))
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    let text = reply.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The titles a search finds, best first.
async fn titles(app: &TestApp, query: &str) -> Vec<String> {
    let (status, body) = search(app, query).await;
    assert_eq!(status, 200, "{query}: {body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["post"]["title"].as_str().unwrap().to_owned())
        .collect()
}

/// `text` as a query-string value.
fn encode(text: &str) -> String {
    let mut url = reqwest::Url::parse("http://localhost/").unwrap();
    url.query_pairs_mut().append_pair("q", text);
    url.query().unwrap()["q=".len()..].to_owned()
}

on_both_engines! {
    async fn search_ranks_filters_follows_writes_and_refuses_nothing_with_a_500(engine: Engine) {
        let app = TestApp::spawn(engine).await;
        let alice = app.register("alice").await;
        let bob = app.register("bob").await;
        let guide = publish(&app, &alice, json!({"title": "Backend engineering", "description": "A guide", "content": "Systems and databases.", "language": "en", "tags": ["guide"]})).await;
        let notes = publish(&app, &alice, json!({"title": "Notes", "description": "misc", "content": "Some backend thoughts about caching and more.", "language": "en"})).await;
        publish(&app, &alice, json!({"title": "백엔드 개발 심층 분석", "description": "엔지니어링 가이드입니다", "content": "현대 애플리케이션의 디지털 기반을 분석합니다.", "language": "ko", "tags": ["guide"]})).await;
        publish(&app, &alice, json!({"title": "数学の変換", "description": "d", "content": "テキストを数式に変換する。", "language": "ja"})).await;
        publish(&app, &alice, json!({"title": "架构师的技术栈", "description": "d", "content": "后端开发。", "language": "zh-CN"})).await;
        publish(&app, &alice, json!({"title": "Backend draft", "description": "d", "content": "backend", "status": "draft"})).await;
        publish(&app, &bob, json!({"title": "Bob's backend", "description": "d", "content": "x"})).await;

        // Titles weigh most; drafts are never found; every word must be there.
        // A title's match outranks a body's; of two title matches, the shorter post comes first
        // (BM25's length normalization).
        assert_eq!(titles(&app, "q=backend").await, ["Bob's backend", "Backend engineering", "Notes"]);
        assert_eq!(titles(&app, "q=BACKEND+caching").await, ["Notes"]);
        assert!(titles(&app, "q=backend+nowhere").await.is_empty());
        // A two-syllable Korean word finds the longer word it starts (분석 in 분석합니다).
        let (_, found) = search(&app, &format!("q={}", encode("분석"))).await;
        assert_eq!(found["items"][0]["post"]["title"], "백엔드 개발 심층 분석");
        let snippet = found["items"][0]["snippet"].as_str().unwrap();
        assert!(snippet.contains("<mark>분석</mark>합니다"), "{snippet}");
        assert_eq!(titles(&app, &format!("q={}", encode("変換"))).await, ["数学の変換"]);
        assert_eq!(titles(&app, &format!("q={}", encode("技术"))).await, ["架构师的技术栈"]);
        assert_eq!(titles(&app, &format!("q={}", encode("가이드"))).await, ["백엔드 개발 심층 분석"], "descriptions are searched");

        // Filters: language (any case), tag, author.
        assert_eq!(titles(&app, "q=backend&lang=EN").await, ["Backend engineering", "Notes"]);
        assert_eq!(titles(&app, "q=backend&tag=guide").await, ["Backend engineering"]);
        assert_eq!(titles(&app, "q=backend&author=bob").await, ["Bob's backend"]);
        assert!(titles(&app, "q=backend&author=nobody").await.is_empty());
        assert_eq!(titles(&app, "q=backend&limit=1&offset=1").await, ["Backend engineering"]);

        // The index follows each write: an edit, a deletion.
        let patch = app
            .client
            .patch(app.url(&format!("/api/v1/posts/{notes}")))
            .header("authorization", format!("Bearer {}", alice.token))
            .header("content-type", "application/merge-patch+json")
            .body(json!({"content": "Nothing about servers."}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(patch.status(), 200);
        assert!(titles(&app, "q=caching").await.is_empty());
        assert_eq!(titles(&app, "q=servers").await, ["Notes"]);
        let deleted = app
            .client
            .delete(app.url(&format!("/api/v1/posts/{guide}")))
            .header("authorization", format!("Bearer {}", alice.token))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        assert_eq!(titles(&app, "q=backend").await, ["Bob's backend"]);

        // A rebuild gives the same answers.
        let indexed = app.quire.reindex_search(false, |_| {}).await.unwrap();
        assert_eq!(indexed, 6);
        assert_eq!(titles(&app, "q=backend").await, ["Bob's backend"]);
        assert_eq!(titles(&app, "q=servers").await, ["Notes"]);

        // Hostile queries: plain words or a 400, never a 500.
        let long = "a ".repeat(5_000);
        let hostile = ["\"", "\"unterminated", "*", "a*", "NEAR(a b)", "AND OR NOT", "\0", "'; DROP TABLE posts; --", "{}", "\\", "^", "title:backend", "-backend", long.as_str()];
        for text in hostile {
            let (status, body) = search(&app, &format!("q={}", encode(text))).await;
            assert!(status == 200 || status == 400, "{text:?}: {status} {body}");
        }
        let (status, body) = search(&app, &format!("q={}", encode(&long))).await;
        assert_eq!(status, 400, "{body}");
        let many: String = (0..40).map(|n| format!("w{n} ")).collect();
        assert_eq!(search(&app, &format!("q={}", encode(&many))).await.0, 400, "too many words");
        for bad in ["", "q=x&limit=0", "q=x&limit=51", "q=x&limit=two", "q=x&offset=1001", "q=x&lang=%21%21"] {
            let (status, body) = search(&app, bad).await;
            assert_eq!(status, 400, "{bad}: {body}");
            assert!(body["type"].as_str().is_some(), "a problem document: {body}");
        }
        assert_eq!(search(&app, "q=%22").await, (200, json!({"items": []})));

        // GraphQL and gRPC answer the same search.
        let reply = app
            .post("/graphql", None, json!({"query": "query($q: String!) { search(q: $q, lang: \"ko\") { score snippet post { title language } } }", "variables": {"q": "분석"}}))
            .await;
        assert_eq!(reply.body["data"]["search"][0]["post"]["title"], "백엔드 개발 심층 분석", "{}", reply.body);
        assert!(reply.body["data"]["search"][0]["snippet"].as_str().unwrap().contains("<mark>"));
        let reply = app.post("/graphql", None, json!({"query": "{ search(q: \"x\", first: 0) { score } }"})).await;
        assert!(reply.body["errors"].is_array(), "{}", reply.body);
        let mut posts = PostServiceClient::new(app.grpc_channel().await);
        let found = posts
            .search_posts(signed(&bob.token, pb::SearchRequest { q: "backend".into(), ..Default::default() }))
            .await
            .unwrap()
            .into_inner();
        let found: Vec<&str> = found.items.iter().map(|hit| hit.post.as_ref().unwrap().title.as_str()).collect();
        assert_eq!(found, ["Bob's backend"]);
        let refused = posts
            .search_posts(pb::SearchRequest { q: "x".into(), limit: Some(99), ..Default::default() })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    }
}

on_both_engines! {
    async fn the_best_matches_are_those_scoring_every_match_would_give(engine: Engine) {
        use quire_core::model::search_document;
        use quire_core::values::{Description, Title};

        let app = TestApp::spawn(engine).await;
        let alice = app.register("alice").await;
        // 150 posts: `alpha` in three of five, `beta` in every other, the one often where the
        // other is rare, with filler of a length of the post's own (so no two score alike);
        // every tenth a draft. More match than one pass reads, and the posts where `beta`
        // (the rarer) weighs most are not the best matches of both: a search must read on
        // until nothing unread can rank.
        let mut documents = Vec::new();
        for n in 0..150u32 {
            let title = format!("Post {n}");
            let often = 1 + (n * 7 % 13) as usize;
            let mut body = String::new();
            if n % 5 < 3 {
                body.push_str(&"alpha ".repeat(often));
            }
            if n % 2 == 0 {
                body.push_str(&"beta ".repeat(15 - often));
            }
            body.push_str(&"filler ".repeat((n * 37 % 400) as usize + n as usize));
            let draft = n % 10 == 9;
            let mut post = json!({"title": title, "description": "d", "content": body});
            if draft {
                post["status"] = json!("draft");
            }
            publish(&app, &alice, post).await;
            let document = search_document(&Title::parse(&title).unwrap(), &Description::parse("d").unwrap(), &body);
            documents.push((title, draft, document));
        }
        // BM25's idf over every indexed post, drafts too, as the index counts them.
        let indexed = documents.len() as f64;
        let idf = |term: &str| {
            let df = documents.iter().filter(|(_, _, d)| d.postings.iter().any(|(t, _)| t == term)).count() as f64;
            (1.0 + (indexed - df + 0.5) / (df + 0.5)).ln()
        };
        for query in [vec!["alpha"], vec!["beta"], vec!["alpha", "beta"], vec!["beta", "alpha", "filler"], vec!["filler"]] {
            let mut expected: Vec<(f64, usize, &str)> = documents
                .iter()
                .enumerate()
                .filter(|(_, (_, draft, _))| !draft)
                .filter_map(|(n, (title, _, document))| {
                    let impacts: Vec<(&str, u32)> = document.impacts().collect();
                    let mut score = 0.0;
                    for term in &query {
                        let (_, impact) = impacts.iter().find(|(t, _)| t == term)?;
                        score += idf(term) * f64::from(*impact);
                    }
                    Some((score / quire_content::search::IMPACT_SCALE, n, title.as_str()))
                })
                .collect();
            // Best first; the newer post first among equals.
            expected.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
            for (limit, offset) in [(10, 0), (5, 20), (50, 60), (20, 120)] {
                let (status, body) = search(&app, &format!("q={}&limit={limit}&offset={offset}", query.join("+"))).await;
                assert_eq!(status, 200, "{body}");
                let found: Vec<(f64, &str)> = body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|hit| (hit["score"].as_f64().unwrap(), hit["post"]["title"].as_str().unwrap()))
                    .collect();
                let want: Vec<(f64, &str)> = expected.iter().skip(offset).take(limit).map(|(score, _, title)| (*score, *title)).collect();
                assert_eq!(
                    found.iter().map(|(_, title)| *title).collect::<Vec<_>>(),
                    want.iter().map(|(_, title)| *title).collect::<Vec<_>>(),
                    "{query:?} limit {limit} offset {offset}"
                );
                for ((got, _), (wanted, _)) in found.iter().zip(&want) {
                    assert!((got - wanted).abs() <= wanted.abs() * 1e-9, "{query:?}: {got} against {wanted}");
                }
            }
        }
    }
}

on_both_engines! {
    async fn an_index_entry_is_never_older_than_its_post(engine: Engine) {
        use quire_core::model::{IndexEntry, PostChanges, search_document};
        use quire_core::ports::{PostStore, SearchStore};
        use quire_core::time::Timestamp;
        use quire_core::values::{Description, Title};

        let app = TestApp::spawn(engine).await;
        let alice = app.register("alice").await;
        let id = publish(&app, &alice, json!({"title": "Original title", "description": "d", "content": "Original body."})).await;
        let post_id = quire_core::ids::PostId::new(id);
        let store = app.quire.store();
        let post = store.post(post_id, None).await.unwrap().unwrap();

        // An entry made from an older version of the post (another write came between) is
        // not written: the store makes one from the post as this write leaves it.
        let stale = search_document(&Title::parse("Stale words").unwrap(), &Description::parse("d").unwrap(), "stale");
        let mut changes = PostChanges::at(Timestamp::from_millis(post.updated_at.as_millis() + 1));
        changes.title = Some(Title::parse("Fresh title").unwrap());
        changes.search = Some(IndexEntry { document: stale.clone(), made_from: Timestamp::from_millis(1) });
        store.update_post(post_id, &changes, &|_| Vec::new()).await.unwrap();
        assert!(titles(&app, "q=stale").await.is_empty());
        assert_eq!(titles(&app, "q=fresh+original+body").await, ["Fresh title"]);

        // A rebuild that read the post before a write writes nothing for it.
        let before = Timestamp::from_millis(1);
        store.write_search_documents(&[(post_id, before, stale)]).await.unwrap();
        assert!(titles(&app, "q=stale").await.is_empty());
        assert_eq!(titles(&app, "q=fresh").await, ["Fresh title"]);
    }
}

/// Queries over the sample corpus: English, Korean, Japanese, Chinese, and words many posts
/// share, so that the ranking (not only the matching) is compared.
const CORPUS_QUERIES: [&str; 14] = [
    "분석",
    "심층",
    "백엔드",
    "백엔드 개발",
    "backend",
    "lexicon",
    "dive",
    "release",
    "変換",
    "数学",
    "markdown",
    "hugo",
    "the",
    "ai",
];

/// The English original of the Korean guide (its `originalSlug`), its first paragraph.
const ENGLISH_GUIDE: &str = "---\ntitle: Deep Dive into Backend Development\nlang: en\n\
    published: 2025-04-28\n---\n\nIn the lexicon of software development, the term \"backend\" \
    is often simplified to \"what happens on the server.\" This definition, while not \
    incorrect, is fundamentally incomplete.\n";

/// The corpus, the Korean guide and its English original imported into a fresh database of
/// `engine`, reindexed by the command line; a server over it.
async fn corpus_app(engine: Engine) -> TestApp {
    let samples = PathBuf::from(std::env::var("QUIRE_TEST_SAMPLES").unwrap());
    let env = TestEnv::new(engine).await;
    let output = quire(
        &env,
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--email",
            "alice@example.com",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let corpus = samples.join("corpus");
    let guide = samples.join("deep-dive-into-backend-development.ko.md");
    let english = tempfile::tempdir().unwrap();
    let original = english.path().join("deep-dive-into-backend-development.md");
    std::fs::write(&original, ENGLISH_GUIDE).unwrap();
    let output = quire(
        &env,
        &[
            "import",
            "--author",
            "alice",
            corpus.to_str().unwrap(),
            guide.to_str().unwrap(),
            original.to_str().unwrap(),
        ],
    );
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.starts_with("created 14,"), "{summary}");
    let output = quire(&env, &["search", "reindex"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "indexed 14 posts"
    );
    TestApp::spawn_in(env).await
}

/// The titles each of [`CORPUS_QUERIES`] finds in the corpus on `engine`, best first.
async fn corpus_rankings(engine: Engine) -> Vec<(String, Vec<String>)> {
    let app = corpus_app(engine).await;
    let mut rankings = Vec::new();
    for query in CORPUS_QUERIES {
        rankings.push((
            query.to_owned(),
            titles(&app, &format!("q={}", encode(query))).await,
        ));
    }
    rankings
}

mod the_sample_corpus {
    use super::*;

    /// The guide's own two-syllable word finds it, ranked first.
    #[tokio::test]
    #[cfg_attr(
        not(quire_test_samples),
        ignore = "QUIRE_TEST_SAMPLES is not set (the shared samples folder)"
    )]
    async fn finds_the_korean_guide_by_a_two_syllable_word() {
        let app = corpus_app(Engine::Sqlite).await;
        // A two-syllable Korean word from the guide, a word of its English original, a title
        // word: each finds its post first, and the snippet marks the match.
        for (query, title, marked) in [
            ("분석", "백엔드 개발 심층 분석", "<mark>분석</mark>"),
            (
                "lexicon",
                "Deep Dive into Backend Development",
                "<mark>lexicon</mark>",
            ),
            ("심층", "백엔드 개발 심층 분석", ""),
            ("dive", "Deep Dive into Backend Development", ""),
        ] {
            let (status, found) = search(&app, &format!("q={}", encode(query))).await;
            assert_eq!(status, 200);
            assert_eq!(
                found["items"][0]["post"]["title"], title,
                "{query}: {found}"
            );
            let snippet = found["items"][0]["snippet"].as_str().unwrap();
            assert!(snippet.contains(marked), "{query}: {snippet}");
        }
        let (_, found) = search(&app, &format!("q={}&lang=en", encode("backend"))).await;
        assert!(
            found["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|hit| hit["post"]["language"] == "en"),
            "{found}"
        );

        // gRPC: the guide's series and its translation.
        let (_, found) = search(&app, &format!("q={}", encode("심층"))).await;
        let guide = found["items"][0]["post"]["postId"].as_i64().unwrap();
        let mut posts = PostServiceClient::new(app.grpc_channel().await);
        let series = posts
            .get_post_series(pb::PostRef { post_id: guide })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (series.name.as_str(), series.position),
            ("Backend Engineering", 1)
        );
        assert_eq!(series.posts.len(), 1);
        let translations = posts
            .list_translations(pb::PostRef { post_id: guide })
            .await
            .unwrap()
            .into_inner();
        let languages: Vec<_> = translations
            .items
            .iter()
            .map(|link| (link.language.as_deref(), link.slug.as_str()))
            .collect();
        assert_eq!(
            languages,
            [(Some("en"), "deep-dive-into-backend-development")]
        );
        let (_, found) = search(&app, "q=lexicon").await;
        let english = found["items"][0]["post"]["postId"].as_i64().unwrap();
        let none = posts
            .get_post_series(pb::PostRef { post_id: english })
            .await
            .unwrap_err();
        assert_eq!(
            none.code(),
            tonic::Code::NotFound,
            "the English original is in no series"
        );
    }

    #[tokio::test]
    #[cfg_attr(
        not(all(quire_test_samples, quire_test_postgres)),
        ignore = "QUIRE_TEST_SAMPLES (the shared samples folder) or QUIRE_TEST_POSTGRES_URL is not set"
    )]
    async fn ranks_alike_on_both_engines() {
        let sqlite = corpus_rankings(Engine::Sqlite).await;
        let postgres = corpus_rankings(Engine::Postgres).await;
        for ((query, on_sqlite), (_, on_postgres)) in sqlite.iter().zip(&postgres) {
            let top = on_sqlite.len().min(5);
            assert_eq!(
                on_sqlite[..top],
                on_postgres[..on_postgres.len().min(5)],
                "the top results for {query}"
            );
            assert_eq!(on_sqlite.len(), on_postgres.len(), "{query}");
        }
    }
}
