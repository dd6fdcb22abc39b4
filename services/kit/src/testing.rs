//! Test support (feature `testing`): a fake analytics service on a free port that hands
//! every event it receives, with its `x-microdeck-caller`, to the test.

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// One received event: the caller header and the JSON body.
pub type Received = (String, serde_json::Value);

/// Starts the fake; returns its URL and the receiving end. It stops with the test's runtime.
pub async fn fake_analytics() -> std::io::Result<(String, mpsc::Receiver<Received>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = mpsc::channel::<Received>(64);
    let app = Router::new().route(
        "/events",
        post(move |h: HeaderMap, Json(v): Json<serde_json::Value>| {
            let tx = tx.clone();
            async move {
                let caller = h.get(crate::CALLER_HEADER).and_then(|c| c.to_str().ok()).unwrap_or("").to_string();
                match tx.send((caller, v)).await {
                    Ok(()) => StatusCode::ACCEPTED,
                    Err(_) => StatusCode::SERVICE_UNAVAILABLE,
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, rx))
}
