//! A line-based proxy built from the tokio adapters and an existing tokio crate: an upstream
//! server answers each line in upper case (`tokio_util::codec::Framed` with `LinesCodec` over an
//! `asock::future::SocketStream`); a proxy relays bytes both ways with
//! `tokio::io::copy_bidirectional`; a client sends a fixed set of lines through the proxy with
//! `LinesCodec`, checks every answer, shuts down, and everything ends.
//!
//! `cargo run -p asock --features tokio --example proxy -- [lines]`

use std::time::Duration;

use asock::future::{Listener, SocketStream};
use asock::ExecutionEngine;
use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{Framed, LinesCodec};

type Error = Box<dyn std::error::Error + Send + Sync>;
const TIMEOUT: Duration = Duration::from_secs(5);

/// The upstream server: one connection, each line answered in upper case until end of stream.
async fn upstream(listener: Listener) -> Result<usize, Error> {
    let (stream, _peer) = listener.accept_stream().await?;
    let mut lines = Framed::new(stream, LinesCodec::new());
    let mut answered = 0;
    while let Some(line) = lines.next().await {
        lines.send(line?.to_uppercase()).await?;
        answered += 1;
    }
    lines.get_mut().shutdown().await?;
    Ok(answered)
}

/// The proxy: one client connection, relayed to upstream and back until both directions end.
async fn proxy(
    listener: Listener,
    engine: ExecutionEngine,
    upstream_port: u16,
) -> Result<(u64, u64), Error> {
    let (mut client, _peer) = listener.accept_stream().await?;
    let mut server = SocketStream::connect(&engine, "127.0.0.1", upstream_port, TIMEOUT).await?;
    // Copies each way; when one side ends, shuts the other down for writing (half-close).
    Ok(tokio::io::copy_bidirectional(&mut client, &mut server).await?)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let count: usize = std::env::args().nth(1).map_or(Ok(10), |s| s.parse())?;
    let engine = ExecutionEngine::new(None)?;

    let upstream_listener = Listener::bind(&engine, "127.0.0.1:0")?;
    let upstream_port = upstream_listener.local_addr()?.port();
    let proxy_listener = Listener::bind(&engine, "127.0.0.1:0")?;
    let proxy_port = proxy_listener.local_addr()?.port();
    println!("upstream on 127.0.0.1:{upstream_port}, proxy on 127.0.0.1:{proxy_port}");
    let upstream = tokio::spawn(upstream(upstream_listener));
    let proxy = tokio::spawn(proxy(proxy_listener, engine.clone(), upstream_port));

    let stream = SocketStream::connect(&engine, "127.0.0.1", proxy_port, TIMEOUT).await?;
    let mut lines = Framed::new(stream, LinesCodec::new());
    for i in 0..count {
        let line = format!("line {i} through the proxy");
        lines.send(line.clone()).await?;
        let answer = tokio::time::timeout(TIMEOUT, lines.next())
            .await?
            .ok_or("the proxy closed early")??;
        if answer != line.to_uppercase() {
            return Err(format!("unexpected answer {answer:?}").into());
        }
        println!("client: {answer}");
    }
    // Half-close: upstream sees end of stream through the proxy and ends; then so do we.
    lines.get_mut().shutdown().await?;
    if lines.next().await.is_some() {
        return Err("an answer nobody asked for".into());
    }
    let answered = tokio::time::timeout(TIMEOUT, upstream).await???;
    let (to_upstream, to_client) = tokio::time::timeout(TIMEOUT, proxy).await???;
    println!(
        "upstream answered {answered} lines; the proxy relayed {to_upstream} bytes up and {to_client} bytes down"
    );
    if answered != count {
        return Err(format!("upstream answered {answered} of {count} lines").into());
    }
    Ok(())
}
