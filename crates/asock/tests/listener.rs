//! Integration tests of `asock::future::Listener` and of connecting (`Socket::connect`,
//! `SocketStream::connect`): on every executor; what `bind` takes; the peer's address; many
//! accepts in flight; a burst beyond the old fixed backlog; the port free as soon as the
//! listener is dropped; accepts and connects without helper threads; refused, timed out and
//! named connects; cancelled accepts.
//!
//! Loopback only, ports chosen by the kernel, every wait bounded (`WAIT`).
#![cfg(target_os = "linux")]

mod async_common;

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use asock::future::{Listener, Socket};
use asock::ExecutionEngine;
use async_common::*;

/// The names of the process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .collect()
}

#[test]
fn listener_and_connect_make_connected_sockets_on_every_executor() {
    on_each_executor(|engine| async move {
        let listener = Listener::bind(&engine, "127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        for i in 0u8..3 {
            let connect = Socket::connect(&engine, "127.0.0.1", port, WAIT);
            let (client, server) = futures::join!(connect, listener.accept());
            let (client, (server, _peer)) = (client.expect("connect"), server.expect("accept"));
            client.send(vec![vec![i; 3]]).await.unwrap();
            assert_eq!(receive_exact(&server, 3).await, vec![i; 3]);
        }
    });
}

#[test]
fn bind_takes_names_addresses_and_tuples_like_tokio() {
    let engine = engine();
    let by_name = Listener::bind(&engine, "localhost:0").expect("localhost:0");
    assert!(by_name.local_addr().unwrap().ip().is_loopback());
    let by_str = Listener::bind(&engine, "127.0.0.1:0").expect("a string");
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let by_addr = Listener::bind(&engine, addr).expect("a SocketAddr");
    let by_tuple = Listener::bind(&engine, (Ipv4Addr::LOCALHOST, 0)).expect("a tuple");
    for l in [&by_name, &by_str, &by_addr, &by_tuple] {
        let a = l.local_addr().unwrap();
        assert_ne!(a.port(), 0, "the kernel chose a port");
        // Something listens there.
        TcpStream::connect(a).expect("connect to the listener");
    }
    if let Ok(v6) = Listener::bind(&engine, "[::1]:0") {
        assert!(v6.local_addr().unwrap().is_ipv6());
    }
    let taken = by_str.local_addr().unwrap();
    let err = Listener::bind(&engine, taken).expect_err("the port is taken");
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    let err = Listener::bind(&engine, "no such host name.invalid:0").expect_err("no such host");
    assert_ne!(err.kind(), io::ErrorKind::AddrInUse);
}

#[test]
fn accept_gives_the_peer_address() {
    on_each_executor(|engine| async move {
        let listener = Listener::bind(&engine, "127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = std::thread::spawn(move || TcpStream::connect(("127.0.0.1", port)).unwrap());
        let (_socket, peer) = listener.accept().await.expect("accept");
        let client = client.join().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
    });
}

#[test]
fn many_accepts_wait_at_once_and_each_gets_its_own_connection() {
    on_each_executor(|engine| async move {
        let listener = Listener::bind(&engine, "127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Sixteen accepts in flight before any connection exists.
        let accepts = futures::future::join_all((0..16).map(|_| listener.accept()));
        let connects = async {
            futures::future::join_all(
                (0..16).map(|_| Socket::connect(&engine, "127.0.0.1", port, WAIT)),
            )
            .await
        };
        let (accepted, clients) = futures::join!(accepts, connects);
        let mut peers: Vec<SocketAddr> =
            accepted.into_iter().map(|a| a.expect("accept").1).collect();
        peers.sort();
        peers.dedup();
        assert_eq!(peers.len(), 16, "sixteen different connections");
        assert!(clients.iter().all(|c| c.is_ok()));
    });
}

#[test]
fn a_burst_of_connections_beyond_the_old_fixed_backlog_is_all_accepted() {
    const BURST: usize = 400;
    let engine = engine();
    let listener = Arc::new(Listener::bind(&engine, "127.0.0.1:0").unwrap());
    let port = listener.local_addr().unwrap().port();
    // The kernel queues the burst (backlog 1024) while nobody accepts yet.
    let clients: Vec<TcpStream> = (0..BURST)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    let accepted = bounded("accept the burst", move || {
        futures::executor::block_on(async {
            let mut n = 0;
            while n < BURST {
                listener.accept().await.expect("accept");
                n += 1;
            }
            n
        })
    });
    assert_eq!(accepted, BURST);
    drop(clients);
}

#[test]
fn the_backlog_can_be_chosen() {
    let engine = engine();
    let listener = Listener::bind_with_backlog(&engine, "127.0.0.1:0", 4).unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (_s, peer) = bounded("accept", move || {
        futures::executor::block_on(listener.accept()).expect("accept")
    });
    assert_eq!(peer, client.local_addr().unwrap());
}

#[test]
fn a_dropped_listener_frees_its_port_at_once() {
    let engine = engine();
    for waited in [false, true] {
        let listener = Listener::bind(&engine, "127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        if waited {
            // An accept is pending (a notification armed on the engine) when it is dropped.
            let waker = futures::task::noop_waker();
            let mut accept = Box::pin(listener.accept());
            assert!(accept
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
        }
        drop(listener);
        let err = TcpStream::connect(addr).expect_err("nobody listens any more");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        // The same port can be bound again right away.
        let again = Listener::bind(&engine, addr).expect("the port is free");
        assert_eq!(again.local_addr().unwrap(), addr);
    }
}

#[test]
fn two_hundred_concurrent_connects_and_accepts_start_no_thread() {
    on_each_executor(|engine| async move {
        let listener = Listener::bind(&engine, "127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connects = futures::future::join_all(
            (0..200).map(|_| Socket::connect(&engine, "127.0.0.1", port, WAIT)),
        );
        let accepts = async {
            let mut sockets = Vec::new();
            for _ in 0..200 {
                sockets.push(listener.accept().await.expect("accept"));
                let names = thread_names();
                assert!(
                    !names.iter().any(|n| n.starts_with("asock-accept")
                        || n.starts_with("asock-connect")
                        || n.starts_with("asock-resolve")),
                    "helper threads: {names:?}"
                );
            }
            sockets
        };
        let (clients, servers) = futures::join!(connects, accepts);
        assert!(clients.iter().all(|c| c.is_ok()));
        assert_eq!(servers.len(), 200);
    });
}

#[test]
fn connect_to_a_closed_port_fails_with_connection_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let engine = engine();
    let result = bounded("connect", move || {
        futures::executor::block_on(Socket::connect(&engine, "127.0.0.1", port, WAIT))
    });
    let err = result.expect_err("nobody listens");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn a_connect_that_gets_no_answer_times_out_on_the_engine_timer() {
    // A listener whose accept queue is full drops new SYNs: the connect gets no answer.
    let full = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    full.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    full.listen(0).unwrap();
    let addr = full.local_addr().unwrap().as_socket().unwrap();
    let engine = engine();
    let mut fill = Vec::new();
    let timed_out = bounded("connects", move || {
        futures::executor::block_on(async {
            for _ in 0..8 {
                let timeout = Duration::from_millis(300);
                let start = std::time::Instant::now();
                match Socket::connect(&engine, "127.0.0.1", addr.port(), timeout).await {
                    Ok(s) => fill.push(s),
                    Err(e) => return Some((e.kind(), start.elapsed())),
                }
            }
            None
        })
    });
    let (kind, after) = timed_out.expect("a connect to a full accept queue times out");
    assert_eq!(kind, io::ErrorKind::TimedOut);
    assert!(
        after >= Duration::from_millis(250),
        "not before the timeout: {after:?}"
    );
    drop(full);
}

#[test]
fn connect_resolves_a_host_name_and_rejects_bad_arguments() {
    on_each_executor(|engine| async move {
        let listener = Listener::bind(&engine, "127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (client, server) = futures::join!(
            Socket::connect(&engine, "localhost", port, WAIT),
            listener.accept()
        );
        client.expect("connect to localhost");
        server.expect("accept");
        for (host, port) in [("", port), ("127.0.0.1", 0)] {
            let err = Socket::connect(&engine, host, port, WAIT)
                .await
                .expect_err("bad arguments");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        }
        let err = Socket::connect(&engine, "no such host name.invalid", port, WAIT)
            .await
            .expect_err("no such host");
        assert_ne!(err.kind(), io::ErrorKind::InvalidInput);
    });
}

#[test]
fn an_accept_dropped_after_it_was_woken_leaves_the_connection_for_the_next() {
    let engine = engine();
    let listener = Listener::bind(&engine, "127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (count, waker) = counting_waker();
    let mut first = Box::pin(listener.accept_transport());
    assert!(first
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    let client = TcpStream::connect(addr).unwrap();
    wait_until("the accept to be woken", || {
        count.0.load(std::sync::atomic::Ordering::SeqCst) > 0
    });
    drop(first);
    let (transport, peer) = bounded("the next accept", move || {
        futures::executor::block_on(listener.accept_transport()).expect("accept")
    });
    assert_eq!(peer, client.local_addr().unwrap());
    assert!(transport.is_valid_socket());
}

/// A hand-written future over `poll_accept`, as a runtime-agnostic caller would write it.
struct PollAccept<'a>(&'a Listener);

impl Future for PollAccept<'_> {
    type Output = io::Result<(Socket, SocketAddr)>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.poll_accept(cx)
    }
}

#[test]
fn poll_accept_works_from_a_hand_written_future() {
    on_each_executor(|engine: ExecutionEngine| async move {
        let listener = Listener::bind(&engine, "127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (client, server) = futures::join!(
            Socket::connect(&engine, "127.0.0.1", port, WAIT),
            PollAccept(&listener)
        );
        let (client, (server, _)) = (client.unwrap(), server.unwrap());
        client.send(vec![b"hi".to_vec()]).await.unwrap();
        assert_eq!(receive_exact(&server, 2).await, b"hi");
    });
}

#[cfg(feature = "futures-io")]
#[test]
fn listener_is_a_stream_of_sockets() {
    use futures::StreamExt;
    on_each_executor(|engine| async move {
        let mut listener = Listener::bind(&engine, "127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let clients: Vec<_> = (0..4)
            .map(|_| Socket::connect(&engine, "127.0.0.1", port, WAIT))
            .collect();
        let clients = futures::future::try_join_all(clients)
            .await
            .expect("connect");
        let mut served = Vec::new();
        for _ in 0..4 {
            served.push(listener.next().await.expect("never ends").expect("accept"));
        }
        for (i, c) in clients.iter().enumerate() {
            c.send(vec![vec![i as u8; 2]]).await.unwrap();
        }
        let mut got = Vec::new();
        for s in &served {
            got.push(receive_exact(s, 2).await[0]);
        }
        got.sort();
        assert_eq!(got, [0, 1, 2, 3]);
    });
}
