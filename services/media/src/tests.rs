//! Handler tests of media, through `Router::oneshot`.

use std::time::Duration;

use axum::http::{HeaderMap, Request};
use http_body_util::BodyExt;

use super::*;

const DEADLINE: Duration = Duration::from_secs(30);

/// A data folder removed when the test ends.
fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn app(dir: &std::path::Path) -> Router {
    let store = Store::open(dir).unwrap();
    service_kit::app(&service_kit::Config::for_test("media", dir), router(store, Analytics::new(None, "media")))
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let resp = tokio::time::timeout(DEADLINE, app.clone().oneshot(req)).await.unwrap().unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.into_body().collect().await.unwrap().to_bytes().to_vec())
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn upload_list_download_and_range() {
    let tmp = tempdir();
    let dir = tmp.path().to_path_buf();
    let app = app(&dir);
    let text = b"0123456789abcdef".to_vec();
    let (status, _, body) = call(&app, Request::put("/objects/notes.txt").body(Body::from(text.clone())).unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));

    let (status, _, body) = call(&app, get("/objects")).await;
    assert_eq!(status, StatusCode::OK);
    let all: Vec<ObjectInfo> = serde_json::from_slice(&body).unwrap();
    let notes = all.iter().find(|o| o.name == "notes.txt").unwrap();
    assert_eq!((notes.size, notes.content_type.as_str()), (16, "text/plain"));
    assert!(all.iter().any(|o| o.name == "sunset.png"), "seeded images listed: {all:?}");

    let (status, headers, body) = call(&app, get("/objects/notes.txt")).await;
    assert_eq!((status, body), (StatusCode::OK, text));
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain"));

    let ranged = Request::get("/objects/notes.txt").header(header::RANGE, "bytes=2-5").body(Body::empty()).unwrap();
    let (status, headers, body) = call(&app, ranged).await;
    assert_eq!((status, body.as_slice()), (StatusCode::PARTIAL_CONTENT, b"2345".as_slice()));
    assert_eq!(headers[header::CONTENT_RANGE], "bytes 2-5/16");

    let (status, _, _) = call(&app, get("/objects/missing.txt")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(&app, Request::put("/objects/.hidden").body(Body::from("x")).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn thumbnails_are_computed_to_the_asked_size() {
    let tmp = tempdir();
    let app = app(tmp.path());
    let (status, _, body) = call(&app, get("/objects/sunset.png")).await;
    assert_eq!(status, StatusCode::OK);
    let original = image::load_from_memory(&body).unwrap();
    assert_eq!((original.width(), original.height()), (1024, 768));

    let (status, headers, body) = call(&app, get("/objects/sunset.png/thumbnail?size=64")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    let thumb = image::load_from_memory(&body).unwrap();
    // Fits 64×64 and keeps the 4:3 aspect ratio.
    assert_eq!((thumb.width(), thumb.height()), (64, 48));

    let (status, _, _) = call(&app, get("/objects/welcome.txt/thumbnail")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _, _) = call(&app, get("/objects/nothing.png/thumbnail")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn seeding_happens_once_and_deleted_objects_stay_deleted() {
    let tmp = tempdir();
    let dir = tmp.path().to_path_buf();
    drop(app(&dir));
    std::fs::remove_file(dir.join("objects/tiles.png")).unwrap();
    let app = app(&dir);
    let (status, _, _) = call(&app, get("/objects/tiles.png")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn uploads_downloads_and_lists_post_events() {
    let (url, mut rx) = service_kit::testing::fake_analytics().await.unwrap();
    let tmp = tempdir();
    let dir = tmp.path().to_path_buf();
    let app = service_kit::app(
        &service_kit::Config::for_test("media", &dir),
        router(Store::open(&dir).unwrap(), Analytics::new(Some(url), "media")),
    );
    call(&app, Request::put("/objects/e.txt").body(Body::from("e")).unwrap()).await;
    call(&app, get("/objects/e.txt")).await;
    call(&app, get("/objects")).await;
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let (caller, ev) = tokio::time::timeout(DEADLINE, rx.recv()).await.unwrap().unwrap();
        assert_eq!((caller.as_str(), ev["source"].as_str()), ("media", Some("media")));
        kinds.push(ev["kind"].as_str().unwrap().to_string());
    }
    kinds.sort();
    assert_eq!(kinds, ["download", "list", "upload"]);
}
