//! The `tracing` feature: open, close and every completion are reported, with their results,
//! to whatever subscriber the application installs (here a small collecting one).
#![cfg(all(feature = "tracing", target_os = "linux"))]

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asock::future::Socket;
use asock::{
    ExecutionEngine, NotifyResult, NotifyType, ReceiveResult, SendResult, SocketTransport,
};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Collects every event of target `asock` as one line: `LEVEL field=value ...`, and the names
/// of the spans created.
#[derive(Default)]
struct Collector {
    lines: Mutex<Vec<String>>,
    spans: Mutex<Vec<String>>,
    next_id: AtomicU64,
}

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

impl Subscriber for Collector {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "asock"
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut line = Line(span.metadata().name().to_owned());
        span.record(&mut line);
        self.spans.lock().unwrap().push(line.0);
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _span: &Id, _values: &Record<'_>) {}
    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(event.metadata().level().to_string());
        event.record(&mut line);
        self.lines.lock().unwrap().push(line.0);
    }
    fn enter(&self, _span: &Id) {}
    fn exit(&self, _span: &Id) {}
}

/// Holds a subscriber that forwards to a shared collector (the global default is set once).
struct Shared(Arc<Collector>);

impl Subscriber for Shared {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.0.new_span(span)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        self.0.record(span, values)
    }
    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.0.record_follows_from(span, follows)
    }
    fn event(&self, event: &Event<'_>) {
        self.0.event(event)
    }
    fn enter(&self, span: &Id) {
        self.0.enter(span)
    }
    fn exit(&self, span: &Id) {
        self.0.exit(span)
    }
}

fn wait_for_line(collector: &Collector, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        if let Some(line) = collector.lines.lock().unwrap().iter().find(|l| pred(l)) {
            return line.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no event for {what}; got {:#?}",
            collector.lines.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn open_close_and_every_completion_are_reported_with_their_results() {
    let collector = Arc::new(Collector::default());
    tracing::subscriber::set_global_default(Shared(Arc::clone(&collector)))
        .expect("the only subscriber of this test binary");

    let engine = ExecutionEngine::new(None).unwrap();
    let mut listener = SocketTransport::server();
    listener
        .listen_on("127.0.0.1:0".parse().unwrap(), 4)
        .unwrap();
    let port = listener.local_port().unwrap();
    let mut client = SocketTransport::client();
    client
        .connect("127.0.0.1", port, Duration::from_secs(5))
        .unwrap();
    let server = listener.accept(Duration::from_secs(5)).unwrap().unwrap();
    let a = Socket::open_on(&engine, client).unwrap();
    let b = Socket::open_on(&engine, server).unwrap();

    let open = wait_for_line(&collector, "open", |l| {
        l.contains("message=open") && l.contains(&format!("peer=Some(127.0.0.1:{port})"))
    });
    assert!(open.starts_with("DEBUG"), "{open}");

    futures::executor::block_on(async {
        let (r, _) = a.send(vec![b"hi".to_vec()]).await.unwrap();
        assert_eq!(r, SendResult::Ok);
        let (r, n, _) = b.receive(vec![vec![0u8; 8]]).await.unwrap();
        assert_eq!((r, n), (ReceiveResult::Ok, 2));
        assert_eq!(a.notify(NotifyType::Out).await.unwrap(), NotifyResult::Out);
        // A receive pending at close completes Abandoned.
        let pending = b.receive(vec![vec![0u8; 8]]);
        b.close().await;
        let (r, _, _) = pending.await.unwrap();
        assert_eq!(r, ReceiveResult::Abandoned);
    });
    // The blocking close has a span.
    a.as_async_socket().close();

    let sent = wait_for_line(&collector, "the send", |l| {
        l.contains("send complete") && l.contains("result=Ok")
    });
    assert!(
        sent.starts_with("TRACE") && sent.contains("bytes=2"),
        "{sent}"
    );
    let received = wait_for_line(&collector, "the receive", |l| {
        l.contains("receive complete") && l.contains("result=Ok")
    });
    assert!(
        received.starts_with("TRACE") && received.contains("bytes=2"),
        "{received}"
    );
    let notified = wait_for_line(&collector, "the notify", |l| {
        l.contains("notify complete") && l.contains("result=Out")
    });
    assert!(notified.contains("io_type=Out"), "{notified}");
    let abandoned = wait_for_line(&collector, "the abandoned receive", |l| {
        l.contains("receive complete") && l.contains("result=Abandoned")
    });
    assert!(abandoned.starts_with("DEBUG"), "{abandoned}");
    wait_for_line(&collector, "close requested", |l| {
        l.contains("close requested")
    });
    let closed = collector
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("message=closed"))
        .count();
    assert_eq!(closed, 2, "both sockets reported closed");
    assert!(
        collector
            .spans
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.starts_with("close socket=")),
        "the blocking close's span"
    );
}
