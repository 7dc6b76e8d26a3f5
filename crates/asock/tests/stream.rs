//! Integration tests of `asock::future::SocketStream`: the tokio and futures-io adapters
//! (100 MiB round trips with random chunk sizes, half-close, tokio-util codec interop), and
//! what a tokio user expects of a stream: resets reported as errors, writes to a vanished peer
//! failing, no bytes lost when a stream is dropped unflushed, addresses and socket options,
//! owned halves on different tasks, a read buffer that grows.
//!
//! Loopback only, ports chosen by the kernel, every wait bounded (`WAIT`), contents asserted.
#![cfg(all(target_os = "linux", any(feature = "tokio", feature = "futures-io")))]

mod async_common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use asock::future::Listener;
use asock::ExecutionEngine;
use async_common::*;

// =============================================================================================
// A. The tokio and futures-io adapters: bulk round trips, half-close, codecs
// =============================================================================================

/// Length of the streamed pattern's period: a prime, so no chunking lines up with it.
const PERIOD: usize = 1_000_003;
const ROUND_TRIP: usize = 100 * MIB;

/// The bytes of the stream: a random pattern repeating every [`PERIOD`] bytes, readable at
/// any offset without copying (`PERIOD + 256 KiB` long).
fn stream_pattern() -> Arc<Vec<u8>> {
    let mut p = pattern(PERIOD, 99);
    let head = p[..256 * 1024].to_vec();
    p.extend_from_slice(&head);
    Arc::new(p)
}

/// xorshift64: the chunk sizes.
struct Rng(u64);

impl Rng {
    /// A size in `1..=max`, small ones frequent.
    fn size(&mut self, max: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let cap = match self.0 % 4 {
            0 => 64,
            1 => 4096,
            _ => max,
        };
        1 + (self.0 >> 8) as usize % cap.min(max)
    }
}

#[cfg(feature = "tokio")]
mod tokio_adapter {
    use super::*;
    use asock::future::SocketStream;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

    fn stream_pair(engine: &ExecutionEngine) -> (SocketStream, SocketStream) {
        let (c, s) = transport_pair();
        (
            SocketStream::open(engine, c).expect("client stream"),
            SocketStream::open(engine, s).expect("server stream"),
        )
    }

    /// The client writes 100 MiB in random chunks while reading the echo in random chunks;
    /// the server echoes with `tokio::io::copy` until end of stream, then shuts down.
    async fn round_trip(engine: ExecutionEngine) {
        let (client, server) = stream_pair(&engine);
        let echo = tokio::spawn(async move {
            let (mut r, mut w) = tokio::io::split(server);
            let n = tokio::io::copy(&mut r, &mut w).await.expect("echo copy");
            w.shutdown().await.expect("echo shutdown");
            n
        });
        let data = stream_pattern();
        let (mut r, mut w) = tokio::io::split(client);
        let src = Arc::clone(&data);
        let writer = tokio::spawn(async move {
            let mut rng = Rng(7);
            let mut pos = 0;
            while pos < ROUND_TRIP {
                let n = rng.size(256 * 1024).min(ROUND_TRIP - pos);
                let off = pos % PERIOD;
                let chunk = &src[off..off + n.min(256 * 1024)];
                w.write_all(chunk).await.expect("write");
                pos += chunk.len();
            }
            w.shutdown().await.expect("client shutdown");
            pos
        });
        let mut rng = Rng(13);
        let mut buf = vec![0u8; 256 * 1024];
        let mut pos = 0;
        loop {
            let want = rng.size(buf.len());
            let n = r.read(&mut buf[..want]).await.expect("read");
            if n == 0 {
                break;
            }
            let off = pos % PERIOD;
            assert!(
                buf[..n] == data[off..off + n],
                "echoed bytes differ at offset {pos}"
            );
            pos += n;
        }
        assert_eq!(writer.await.unwrap(), ROUND_TRIP);
        assert_eq!(echo.await.unwrap(), ROUND_TRIP as u64);
        assert_eq!(pos, ROUND_TRIP, "every byte came back");
    }

    #[test]
    fn tokio_adapter_round_trips_100mib_in_random_chunks() {
        bounded("100 MiB on tokio", || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let start = Instant::now();
            rt.block_on(round_trip(engine()));
            eprintln!("tokio adapter: 100 MiB round trip in {:?}", start.elapsed());
        });
    }

    #[test]
    fn writes_go_out_without_a_flush_and_shutdown_half_closes() {
        bounded("half close", || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let (mut a, mut b) = stream_pair(&engine());
                // Many small writes, never flushed: they reach the peer anyway.
                for i in 0..1000u32 {
                    a.write_all(&i.to_le_bytes()).await.unwrap();
                }
                let mut got = vec![0u8; 4000];
                b.read_exact(&mut got).await.unwrap();
                let expect: Vec<u8> = (0..1000u32).flat_map(|i| i.to_le_bytes()).collect();
                assert_eq!(got, expect);
                // Half-close: b sees end of stream, and can still answer.
                a.shutdown().await.unwrap();
                assert!(
                    a.write_all(b"late").await.is_err(),
                    "no writes after shutdown"
                );
                let mut rest = Vec::new();
                assert_eq!(b.read_to_end(&mut rest).await.unwrap(), 0);
                b.write_all(b"still here").await.unwrap();
                b.shutdown().await.unwrap();
                let mut answer = String::new();
                a.read_to_string(&mut answer).await.unwrap();
                assert_eq!(answer, "still here");
                a.close().await.unwrap();
                b.close().await.unwrap();
            });
        });
    }

    #[test]
    fn buffered_reading_and_lines_work_through_async_buf_read() {
        bounded("lines", || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let (mut a, b) = stream_pair(&engine());
                a.write_all(b"one\ntwo\nthree").await.unwrap();
                a.shutdown().await.unwrap();
                let mut lines = b.lines();
                let mut got = Vec::new();
                while let Some(line) = lines.next_line().await.unwrap() {
                    got.push(line);
                }
                assert_eq!(got, ["one", "two", "three"]);
            });
        });
    }

    #[test]
    fn tokio_util_lines_codec_interoperates() {
        use futures::{SinkExt, StreamExt};
        use tokio_util::codec::{Framed, LinesCodec};
        bounded("LinesCodec", || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let (a, b) = stream_pair(&engine());
                let server = tokio::spawn(async move {
                    let mut framed = Framed::new(b, LinesCodec::new());
                    while let Some(line) = framed.next().await {
                        let line = line.expect("a line");
                        framed.send(line.to_uppercase()).await.expect("answer");
                    }
                });
                let mut framed = Framed::new(a, LinesCodec::new());
                for i in 0..200 {
                    framed.send(format!("line {i}")).await.unwrap();
                    let answer = framed.next().await.expect("an answer").unwrap();
                    assert_eq!(answer, format!("LINE {i}"));
                }
                framed.get_mut().shutdown().await.unwrap();
                assert!(
                    framed.next().await.is_none(),
                    "server ends after our shutdown"
                );
                tokio::time::timeout(WAIT, server)
                    .await
                    .expect("server ends")
                    .unwrap();
            });
        });
    }

    #[test]
    fn a_reset_peer_ends_the_stream_and_fails_writes() {
        bounded("reset", || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let (mut a, b) = stream_pair(&engine());
                drop(b); // closes (not a half-close)
                let mut rest = Vec::new();
                assert_eq!(a.read_to_end(&mut rest).await.unwrap(), 0);
                // Writing to a closed peer fails within a few writes (reset), never hangs.
                let mut failed = false;
                for _ in 0..1000 {
                    if a.write_all(&[0u8; 4096]).await.is_err() || a.flush().await.is_err() {
                        failed = true;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                assert!(failed, "writes to a closed peer fail");
            });
        });
    }
}

#[cfg(feature = "futures-io")]
mod futures_io_adapter {
    use super::*;
    use asock::future::SocketStream;
    use futures::io::{AsyncReadExt, AsyncWriteExt};

    /// As the tokio round trip, on `futures::executor::block_on`, the echo server on its own
    /// thread with its own `block_on`, and `futures::io::copy`.
    #[test]
    fn futures_io_adapter_round_trips_100mib_in_random_chunks() {
        bounded("100 MiB on futures-io", || {
            let engine = engine();
            let listener = Listener::bind(&engine, "127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = thread::spawn(move || {
                futures::executor::block_on(async {
                    let (stream, _peer) = listener.accept_stream().await.expect("accept");
                    let (r, mut w) = stream.split();
                    let n = futures::io::copy(r, &mut w).await.expect("echo copy");
                    w.close().await.expect("echo close");
                    n
                })
            });
            let start = Instant::now();
            futures::executor::block_on(async {
                let client = SocketStream::connect(&engine, "127.0.0.1", port, WAIT)
                    .await
                    .expect("connect");
                let (mut r, mut w) = client.split();
                let data = stream_pattern();
                let writer = async {
                    let mut rng = Rng(21);
                    let mut pos = 0;
                    while pos < ROUND_TRIP {
                        let n = rng.size(256 * 1024).min(ROUND_TRIP - pos);
                        let off = pos % PERIOD;
                        let chunk = &data[off..off + n.min(256 * 1024)];
                        w.write_all(chunk).await.expect("write");
                        pos += chunk.len();
                    }
                    w.close().await.expect("client close");
                    pos
                };
                let reader = async {
                    let mut rng = Rng(5);
                    let mut buf = vec![0u8; 256 * 1024];
                    let mut pos = 0;
                    loop {
                        let want = rng.size(buf.len());
                        let n = r.read(&mut buf[..want]).await.expect("read");
                        if n == 0 {
                            break pos;
                        }
                        let off = pos % PERIOD;
                        assert!(
                            buf[..n] == data[off..off + n],
                            "echoed bytes differ at offset {pos}"
                        );
                        pos += n;
                    }
                };
                let (written, read) = futures::join!(writer, reader);
                assert_eq!((written, read), (ROUND_TRIP, ROUND_TRIP));
            });
            assert_eq!(server.join().unwrap(), ROUND_TRIP as u64);
            eprintln!(
                "futures-io adapter: 100 MiB round trip in {:?}",
                start.elapsed()
            );
        });
    }
}

// =============================================================================================
// B. What a tokio user expects of a stream
// =============================================================================================

#[cfg(feature = "tokio")]
mod like_tokio {
    use super::*;
    use asock::future::{SocketStream, StreamOptions};
    use std::io::{self, Read, Write};
    use std::net::TcpStream;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

    /// A stream on `engine` connected to a plain blocking `TcpStream` (reads bounded by
    /// `WAIT`).
    fn stream_and_std(
        engine: &ExecutionEngine,
        options: StreamOptions,
    ) -> (SocketStream, TcpStream) {
        let (c, s) = transport_pair();
        let stream = SocketStream::open_with(engine, c, options).expect("stream");
        let peer = TcpStream::from(std::os::fd::OwnedFd::from(s.into_socket().unwrap()));
        peer.set_nonblocking(false).unwrap();
        peer.set_read_timeout(Some(WAIT)).unwrap();
        (stream, peer)
    }

    fn current_thread<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// Closes `peer` with a reset (`SO_LINGER` 0) instead of an orderly close.
    fn reset(peer: TcpStream) {
        socket2::SockRef::from(&peer)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(peer);
    }

    fn is_gone(e: &io::Error) -> bool {
        matches!(
            e.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        )
    }

    #[test]
    fn a_reset_reads_as_connection_reset_then_end_of_stream_and_writes_fail() {
        bounded("reset", || {
            for read_waits in [true, false] {
                current_thread(async {
                    let (mut s, peer) = stream_and_std(&engine(), StreamOptions::new());
                    let mut buf = [0u8; 64];
                    let err = if read_waits {
                        // The read waits on the engine when the reset arrives.
                        let read = s.read(&mut buf);
                        let resetter = async {
                            tokio::time::sleep(QUIET).await;
                            reset(peer);
                        };
                        let (read, ()) = tokio::join!(read, resetter);
                        read.expect_err("a reset is an error")
                    } else {
                        reset(peer);
                        tokio::time::sleep(QUIET).await;
                        s.read(&mut buf).await.expect_err("a reset is an error")
                    };
                    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
                    assert_eq!(s.read(&mut buf).await.unwrap(), 0, "then end of stream");
                    let err = s.write_all(b"late").await.expect_err("the peer is gone");
                    assert!(is_gone(&err), "{err}");
                    let err = s.flush().await.expect_err("and stays failed");
                    assert!(is_gone(&err), "{err}");
                });
            }
        });
    }

    #[test]
    fn an_orderly_close_reads_as_end_of_stream_and_later_writes_fail_like_tokio() {
        bounded("closed peer", || {
            current_thread(async {
                let (mut s, mut peer) = stream_and_std(&engine(), StreamOptions::new());
                peer.write_all(b"last words").unwrap();
                drop(peer);
                let mut got = Vec::new();
                s.read_to_end(&mut got)
                    .await
                    .expect("no error: an orderly close");
                assert_eq!(got, b"last words");
                // The first writes may still be taken by the kernel; the peer's reset makes a
                // later one fail, within a few writes, never hanging.
                let mut error = None;
                for _ in 0..100 {
                    if let Err(e) = s.write_all(&[7u8; 1024]).await {
                        error = Some(e);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let err = error.expect("writes to a closed peer fail");
                assert!(is_gone(&err), "{err}");
            });
        });
    }

    /// Writes `data` (the peer starts reading only after a pause, so bytes pile up in the
    /// stream's write buffer), then drops the writer without flushing; the peer must read every
    /// byte and then end of stream.
    fn drop_unflushed(data: Vec<u8>, split: bool) {
        let engine = engine();
        let (mut s, mut peer) = stream_and_std(&engine, StreamOptions::new());
        let n = data.len();
        let reader = thread::spawn(move || {
            thread::sleep(QUIET);
            let mut got = Vec::with_capacity(n);
            peer.read_to_end(&mut got).expect("read to end of stream");
            got
        });
        current_thread(async {
            if split {
                let (r, mut w) = s.into_split();
                w.write_all(&data).await.unwrap();
                drop(w); // no flush, no shutdown: the drop shuts down once all is sent
                         // The read half keeps the socket open; the peer still gets end of stream.
                let got = reader.join().unwrap();
                assert!(
                    got == data,
                    "{} of {n} bytes, or different bytes",
                    got.len()
                );
                drop(r);
            } else {
                s.write_all(&data).await.unwrap();
                drop(s);
                let got = reader.join().unwrap();
                assert!(
                    got == data,
                    "{} of {n} bytes, or different bytes",
                    got.len()
                );
            }
        });
    }

    #[test]
    fn dropping_a_stream_without_flush_delivers_all_300000_bytes_then_end_of_stream() {
        bounded("300,000 bytes", || {
            drop_unflushed(pattern(300_000, 1), false)
        });
    }

    #[test]
    fn dropping_without_flush_delivers_8mib_from_a_stream_and_from_a_write_half() {
        bounded("8 MiB", || {
            drop_unflushed(pattern(8 * MIB, 2), false);
            drop_unflushed(pattern(8 * MIB, 3), true);
        });
    }

    #[test]
    fn addresses_nodelay_and_socket2_options_like_tokio() {
        bounded("options", || {
            let engine = engine();
            let (s, peer) = stream_and_std(&engine, StreamOptions::new());
            assert_eq!(s.peer_addr().unwrap(), peer.local_addr().unwrap());
            assert_eq!(s.local_addr().unwrap(), peer.peer_addr().unwrap());
            assert!(s.nodelay().unwrap(), "TCP_NODELAY on by default");
            s.set_nodelay(false).unwrap();
            assert!(!s.nodelay().unwrap());
            s.socket2().set_ttl_v4(42).unwrap();
            assert_eq!(s.socket2().ttl_v4().unwrap(), 42);
            let (r, w) = s.into_split();
            assert_eq!(r.peer_addr().unwrap(), peer.local_addr().unwrap());
            assert_eq!(w.local_addr().unwrap(), peer.peer_addr().unwrap());
            let (off, _peer) = stream_and_std(&engine, StreamOptions::new().nodelay(false));
            assert!(!off.nodelay().unwrap(), "StreamOptions::nodelay(false)");
        });
    }

    #[test]
    fn owned_halves_run_on_different_tasks_and_reunite() {
        bounded("halves", || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let engine = engine();
                let listener = Listener::bind(&engine, "127.0.0.1:0").unwrap();
                let port = listener.local_addr().unwrap().port();
                let echo = tokio::spawn(async move {
                    let (s, _) = listener.accept_stream().await.expect("accept");
                    let (mut r, mut w) = s.into_split();
                    let n = tokio::io::copy(&mut r, &mut w).await.expect("echo");
                    w.shutdown().await.unwrap();
                    n
                });
                let client = SocketStream::connect(&engine, "127.0.0.1", port, WAIT)
                    .await
                    .unwrap();
                let (mut r, mut w) = client.into_split();
                let data = pattern(MIB, 4);
                let sent = data.clone();
                let writer = tokio::spawn(async move {
                    w.write_all(&sent).await.unwrap();
                    // Dropping the write half shuts the write side down: the echo ends.
                });
                let reader = tokio::spawn(async move {
                    let mut got = Vec::new();
                    r.read_to_end(&mut got).await.unwrap();
                    got
                });
                writer.await.unwrap();
                assert!(reader.await.unwrap() == data, "the echo of 1 MiB");
                assert_eq!(echo.await.unwrap(), MIB as u64);

                let ((a, mut pa), (b, mut pb)) = (stream_pair_on(&engine), stream_pair_on(&engine));
                let (ar, aw) = a.into_split();
                let (br, bw) = b.into_split();
                let asock::future::ReuniteError(ar, bw) =
                    ar.reunite(bw).expect_err("halves of two streams");
                let mut a = ar.reunite(aw).expect("halves of one stream");
                let mut b = br.reunite(bw).expect("halves of one stream");
                a.write_all(b"one").await.unwrap();
                b.write_all(b"two").await.unwrap();
                let mut buf = [0u8; 3];
                pa.read_exact(&mut buf).await.unwrap();
                assert_eq!(&buf, b"one");
                pb.read_exact(&mut buf).await.unwrap();
                assert_eq!(&buf, b"two");
            });
        });
    }

    fn stream_pair_on(engine: &ExecutionEngine) -> (SocketStream, SocketStream) {
        let (c, s) = transport_pair();
        (
            SocketStream::open(engine, c).unwrap(),
            SocketStream::open(engine, s).unwrap(),
        )
    }

    #[test]
    fn a_tiny_read_buffer_grows_and_every_byte_arrives_through_buf_read() {
        bounded("tiny buffer", || {
            let engine = engine();
            let options = StreamOptions::new().read_buffer(16).max_read_buffer(MIB);
            let (mut s, mut peer) = stream_and_std(&engine, options);
            let data = pattern(4 * MIB, 5);
            let sent = data.clone();
            let writer = thread::spawn(move || {
                peer.write_all(&sent).unwrap();
                peer.shutdown(std::net::Shutdown::Write).unwrap();
                peer
            });
            current_thread(async {
                let mut got = Vec::with_capacity(data.len());
                let mut rng = Rng(3);
                loop {
                    let chunk = s.fill_buf().await.unwrap();
                    if chunk.is_empty() {
                        break;
                    }
                    let n = rng.size(chunk.len()).min(chunk.len());
                    got.extend_from_slice(&chunk[..n]);
                    s.consume(n);
                }
                assert!(
                    got == data,
                    "{} of {} bytes, or different",
                    got.len(),
                    data.len()
                );
            });
            writer.join().unwrap();
        });
    }

    #[test]
    fn close_flushes_then_closes_both_directions() {
        bounded("close", || {
            let (mut s, mut peer) = stream_and_std(&engine(), StreamOptions::new());
            let data = pattern(2 * MIB, 6);
            let n = data.len();
            let reader = thread::spawn(move || {
                let mut got = Vec::with_capacity(n);
                peer.read_to_end(&mut got).unwrap();
                got
            });
            current_thread(async {
                s.write_all(&data).await.unwrap();
                s.close().await.expect("flushed and closed");
            });
            assert!(reader.join().unwrap() == data);
        });
    }

    #[test]
    fn small_writes_and_reads_keep_their_order_across_the_write_buffer() {
        // Many writes while the peer does not read: some go straight to the kernel, the rest
        // wait in the write buffer; all arrive in order.
        bounded("order", || {
            let (mut s, mut peer) =
                stream_and_std(&engine(), StreamOptions::new().write_buffer(4096));
            let reader = thread::spawn(move || {
                thread::sleep(QUIET);
                let mut got = Vec::new();
                peer.read_to_end(&mut got).unwrap();
                got
            });
            current_thread(async {
                for i in 0..100_000u32 {
                    s.write_all(&i.to_le_bytes()).await.unwrap();
                }
                s.shutdown().await.unwrap();
            });
            let expect: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
            assert!(reader.join().unwrap() == expect);
        });
    }
}
