//! A loopback echo: a server async socket echoes what a client async socket sends; both run on
//! one execution engine. Prints every step.
//!
//! `cargo run -p asock --example echo -- [messages]`

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use asock::{AsyncSocket, ExecutionEngine, ReceiveResult, SendResult, SocketTransport};

fn serve(socket: Arc<AsyncSocket>) {
    let s = Arc::clone(&socket);
    let posted = socket.receive(vec![vec![0u8; 4096]], move |result, n, mut bufs| {
        if result != ReceiveResult::Ok {
            println!("server: receive {result:?}: the client is gone");
            return;
        }
        let mut data = bufs.pop().expect("one buffer");
        data.truncate(n as usize);
        let s2 = Arc::clone(&s);
        let sent = s.send(vec![data], move |r, _| {
            if r != SendResult::Ok {
                println!("server: echo send {r:?}");
            }
        });
        if sent.is_ok() {
            serve(s2);
        }
    });
    if let Err(e) = posted {
        println!("server: receive not posted: {e}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let messages: usize = std::env::args().nth(1).map_or(Ok(5), |s| s.parse())?;
    let engine = ExecutionEngine::new(None)?;
    println!("engine: {} worker threads", engine.thread_count());

    let mut listener = SocketTransport::server();
    listener.listen_on("127.0.0.1:0".parse()?, 16)?;
    let port = listener.local_port().expect("listening");
    println!("listening on 127.0.0.1:{port}");
    let mut client = SocketTransport::client();
    client.connect("127.0.0.1", port, Duration::from_secs(5))?;
    let accepted = listener
        .accept(Duration::from_secs(5))?
        .ok_or("no connection")?;
    println!(
        "connected: client {:?} <-> server {:?}",
        client.local_addr(),
        accepted.local_addr()
    );

    let server = Arc::new(AsyncSocket::new(&engine)?);
    server.open_async(accepted, |r| println!("server: open {r:?}"))?;
    serve(Arc::clone(&server));
    let client_socket = AsyncSocket::new(&engine)?;
    client_socket.open_async(client, |r| println!("client: open {r:?}"))?;

    let started = Instant::now();
    for i in 0..messages {
        let text = format!("message {i}: hello from asock");
        let (tx, rx) = mpsc::channel();
        let tx2 = tx.clone();
        client_socket.send(vec![text.clone().into_bytes()], move |r, _| {
            tx.send(format!("send {r:?}")).expect("main waits");
        })?;
        // Echoed bytes may arrive in pieces: receive until the whole message is back.
        let mut echoed = Vec::new();
        println!("client: {}", rx.recv_timeout(Duration::from_secs(5))?);
        while echoed.len() < text.len() {
            let tx = tx2.clone();
            client_socket.receive(
                vec![vec![0u8; text.len() - echoed.len()]],
                move |r, n, b| {
                    tx.send(format!(
                        "{r:?}|{}",
                        String::from_utf8_lossy(&b[0][..n as usize])
                    ))
                    .expect("main waits");
                },
            )?;
            let got = rx.recv_timeout(Duration::from_secs(5))?;
            let (r, bytes) = got.split_once('|').expect("result|bytes");
            if r != "Ok" {
                return Err(format!("client: receive {r}").into());
            }
            echoed.extend_from_slice(bytes.as_bytes());
        }
        println!("client: echoed {:?}", String::from_utf8_lossy(&echoed));
        assert_eq!(echoed, text.as_bytes(), "the echo must match what was sent");
    }
    println!("{messages} messages echoed in {:?}", started.elapsed());
    client_socket.close();
    server.close();
    println!(
        "closed: client {:?}, server {:?}",
        client_socket.state(),
        server.state()
    );
    Ok(())
}
