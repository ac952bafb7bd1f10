//! A bare axum "Hello, World!" on the same runtime quire uses: the ceiling that
//! `bench/reads.sh` measures quire's cached reads against, side by side, on the same machine.
//!
//!   cargo run --release -p quire-bench-hello -- 127.0.0.1:0

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("{}", listener.local_addr()?);
    let app = Router::new().route("/", get(|| async { "Hello, World!" }));
    axum::serve(listener, app).await
}
