//! The OpenAPI document matches what is served: no route served but undocumented, none
//! documented but not served, and every method exactly as documented.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;

use crate::helpers::{Engine, TestApp};

/// The `/api/v1` paths the router declares, read from its source, in OpenAPI's spelling.
fn served_paths() -> BTreeSet<String> {
    let source = include_str!("../../../http/src/v1.rs");
    source
        .split(".route(")
        .skip(1)
        .filter_map(|rest| {
            let start = rest.find('"')? + 1;
            let end = start + rest[start..].find('"')?;
            Some(format!("/api/v1{}", &rest[start..end]))
        })
        .collect()
}

#[tokio::test]
async fn the_openapi_document_matches_the_routes() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let document = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(document.status, 200);
    assert_eq!(document.body["openapi"], "3.1.0");
    let paths = document.body["paths"].as_object().unwrap();
    let documented: BTreeMap<String, BTreeSet<String>> = paths
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .unwrap()
                .keys()
                .map(|m| m.to_uppercase())
                .collect();
            (path.clone(), methods)
        })
        .collect();
    let documented_paths: BTreeSet<String> = documented.keys().cloned().collect();
    assert_eq!(
        served_paths(),
        documented_paths,
        "served paths and documented paths differ"
    );

    for (path, methods) in &documented {
        let concrete = path
            .split('/')
            .map(|part| if part.starts_with('{') { "1" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let status = app
                .client
                .request(method.clone(), app.url(&concrete))
                .send()
                .await
                .unwrap()
                .status();
            let is_documented = methods.contains(method.as_str());
            assert_eq!(
                status != 405,
                is_documented,
                "{method} {path}: answered {status}, documented: {is_documented}"
            );
        }
    }
}

#[tokio::test]
async fn the_documentation_page_needs_no_internet() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let page = app
        .client
        .get(app.url("/api/v1/docs/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui-bundle.js"));
    for tag in html
        .split("<script")
        .skip(1)
        .chain(html.split("<link").skip(1))
    {
        let head = &tag[..tag.find('>').unwrap_or(tag.len())];
        assert!(
            !head.contains("http://") && !head.contains("https://"),
            "an external asset: {head}"
        );
    }
    let bundle = app
        .client
        .get(app.url("/api/v1/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    assert!(
        bundle.bytes().await.unwrap().len() > 100_000,
        "the bundle is served from the binary"
    );
    let init = app
        .client
        .get(app.url("/api/v1/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert!(init.text().await.unwrap().contains("/api/v1/openapi.json"));
}
