//! Criterion micro-benchmarks of asock's hot paths, each on a loopback pair:
//! * `submit_send`: one 64 B send, from submission to its completion callback;
//! * `receive_completion`: a receive posted before the data arrives, from the peer's write to the
//!   completion callback (the readiness-to-callback path);
//! * `open_close`: opening an async socket on a connected transport and closing it.
#![allow(missing_docs)] // criterion's macros define the undocumented `benches` and `main`

use std::sync::mpsc;
use std::time::Duration;

use asock::{AsyncSocket, ExecutionEngine, ExecutionEngineParameters, SocketTransport};
use criterion::{criterion_group, criterion_main, Criterion};

fn engine() -> ExecutionEngine {
    ExecutionEngine::new(Some(ExecutionEngineParameters {
        min_thread_count: 2,
        max_thread_count: 0,
    }))
    .expect("engine")
}

fn pair(listener: &SocketTransport) -> (SocketTransport, SocketTransport) {
    let mut c = SocketTransport::client();
    c.connect(
        "127.0.0.1",
        listener.local_port().expect("port"),
        Duration::from_secs(5),
    )
    .expect("connect");
    let s = listener
        .accept(Duration::from_secs(5))
        .expect("accept")
        .expect("a connection");
    (c, s)
}

fn listener() -> SocketTransport {
    let mut l = SocketTransport::server();
    l.listen_on("127.0.0.1:0".parse().expect("address"), 64)
        .expect("listen");
    l
}

fn submit_send(c: &mut Criterion) {
    let engine = engine();
    let l = listener();
    let (a, b) = pair(&l);
    let sender = AsyncSocket::new(&engine).expect("socket");
    sender.open(a).expect("open");
    // The peer drains on its own thread so the send never waits for buffer space.
    let drain = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while b
            .receive_timeout(
                &mut [std::io::IoSliceMut::new(&mut buf)],
                0,
                Duration::from_secs(5),
            )
            .is_ok()
        {}
    });
    let (tx, rx) = mpsc::channel();
    c.bench_function("submit_send 64 B to completion", |bench| {
        bench.iter(|| {
            let tx = tx.clone();
            sender
                .send(vec![vec![7u8; 64]], move |r, _| {
                    tx.send(r).expect("bench waits");
                })
                .expect("send accepted");
            rx.recv().expect("completion");
        })
    });
    sender.close();
    drop(drain);
}

fn receive_completion(c: &mut Criterion) {
    let engine = engine();
    let l = listener();
    let (a, b) = pair(&l);
    let receiver = AsyncSocket::new(&engine).expect("socket");
    receiver.open(a).expect("open");
    let (tx, rx) = mpsc::channel();
    c.bench_function("receive 64 B: peer write to completion", |bench| {
        bench.iter(|| {
            let tx = tx.clone();
            receiver
                .receive(vec![vec![0u8; 64]], move |r, n, _| {
                    tx.send((r, n)).expect("bench waits");
                })
                .expect("receive accepted");
            b.send(&[std::io::IoSlice::new(&[1u8; 64])], 0)
                .expect("peer write");
            let (_, n) = rx.recv().expect("completion");
            assert!(n > 0);
        })
    });
    receiver.close();
}

fn open_close(c: &mut Criterion) {
    let engine = engine();
    let l = listener();
    let socket = AsyncSocket::new(&engine).expect("socket");
    c.bench_function("open + close", |bench| {
        bench.iter_batched(
            || pair(&l),
            |(a, _b)| {
                socket.open(a).expect("open");
                socket.close();
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = submit_send, receive_completion, open_close
}
criterion_main!(benches);
