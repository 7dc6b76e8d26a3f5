//! The client of `examples/async_echo.rs` on `futures::executor::block_on` instead of tokio:
//! the futures of `asock::future` need no runtime. The echo server runs on a plain thread with
//! its own `block_on`, accepting through `asock::future::Listener`.
//!
//! `cargo run -p asock --example futures_client -- [messages]`

use std::time::Duration;

use asock::future::{Listener, Socket};
use asock::{ExecutionEngine, ReceiveResult, SendResult};
use futures::executor::block_on;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Echoes one connection until the client closes.
async fn serve(listener: Listener) -> Result<usize, Error> {
    let (socket, _peer) = listener.accept().await?;
    let mut echoed = 0;
    loop {
        let (result, n, mut bufs) = socket.receive(vec![vec![0u8; 4096]]).await?;
        if result != ReceiveResult::Ok {
            return Ok(echoed);
        }
        let mut data = bufs.pop().expect("one buffer");
        data.truncate(n);
        let (sent, _) = socket.send(vec![data]).await?;
        if sent != SendResult::Ok {
            return Err(format!("server: echo send {sent:?}").into());
        }
        echoed += n;
    }
}

/// Sends `messages` numbered messages and checks each echo.
async fn client(socket: &Socket, messages: usize) -> Result<(), Error> {
    for i in 0..messages {
        let message = format!("message {i}: hello from futures::executor").into_bytes();
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
        if echo != message {
            return Err(format!("client: echo {i} differs").into());
        }
        println!("client: {}", String::from_utf8_lossy(&echo));
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let messages: usize = std::env::args().nth(1).map_or(Ok(5), |s| s.parse())?;
    let engine = ExecutionEngine::new(None)?;
    let listener = Listener::bind(&engine, "127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    println!("listening on 127.0.0.1:{port}");
    let server = std::thread::spawn(move || block_on(serve(listener)));

    block_on(async {
        let socket = Socket::connect(&engine, "127.0.0.1", port, Duration::from_secs(5)).await?;
        client(&socket, messages).await?;
        socket.close().await;
        Ok::<(), Error>(())
    })?;
    let echoed = server.join().map_err(|_| "the server thread panicked")??;
    println!("{messages} round trips, {echoed} bytes echoed");
    Ok(())
}
