//! P5: an HTTP/1.1 keep-alive hello-world server on hyper 1.x, three ways: over asock's
//! `SocketStream` with every connection a task on the engine's workers (`asock::future::spawn`),
//! over `SocketStream` with the connections in tokio tasks, and over tokio's `TcpStream`. The
//! load client is the same for all three: one thread with a current-thread tokio runtime and
//! the keep-alive connections, each sending a fixed GET and reading and checking the whole
//! response (status, length, body) before the next. The servers' errors are counted.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::measure::{on_threads, thread_cpu_seconds, GatePass, Sample};
use super::Ctx;

const BODY: &[u8] = b"Hello, world!";
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(BODY))))
}

/// What a run's server counts.
#[derive(Default)]
struct Served {
    accepted: AtomicUsize,
    finished: AtomicUsize,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// CPU seconds of the load client's thread in the window.
    client_cpu: Mutex<f64>,
}

/// Serves one connection until the client closes it; an error of hyper's counts.
async fn serve<S>(io: S, served: Arc<Served>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = http1::Builder::new().serve_connection(TokioIo::new(io), service_fn(hello));
    if let Err(e) = conn.await {
        served.errors.fetch_add(1, Relaxed);
        let mut first = served.first_error.lock().expect("lock");
        first.get_or_insert_with(|| e.to_string());
    }
    served.finished.fetch_add(1, Relaxed);
}

#[derive(Clone, Copy)]
enum Server {
    /// `SocketStream`, each connection a task on the engine (`asock::future::spawn`).
    EngineTasks,
    /// `SocketStream`, each connection a tokio task.
    TokioTasks,
    /// tokio's `TcpStream` in tokio tasks.
    Tokio,
}

/// Starts the server; it accepts `n` connections, then stops listening.
fn start(ctx: &Ctx, kind: Server, n: usize, served: &Arc<Served>) -> Result<SocketAddr, String> {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let served = Arc::clone(served);
    match kind {
        Server::Tokio => {
            let l = std::net::TcpListener::bind(any).map_err(|e| e.to_string())?;
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            let addr = l.local_addr().map_err(|e| e.to_string())?;
            let _in = ctx.tokio_mt.enter();
            let l = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
            ctx.tokio_mt.spawn(async move {
                for _ in 0..n {
                    let Ok((s, _)) = l.accept().await else { break };
                    let _ = s.set_nodelay(true);
                    served.accepted.fetch_add(1, Relaxed);
                    tokio::spawn(serve(s, Arc::clone(&served)));
                }
            });
            Ok(addr)
        }
        Server::TokioTasks | Server::EngineTasks => {
            let l = asock::future::Listener::bind(&ctx.engine, any).map_err(|e| e.to_string())?;
            let addr = l.local_addr().map_err(|e| e.to_string())?;
            let engine = ctx.engine.clone();
            let accept = async move {
                for _ in 0..n {
                    let Ok((s, _peer)) = l.accept_stream().await else {
                        break;
                    };
                    served.accepted.fetch_add(1, Relaxed);
                    let conn = serve(s, Arc::clone(&served));
                    match kind {
                        Server::EngineTasks => drop(asock::future::spawn(&engine, conn)),
                        _ => drop(tokio::spawn(conn)),
                    }
                }
            };
            match kind {
                Server::EngineTasks => drop(asock::future::spawn(&ctx.engine, accept)),
                _ => drop(ctx.tokio_mt.spawn(accept)),
            }
            Ok(addr)
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The body length a response head announces; only `200 OK` with a length is accepted.
fn content_length(head: &[u8]) -> Result<usize, String> {
    if !head.starts_with(b"HTTP/1.1 200 OK\r\n") {
        let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
        return Err(format!("response {:?}", String::from_utf8_lossy(line)));
    }
    const NAME: &[u8] = b"content-length:";
    head.split(|&b| b == b'\n')
        .find(|l| l.len() > NAME.len() && l[..NAME.len()].eq_ignore_ascii_case(NAME))
        .and_then(|l| {
            std::str::from_utf8(&l[NAME.len()..])
                .ok()?
                .trim()
                .parse()
                .ok()
        })
        .ok_or_else(|| "a response without content-length".to_string())
}

/// Reads one whole response into `buf` and checks it: `200 OK`, the body's length, the body.
async fn read_response(c: &mut tokio::net::TcpStream, buf: &mut [u8]) -> Result<(), String> {
    let mut have = 0;
    // The head's length and the body's, once the head is in.
    let mut lengths: Option<(usize, usize)> = None;
    while lengths.is_none_or(|(head, body)| have < head + body) {
        if have == buf.len() {
            return Err("a response larger than 4 KiB".into());
        }
        let k = c.read(&mut buf[have..]).await.map_err(|e| e.to_string())?;
        if k == 0 {
            return Err("the server closed a keep-alive connection".into());
        }
        have += k;
        if lengths.is_none() {
            if let Some(end) = find(&buf[..have], b"\r\n\r\n") {
                lengths = Some((end + 4, content_length(&buf[..end + 4])?));
            }
        }
    }
    let (head, body) = lengths.unwrap_or_default();
    if have != head + body || &buf[head..have] != BODY {
        return Err("a response with the wrong body".into());
    }
    Ok(())
}

/// One keep-alive connection of the load client: one request at a time until `stop`.
async fn requests(mut c: tokio::net::TcpStream, stop: Arc<AtomicBool>) -> Result<u64, String> {
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    while !stop.load(Relaxed) {
        c.write_all(REQUEST).await.map_err(|e| e.to_string())?;
        read_response(&mut c, &mut buf).await?;
        n += 1;
    }
    Ok(n)
}

/// The load client's thread: connects, waits until the server has accepted every connection,
/// then runs the requests.
fn load_client(addrs: Vec<SocketAddr>, served: &Served, mut gate: GatePass, stop: Arc<AtomicBool>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return gate.report(Err(e.to_string())),
    };
    let result = rt.block_on(async {
        let mut conns = Vec::with_capacity(addrs.len());
        for addr in &addrs {
            let c = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| e.to_string())?;
            c.set_nodelay(true).map_err(|e| e.to_string())?;
            conns.push(c);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while served.accepted.load(Relaxed) < addrs.len() {
            if Instant::now() > deadline {
                return Err(format!(
                    "the server accepted {} of {} connections in 10 s",
                    served.accepted.load(Relaxed),
                    addrs.len()
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        gate.pass();
        let cpu = thread_cpu_seconds();
        let tasks: Vec<_> = conns
            .into_iter()
            .map(|c| tokio::spawn(requests(c, Arc::clone(&stop))))
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.map_err(|e| e.to_string())??;
        }
        *served.client_cpu.lock().expect("lock") = thread_cpu_seconds() - cpu;
        Ok(total)
    });
    gate.report(result);
}

fn run(ctx: &Ctx, kind: Server) -> Result<Sample, String> {
    let n = ctx.http_connections;
    let served = Arc::new(Served::default());
    let addr = start(ctx, kind, n, &served)?;
    let s = Arc::clone(&served);
    let sample = on_threads(vec![addr; n], 1, ctx.duration, move |addrs, gate, stop| {
        load_client(addrs, &s, gate, stop)
    })?;
    // The client's connections are closed: every server connection ends.
    let deadline = Instant::now() + Duration::from_secs(10);
    while served.finished.load(Relaxed) < n {
        if Instant::now() > deadline {
            return Err(format!(
                "{} of {n} server connections did not end within 10 s of the client closing them",
                n - served.finished.load(Relaxed)
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let first = served.first_error.lock().expect("lock").take();
    let mut sample = sample.with_server_errors(served.errors.load(Relaxed), first);
    sample.client_cpu_seconds = Some(*served.client_cpu.lock().expect("lock"));
    Ok(sample)
}

pub fn engine_tasks(ctx: &Ctx) -> Result<Sample, String> {
    run(ctx, Server::EngineTasks)
}

pub fn tokio_tasks(ctx: &Ctx) -> Result<Sample, String> {
    run(ctx, Server::TokioTasks)
}

pub fn tokio(ctx: &Ctx) -> Result<Sample, String> {
    run(ctx, Server::Tokio)
}
