//! A hyper HTTP/1.1 server over `asock::future::SocketStream`, every connection a task on the
//! engine's workers (`asock::future::spawn`): the fastest way to run hyper on asock (a
//! completion wakes its connection's task on the worker it ran on, with no hand-off to another
//! thread).
//!
//! With no argument it serves on a kernel-chosen port, runs a keep-alive client in the same
//! process (hyper's client, also over `SocketStream`: 4 connections of 100 requests), checks
//! every response and exits. With `--serve PORT` it only serves, until killed:
//!
//! ```text
//! cargo run --release -p asock --features tokio --example hyper_server -- --serve 8080
//! curl http://127.0.0.1:8080/hello
//! ```

use std::convert::Infallible;
use std::error::Error;
use std::time::Duration;

use asock::future::{spawn, Listener, SocketStream};
use asock::ExecutionEngine;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

type BoxError = Box<dyn Error + Send + Sync>;

const CONNECTIONS: usize = 4;
const REQUESTS: usize = 100;

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = format!("Hello from asock: {} {}\n", req.method(), req.uri().path());
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// Accepts forever; each connection is served by hyper in a task on the engine's workers.
fn serve(engine: &ExecutionEngine, listener: Listener) {
    let workers = engine.clone();
    drop(spawn(engine, async move {
        loop {
            match listener.accept_stream().await {
                Ok((stream, _peer)) => drop(spawn(&workers, async move {
                    let served = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(hello))
                        .await;
                    if let Err(e) = served {
                        eprintln!("hyper_server: connection error: {e}");
                    }
                })),
                Err(e) => eprintln!("hyper_server: accept: {e}"),
            }
        }
    }));
}

/// One keep-alive client connection: `REQUESTS` GETs, each response checked.
async fn client(engine: ExecutionEngine, port: u16, c: usize) -> Result<(), BoxError> {
    let stream = SocketStream::connect(&engine, "127.0.0.1", port, Duration::from_secs(5)).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let conn = tokio::spawn(conn);
    for i in 0..REQUESTS {
        let path = format!("/{c}/{i}");
        let req = Request::get(path.as_str())
            .header("host", "127.0.0.1")
            .body(Empty::<Bytes>::new())?;
        let resp = sender.send_request(req).await?;
        if resp.status() != StatusCode::OK {
            return Err(format!("{path}: status {}", resp.status()).into());
        }
        let body = resp.into_body().collect().await?.to_bytes();
        if body != format!("Hello from asock: GET {path}\n") {
            return Err(format!("{path}: body {body:?}").into());
        }
    }
    drop(sender); // the client closes the connection
    conn.await??;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let serve_port = match (args.next().as_deref(), args.next()) {
        (None, _) => None,
        (Some("--serve"), Some(port)) => Some(port.parse::<u16>()?),
        _ => return Err("usage: hyper_server [--serve PORT]".into()),
    };
    let engine = ExecutionEngine::new(None)?;
    let listener = Listener::bind(&engine, ("127.0.0.1", serve_port.unwrap_or(0)))?;
    let addr = listener.local_addr()?;
    serve(&engine, listener);
    if serve_port.is_some() {
        println!("hyper_server: listening on http://{addr}");
        loop {
            std::thread::park();
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    rt.block_on(async {
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|c| tokio::spawn(client(engine.clone(), addr.port(), c)))
            .collect();
        for c in clients {
            c.await??;
        }
        Ok::<(), BoxError>(())
    })
    .map_err(|e| e.to_string())?;
    println!(
        "hyper_server: {} requests over {CONNECTIONS} keep-alive connections, all answered",
        CONNECTIONS * REQUESTS
    );
    Ok(())
}
