//! The echo of `examples/echo.rs` written with async/await on tokio: a server task echoes what
//! each client sends, a client task sends numbered messages and checks every echo. The futures
//! hand the owned buffers back, so each side reuses its buffer for the whole exchange.
//!
//! `cargo run -p asock --example async_echo -- [messages]`

use std::time::{Duration, Instant};

use asock::future::{Listener, Socket};
use asock::{ExecutionEngine, ReceiveResult, SendResult};

/// Echoes until the client closes; returns the bytes echoed.
async fn serve(socket: Socket) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let mut buf = vec![0u8; 4096];
    let mut echoed = 0;
    loop {
        let (result, n, mut bufs) = socket.receive(vec![buf]).await?;
        if result != ReceiveResult::Ok {
            println!("server: receive {result:?}: the client is gone");
            return Ok(echoed);
        }
        // Send the received bytes back, then take the buffer back for the next receive.
        let mut data = bufs.pop().expect("one buffer");
        data.truncate(n);
        let (sent, mut back) = socket.send(vec![data]).await?;
        if sent != SendResult::Ok {
            return Err(format!("server: echo send {sent:?}").into());
        }
        echoed += n;
        buf = back.pop().expect("one buffer");
        buf.resize(4096, 0);
    }
}

/// Sends `messages` numbered messages and checks each echo; returns the round-trip times.
async fn client(
    socket: &Socket,
    messages: usize,
) -> Result<Vec<Duration>, Box<dyn std::error::Error + Send + Sync>> {
    let mut times = Vec::with_capacity(messages);
    for i in 0..messages {
        let message = format!("message {i}: hello from async/await").into_bytes();
        let start = Instant::now();
        let (sent, mut bufs) = socket.send(vec![message]).await?;
        if sent != SendResult::Ok {
            return Err(format!("client: send {sent:?}").into());
        }
        let message = bufs.pop().expect("one buffer");
        let mut echo = Vec::with_capacity(message.len());
        while echo.len() < message.len() {
            let (result, n, bufs) = socket
                .receive(vec![vec![0u8; message.len() - echo.len()]])
                .await?;
            if result != ReceiveResult::Ok {
                return Err(format!("client: receive {result:?}").into());
            }
            echo.extend_from_slice(&bufs[0][..n]);
        }
        times.push(start.elapsed());
        if echo != message {
            return Err(format!("client: echo {i} differs").into());
        }
        println!("client: {}", String::from_utf8_lossy(&echo));
    }
    Ok(times)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let messages: usize = std::env::args().nth(1).map_or(Ok(5), |s| s.parse())?;
    let engine = ExecutionEngine::new(None)?;
    let listener = Listener::bind(&engine, "127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    println!("listening on 127.0.0.1:{port}");

    let server = tokio::spawn(async move {
        let (socket, _peer) = listener.accept().await?;
        println!("server: accepted a connection");
        serve(socket).await
    });

    let socket = Socket::connect(&engine, "127.0.0.1", port, Duration::from_secs(5)).await?;
    println!("client: connected");
    let times = client(&socket, messages).await?;
    socket.close().await;
    println!("client: closed");

    let echoed = tokio::time::timeout(Duration::from_secs(10), server).await???;
    let total: Duration = times.iter().sum();
    println!(
        "{} round trips, {echoed} bytes echoed, mean round trip {:?}",
        times.len(),
        total / times.len().max(1) as u32
    );
    Ok(())
}
