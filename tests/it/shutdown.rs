//! Shutdown of every listener `gatehouse serve` binds: one signal stops the main, metrics and
//! RAGFlow listeners alike, and a request in flight on any of them still gets its answer.

use std::time::Duration;

use gatehouse::server::Server;
use gatehouse::state::AppState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Storage, base_config, ragflow_encrypt};

/// Connecting to `addr` is refused within a few seconds: its listener is closed.
async fn refused(addr: std::net::SocketAddr) -> bool {
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_sign_in_in_flight_on_the_ragflow_listener_is_answered_after_shutdown() {
    let storage = Storage::from_env().await;
    let mut config = base_config(&storage);
    config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    config.ragflow.listen = Some("127.0.0.1:0".parse().unwrap());
    let server = Server::bind(&config).await.unwrap();
    let main = server.main_addr().unwrap();
    let metrics = server.metrics_addr().unwrap();
    let ragflow = server.ragflow_addr().unwrap();
    let state = AppState::build(config, &storage.kv_prefix).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(state, async {
        let _ = stopped.await;
    }));

    // The headers and part of the body: the request is in flight, waiting for the rest.
    let body = serde_json::json!({
        "email": "nobody@example.com",
        "password": ragflow_encrypt("not the password"),
    })
    .to_string();
    let (head, tail) = body.split_at(10);
    let mut conn = TcpStream::connect(ragflow).await.unwrap();
    conn.write_all(
        format!(
            "POST /v1/user/login HTTP/1.1\r\nHost: {ragflow}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{head}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // Time for the server to read the headers; a connection with no request begun would be
    // closed at shutdown instead.
    tokio::time::sleep(Duration::from_millis(500)).await;

    stop.send(()).unwrap();
    assert!(refused(main).await, "the main listener still accepts");
    assert!(refused(metrics).await, "the metrics listener still accepts");
    assert!(refused(ragflow).await, "the RAGFlow listener still accepts");
    assert!(!running.is_finished(), "stopped with a request in flight");

    conn.write_all(tail.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_string(&mut answer))
        .await
        .expect("no answer after shutdown")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.contains("\"code\""), "{answer}");
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the server did not finish")
        .unwrap()
        .unwrap();
}
