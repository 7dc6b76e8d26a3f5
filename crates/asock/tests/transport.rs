//! Loopback integration tests of `asock::transport`: the scenarios of c-pal's
//! own transport integration tests, plus the cases where c-pal's transport
//! misbehaves (short sends, bad arguments, resets) and this one does not.
//!
//! Every test uses kernel-chosen ports on 127.0.0.1 / ::1 and bounds every
//! wait. They run on Linux and, built for Windows, under Wine.

use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::thread;
use std::time::{Duration, Instant};

use asock::transport::{
    AcceptError, AddressType, SendErrorKind, SocketTransport, SocketType, TransportError,
    TransportReceiveError,
};
use socket2::{Domain, Socket, Type};

mod common;
use common::WAIT;

#[cfg(target_os = "linux")]
const FLAGS: i32 = libc::MSG_NOSIGNAL;
#[cfg(not(target_os = "linux"))]
const FLAGS: i32 = 0;

fn loopback_v4() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// A listening server on 127.0.0.1, a connected client and the accepted end.
fn connected_pair() -> (SocketTransport, SocketTransport, SocketTransport) {
    let listener = common::Listener::v4();
    let (client, accepted) = listener.connect_pair();
    (listener.into_server(), client, accepted)
}

fn lettered_buffers(count: usize, len: usize) -> Vec<Vec<u8>> {
    (0..count).map(|i| vec![b'A' + i as u8; len]).collect()
}

/// Sends `bufs` as one vectored send and asserts the count.
fn send_all(transport: &SocketTransport, bufs: &[Vec<u8>]) {
    let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
    let total: usize = bufs.iter().map(Vec::len).sum();
    let sent = transport.send(&slices, FLAGS).expect("send");
    assert_eq!(sent, total);
}

/// One scatter receive into buffers shaped like `expected`; asserts byte
/// count and per-buffer content.
fn receive_and_check(transport: &SocketTransport, expected: &[Vec<u8>]) {
    let mut bufs: Vec<Vec<u8>> = expected.iter().map(|b| vec![0u8; b.len()]).collect();
    let total: usize = expected.iter().map(Vec::len).sum();
    let received = {
        let mut slices: Vec<IoSliceMut<'_>> = bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        transport
            .receive_timeout(&mut slices, 0, WAIT)
            .expect("receive")
    };
    assert_eq!(received, total);
    for (i, (got, want)) in bufs.iter().zip(expected).enumerate() {
        assert_eq!(got, want, "buffer {i}");
    }
}

/// A port on 127.0.0.1 on which nothing listens (bound, then released).
fn unused_port() -> u16 {
    let listener = TcpListener::bind(loopback_v4()).expect("bind");
    listener.local_addr().expect("local addr").port()
}

fn is_timed_out(err: &TransportError) -> bool {
    matches!(err, TransportError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut)
}

// ----- c-pal socket_transport_int scenarios ---------------------------------

#[test]
fn send_and_receive_2_buffer_of_2_byte() {
    let (_server, client, accepted) = connected_pair();
    let bufs = vec![vec![0x42, 0x43], vec![0x44, 0x45]];
    send_all(&client, &bufs);
    receive_and_check(&accepted, &bufs);
}

#[test]
fn send_and_receive_8_buffers_of_64_bytes() {
    let (_server, client, accepted) = connected_pair();
    let bufs = lettered_buffers(8, 64);
    send_all(&client, &bufs);
    receive_and_check(&accepted, &bufs);
}

#[test]
fn chaos_knight() {
    let mut server = SocketTransport::server();
    server.listen_on(loopback_v4(), 16).expect("listen");
    let port = server.local_port().expect("port");
    let mut clients = Vec::new();
    let mut accepted = Vec::new();
    for _ in 0..4 {
        let mut client = SocketTransport::client();
        client.connect("127.0.0.1", port, WAIT).expect("connect");
        accepted.push(server.accept(WAIT).expect("accept").expect("client"));
        clients.push(client);
    }
    let bufs = lettered_buffers(8, 64);

    // Round 0: every pair exchanges 512 bytes.
    for (client, peer) in clients.iter().zip(&accepted) {
        send_all(client, &bufs);
        receive_and_check(peer, &bufs);
    }

    // Disconnect one accepted transport, chosen pseudo-randomly.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let victim = (nanos as usize ^ std::process::id() as usize) % accepted.len();
    println!("chaos knight disconnects accepted transport {victim}");
    assert!(accepted[victim].disconnect());

    // Round 1.
    let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
    for (i, (client, peer)) in clients.iter().zip(&accepted).enumerate() {
        if let Ok(sent) = client.send(&slices, FLAGS) {
            assert_eq!(sent, 512);
        }
        if i == victim {
            let mut buf = [0u8; 512];
            let result = peer.receive(&mut [IoSliceMut::new(&mut buf)], 0);
            assert!(
                matches!(result, Err(TransportReceiveError::NotOpen)),
                "{result:?}"
            );
        } else {
            receive_and_check(peer, &bufs);
        }
    }

    for client in &mut clients {
        assert!(client.disconnect());
    }
    for (i, peer) in accepted.iter_mut().enumerate() {
        assert_eq!(peer.disconnect(), i != victim);
    }
    assert!(server.disconnect());
}

#[test]
fn get_local_address() {
    let (_server, client, accepted) = connected_pair();
    let a = accepted.local_addresses().expect("accepted side");
    let c = client.local_addresses().expect("client side");
    assert!(!a.hostname.is_empty());
    assert_eq!(a.hostname, c.hostname);
    assert_eq!(a.addresses.len(), c.addresses.len());
    // Loopback is included, and families match the addresses.
    assert!(
        a.addresses
            .iter()
            .any(|addr| addr.address == IpAddr::V4(Ipv4Addr::LOCALHOST)),
        "{:?}",
        a.addresses
    );
    for addr in &a.addresses {
        let want = if addr.address.is_ipv4() {
            AddressType::Inet
        } else {
            AddressType::Inet6
        };
        assert_eq!(addr.address_type, want);
        // Numeric text round-trips.
        assert_eq!(
            addr.address.to_string().parse::<IpAddr>().unwrap(),
            addr.address
        );
    }
}

#[test]
fn local_addresses_needs_an_open_transport() {
    let client = SocketTransport::client();
    assert!(matches!(
        client.local_addresses(),
        Err(TransportError::NotOpen)
    ));
}

// ----- connect timing --------------------------------------------------------

#[test]
fn connect_refused_fails_fast() {
    let port = unused_port();
    let mut client = SocketTransport::client();
    let start = Instant::now();
    let err = client
        .connect("127.0.0.1", port, Duration::from_secs(3))
        .expect_err("nothing listens");
    let elapsed = start.elapsed();
    assert!(
        matches!(&err, TransportError::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{err:?}"
    );
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    assert!(!client.is_valid_socket());
}

#[test]
fn connect_to_unanswering_address_times_out() {
    // A listener with backlog 0 that never accepts: once its accept queue is
    // full, Linux drops further SYNs, so connects neither succeed nor fail.
    let mut server = SocketTransport::server();
    server.listen_on(loopback_v4(), 0).expect("listen");
    let addr = server.local_addr().expect("addr");
    let mut fillers = Vec::new();
    let mut saturated = false;
    for _ in 0..64 {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        match socket.connect_timeout(&addr.into(), Duration::from_millis(200)) {
            Ok(()) => fillers.push(socket),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                saturated = true;
                break;
            }
            Err(e) => panic!("filler connect: {e}"),
        }
    }
    assert!(saturated, "accept queue never filled");

    let timeout = Duration::from_millis(400);
    let mut client = SocketTransport::client();
    let start = Instant::now();
    let err = client
        .connect("127.0.0.1", addr.port(), timeout)
        .expect_err("queue is full");
    let elapsed = start.elapsed();
    assert!(is_timed_out(&err), "{err:?}");
    assert!(
        elapsed >= timeout - Duration::from_millis(20),
        "too early: {elapsed:?}"
    );
    assert!(
        elapsed < timeout + Duration::from_secs(1),
        "too late: {elapsed:?}"
    );
    assert!(!client.is_valid_socket());
}

#[test]
fn connect_with_zero_timeout_times_out_at_once() {
    let mut server = SocketTransport::server();
    server.listen_on(loopback_v4(), 16).expect("listen");
    let mut client = SocketTransport::client();
    let err = client
        .connect("127.0.0.1", server.local_port().unwrap(), Duration::ZERO)
        .expect_err("no budget");
    assert!(is_timed_out(&err), "{err:?}");
}

// ----- accept ----------------------------------------------------------------

#[test]
fn accept_without_client_returns_none_after_timeout() {
    let mut server = SocketTransport::server();
    server.listen_on(loopback_v4(), 16).expect("listen");
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    let result = server.accept(timeout).expect("accept");
    let elapsed = start.elapsed();
    assert!(result.is_none());
    assert!(
        elapsed >= timeout - Duration::from_millis(20),
        "too early: {elapsed:?}"
    );
    assert!(
        elapsed < timeout + Duration::from_secs(1),
        "too late: {elapsed:?}"
    );
}

#[test]
fn accept_returns_client_when_one_connects() {
    let mut server = SocketTransport::server();
    server.listen_on(loopback_v4(), 16).expect("listen");
    let port = server.local_port().unwrap();
    let connector = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        let mut client = SocketTransport::client();
        client.connect("127.0.0.1", port, WAIT).expect("connect");
        client
    });
    let start = Instant::now();
    let accepted = server.accept(WAIT).expect("accept").expect("a client");
    assert!(start.elapsed() < WAIT);
    let client = connector.join().unwrap();
    assert_eq!(accepted.socket_type(), SocketType::Client);
    assert!(accepted.is_valid_socket());
    assert_eq!(accepted.peer_addr(), client.local_addr());
    assert_eq!(client.peer_addr(), accepted.local_addr());
}

#[test]
fn accept_with_zero_timeout_checks_once() {
    let mut server = SocketTransport::server();
    server.listen_on(loopback_v4(), 16).expect("listen");
    assert!(server.accept(Duration::ZERO).expect("accept").is_none());
    let mut client = SocketTransport::client();
    client
        .connect("127.0.0.1", server.local_port().unwrap(), WAIT)
        .expect("connect");
    // Once the handshake has reached the server, a zero timeout finds it.
    let deadline = Instant::now() + WAIT;
    loop {
        if server.accept(Duration::ZERO).expect("accept").is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the client never became pending");
        thread::sleep(Duration::from_millis(5));
    }
}

// ----- IPv6 and all-interfaces listen ---------------------------------------

#[test]
fn ipv6_loopback_exchange() {
    let mut server = SocketTransport::server();
    let addr: SocketAddr = "[::1]:0".parse().unwrap();
    if let Err(err) = server.listen_on(addr, 16) {
        println!("skipping: cannot listen on [::1]: {err}");
        return;
    }
    let port = server.local_port().unwrap();
    let mut client = SocketTransport::client();
    client.connect("::1", port, WAIT).expect("connect to ::1");
    let accepted = server.accept(WAIT).expect("accept").expect("client");
    assert!(accepted.peer_addr().unwrap().is_ipv6());

    let bufs = lettered_buffers(3, 100);
    send_all(&client, &bufs);
    receive_and_check(&accepted, &bufs);
    send_all(&accepted, &bufs);
    receive_and_check(&client, &bufs);
}

#[test]
fn listen_on_all_interfaces_accepts_ipv4_ipv6_and_localhost() {
    let mut server = SocketTransport::server();
    server.listen(0).expect("listen");
    let port = server.local_port().expect("kernel-chosen port");
    assert_ne!(port, 0);
    let dual_stack = server.local_addr().unwrap().is_ipv6();

    let mut hosts = vec!["127.0.0.1", "localhost"];
    if dual_stack {
        hosts.push("::1");
    }
    for host in hosts {
        let mut client = SocketTransport::client();
        client
            .connect(host, port, WAIT)
            .unwrap_or_else(|e| panic!("connect to {host}: {e}"));
        let accepted = server.accept(WAIT).expect("accept").expect("client");
        let bufs = vec![host.as_bytes().to_vec()];
        send_all(&client, &bufs);
        receive_and_check(&accepted, &bufs);
    }
}

// ----- send / receive behaviour ----------------------------------------------

/// Deterministic, non-repeating-looking bytes (xorshift), so that a
/// duplicated or skipped stretch cannot go unnoticed.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn large_send_with_slow_reader_arrives_once_in_order() {
    let (_server, client, accepted) = connected_pair();
    const TOTAL: usize = 16 * 1024 * 1024;
    let sizes = [5 * 1024 * 1024 + 7, 7 * 1024 * 1024 - 3];
    let bufs = [
        pattern(sizes[0], 1),
        pattern(sizes[1], 2),
        pattern(TOTAL - sizes[0] - sizes[1], 3),
    ];
    let expected: Vec<u8> = bufs.concat();

    let reader = thread::spawn(move || {
        let mut received = Vec::with_capacity(TOTAL);
        let mut chunk = vec![0u8; 64 * 1024];
        let mut reads = 0u32;
        while received.len() < TOTAL {
            let n = accepted
                .receive_timeout(&mut [IoSliceMut::new(&mut chunk)], 0, WAIT)
                .expect("receive");
            received.extend_from_slice(&chunk[..n]);
            reads += 1;
            if reads % 16 == 0 {
                // Read slowly so that the sender keeps hitting a full buffer.
                thread::sleep(Duration::from_millis(2));
            }
        }
        // Nothing more than what was sent.
        let extra = accepted.receive_timeout(
            &mut [IoSliceMut::new(&mut chunk)],
            0,
            Duration::from_millis(50),
        );
        assert!(
            matches!(extra, Err(TransportReceiveError::WouldBlock)),
            "{extra:?}"
        );
        received
    });

    let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
    let start = Instant::now();
    let sent = client.send(&slices, FLAGS).expect("send");
    assert_eq!(sent, TOTAL);
    let received = reader.join().expect("reader");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(received.len(), TOTAL);
    assert!(received == expected, "stream content differs");
}

#[test]
fn send_after_peer_closed_returns_shutdown_without_sigpipe() {
    let (_server, client, mut accepted) = connected_pair();
    assert!(accepted.disconnect());
    let data = [7u8; 1024];
    let deadline = Instant::now() + WAIT;
    let mut total_ok = 0usize;
    // Flags 0: the transport itself must avoid SIGPIPE. The first send may
    // succeed (the peer answers it with a reset); a later one must fail.
    let err = loop {
        match client.send(&[IoSlice::new(&data)], 0) {
            Ok(n) => {
                assert_eq!(n, data.len());
                total_ok += n;
            }
            Err(err) => break err,
        }
        assert!(Instant::now() < deadline, "send never failed");
        thread::sleep(Duration::from_millis(10));
    };
    // Reset or broken pipe: both map to Shutdown.
    assert!(matches!(err.kind, SendErrorKind::Shutdown), "{err:?}");
    assert_eq!(err.bytes_sent, 0);
    println!("{total_ok} bytes accepted by the kernel before the failure");
}

#[test]
fn receive_would_block_when_no_data() {
    let (_server, client, _accepted) = connected_pair();
    let mut buf = [0u8; 16];
    let start = Instant::now();
    let result = client.receive(&mut [IoSliceMut::new(&mut buf)], 0);
    assert!(
        matches!(result, Err(TransportReceiveError::WouldBlock)),
        "{result:?}"
    );
    assert!(start.elapsed() < Duration::from_millis(100));

    let timeout = Duration::from_millis(150);
    let start = Instant::now();
    let result = client.receive_timeout(&mut [IoSliceMut::new(&mut buf)], 0, timeout);
    assert!(
        matches!(result, Err(TransportReceiveError::WouldBlock)),
        "{result:?}"
    );
    assert!(start.elapsed() >= timeout - Duration::from_millis(20));
}

#[test]
fn receive_scatters_across_buffers_in_order() {
    let (_server, client, accepted) = connected_pair();
    let data: Vec<u8> = (0u8..10).collect();
    send_all(&client, std::slice::from_ref(&data));
    let (mut a, mut b, mut c) = ([0u8; 3], [0u8; 0], [0u8; 7]);
    let n = accepted
        .receive_timeout(
            &mut [
                IoSliceMut::new(&mut a),
                IoSliceMut::new(&mut b),
                IoSliceMut::new(&mut c),
            ],
            0,
            WAIT,
        )
        .expect("receive");
    assert_eq!(n, 10);
    assert_eq!(&a, &data[..3]);
    assert_eq!(&c, &data[3..]);
}

#[test]
fn data_before_close_is_delivered_then_shutdown() {
    let (_server, mut client, accepted) = connected_pair();
    send_all(&client, &[b"last words".to_vec()]);
    assert!(client.disconnect());
    assert_eq!(common::raw_read_exact(&accepted, 10), b"last words");
    let mut buf = [0u8; 16];
    let result = accepted.receive_timeout(&mut [IoSliceMut::new(&mut buf)], 0, WAIT);
    assert!(
        matches!(result, Err(TransportReceiveError::Shutdown)),
        "{result:?}"
    );
}

#[test]
fn drop_closes_the_socket() {
    let (_server, client, accepted) = connected_pair();
    drop(client);
    let mut buf = [0u8; 16];
    let result = accepted.receive_timeout(&mut [IoSliceMut::new(&mut buf)], 0, WAIT);
    assert!(
        matches!(result, Err(TransportReceiveError::Shutdown)),
        "{result:?}"
    );
}

#[test]
fn send_skips_empty_buffers_and_zero_total_is_ok() {
    let (_server, client, accepted) = connected_pair();
    let empty: [u8; 0] = [];
    let sent = client
        .send(
            &[
                IoSlice::new(&empty),
                IoSlice::new(b"ab"),
                IoSlice::new(&empty),
                IoSlice::new(b"c"),
            ],
            FLAGS,
        )
        .expect("send");
    assert_eq!(sent, 3);
    assert_eq!(common::raw_read_exact(&accepted, 3), b"abc");
    assert_eq!(
        client.send(&[IoSlice::new(&empty)], FLAGS).expect("send"),
        0
    );
}

// ----- type and state errors -------------------------------------------------

#[test]
fn socket_types() {
    assert_eq!(SocketTransport::client().socket_type(), SocketType::Client);
    assert_eq!(SocketTransport::server().socket_type(), SocketType::Binding);
    assert_eq!(SocketType::Binding as i32, 1);
    assert_eq!(SocketType::Client as i32, 2);
}

#[test]
fn connect_on_server_is_wrong_type() {
    let mut server = SocketTransport::server();
    let result = server.connect("127.0.0.1", 1, WAIT);
    assert!(
        matches!(result, Err(TransportError::WrongType)),
        "{result:?}"
    );
}

#[test]
fn listen_on_client_is_wrong_type() {
    let mut client = SocketTransport::client();
    let result = client.listen(0);
    assert!(
        matches!(result, Err(TransportError::WrongType)),
        "{result:?}"
    );
    let result = client.listen_on(loopback_v4(), 1);
    assert!(
        matches!(result, Err(TransportError::WrongType)),
        "{result:?}"
    );
    assert!(!client.is_valid_socket());
}

#[test]
fn accept_on_client_is_wrong_type() {
    let (_server, client, _accepted) = connected_pair();
    let result = client.accept(Duration::ZERO);
    assert!(matches!(result, Err(AcceptError::WrongType)), "{result:?}");
}

#[test]
fn accept_before_listen_is_not_open() {
    let server = SocketTransport::server();
    let result = server.accept(Duration::ZERO);
    assert!(matches!(result, Err(AcceptError::NotOpen)), "{result:?}");
}

#[test]
fn send_before_connect_is_not_open() {
    let client = SocketTransport::client();
    let err = client
        .send(&[IoSlice::new(b"x")], FLAGS)
        .expect_err("not open");
    assert!(matches!(err.kind, SendErrorKind::NotOpen), "{err:?}");
    assert_eq!(err.bytes_sent, 0);
}

#[test]
fn receive_before_connect_is_not_open() {
    let client = SocketTransport::client();
    let mut buf = [0u8; 4];
    let result = client.receive(&mut [IoSliceMut::new(&mut buf)], 0);
    assert!(
        matches!(result, Err(TransportReceiveError::NotOpen)),
        "{result:?}"
    );
    let result = client.receive_timeout(&mut [IoSliceMut::new(&mut buf)], 0, WAIT);
    assert!(
        matches!(result, Err(TransportReceiveError::NotOpen)),
        "{result:?}"
    );
}

#[test]
fn send_with_no_buffers_is_invalid_arg() {
    let (_server, client, _accepted) = connected_pair();
    let err = client.send(&[], FLAGS).expect_err("no buffers");
    assert!(matches!(err.kind, SendErrorKind::InvalidArg), "{err:?}");
    // Argument errors come before state errors.
    let err = SocketTransport::client()
        .send(&[], FLAGS)
        .expect_err("no buffers");
    assert!(matches!(err.kind, SendErrorKind::InvalidArg), "{err:?}");
}

#[test]
fn receive_with_no_buffers_is_invalid_arg() {
    let (_server, client, _accepted) = connected_pair();
    let result = client.receive(&mut [], 0);
    assert!(
        matches!(result, Err(TransportReceiveError::InvalidArg)),
        "{result:?}"
    );
    let mut empty: [u8; 0] = [];
    let result = client.receive(&mut [IoSliceMut::new(&mut empty)], 0);
    assert!(
        matches!(result, Err(TransportReceiveError::InvalidArg)),
        "{result:?}"
    );
}

#[test]
fn connect_with_port_zero_or_empty_host_is_invalid_arg() {
    let mut client = SocketTransport::client();
    let result = client.connect("127.0.0.1", 0, WAIT);
    assert!(
        matches!(result, Err(TransportError::InvalidArg(_))),
        "{result:?}"
    );
    let result = client.connect("", 80, WAIT);
    assert!(
        matches!(result, Err(TransportError::InvalidArg(_))),
        "{result:?}"
    );
}

#[test]
fn connect_or_listen_when_open_is_already_open() {
    let (mut server, mut client, _accepted) = connected_pair();
    let port = server.local_port().unwrap();
    let result = client.connect("127.0.0.1", port, WAIT);
    assert!(
        matches!(result, Err(TransportError::AlreadyOpen)),
        "{result:?}"
    );
    let result = server.listen(0);
    assert!(
        matches!(result, Err(TransportError::AlreadyOpen)),
        "{result:?}"
    );
    let result = server.listen_on(loopback_v4(), 1);
    assert!(
        matches!(result, Err(TransportError::AlreadyOpen)),
        "{result:?}"
    );
    // The held sockets are untouched.
    assert_eq!(server.local_port(), Some(port));
    assert!(client.is_valid_socket());
}

#[test]
fn disconnect_then_is_valid_socket_false() {
    let mut client = SocketTransport::client();
    assert!(!client.is_valid_socket());
    assert!(!client.disconnect());
    assert_eq!(client.underlying_socket(), None);

    let (mut server, mut client, mut accepted) = connected_pair();
    for t in [&mut server, &mut client, &mut accepted] {
        assert!(t.is_valid_socket());
        assert!(t.underlying_socket().is_some());
        assert!(t.disconnect());
        assert!(!t.is_valid_socket());
        assert_eq!(t.underlying_socket(), None);
        assert_eq!(t.local_addr(), None);
        assert!(!t.disconnect());
    }
}

#[test]
fn reconnect_after_disconnect_works() {
    let (mut server, mut client, mut accepted) = connected_pair();
    let port = server.local_port().unwrap();
    assert!(client.disconnect());
    assert!(accepted.disconnect());

    client.connect("127.0.0.1", port, WAIT).expect("reconnect");
    let accepted = server.accept(WAIT).expect("accept").expect("client");
    send_all(&client, &[b"again".to_vec()]);
    receive_and_check(&accepted, &[b"again".to_vec()]);

    // A server can listen again too.
    assert!(server.disconnect());
    server.listen_on(loopback_v4(), 4).expect("listen again");
    assert!(server.is_valid_socket());
}

// ----- from_socket, from_stream_socket -----------------------------------------

#[test]
fn from_socket_wraps_an_accepted_std_socket() {
    let listener = TcpListener::bind(loopback_v4()).expect("bind");
    let port = listener.local_addr().unwrap().port();
    let mut client = SocketTransport::client();
    client.connect("127.0.0.1", port, WAIT).expect("connect");
    let (stream, _) = listener.accept().expect("accept");
    let wrapped = SocketTransport::from_socket(Socket::from(stream));
    assert_eq!(wrapped.socket_type(), SocketType::Client);
    assert!(wrapped.is_valid_socket());
    assert_eq!(wrapped.peer_addr(), client.local_addr());

    // Non-blocking: nothing to read returns at once.
    let mut buf = [0u8; 8];
    let result = wrapped.receive(&mut [IoSliceMut::new(&mut buf)], 0);
    assert!(
        matches!(result, Err(TransportReceiveError::WouldBlock)),
        "{result:?}"
    );

    let bufs = lettered_buffers(4, 32);
    send_all(&client, &bufs);
    receive_and_check(&wrapped, &bufs);
    send_all(&wrapped, &bufs);
    receive_and_check(&client, &bufs);
}

#[test]
fn from_stream_socket_refuses_a_listening_or_datagram_socket_and_gives_it_back_open() {
    let listener = TcpListener::bind(loopback_v4()).expect("bind");
    let addr = listener.local_addr().unwrap();
    let refused =
        SocketTransport::from_stream_socket(Socket::from(listener)).expect_err("a listener");
    assert!(
        matches!(refused.error(), TransportError::InvalidArg(why) if why.contains("listening")),
        "{refused:?}"
    );
    // Given back open and still listening: a client connects and is accepted.
    let listener = TcpListener::from(refused.into_socket());
    let client = std::net::TcpStream::connect(addr).expect("connect");
    let (accepted, _) = listener.accept().expect("accept");

    let udp = std::net::UdpSocket::bind(loopback_v4()).expect("bind udp");
    let udp_addr = udp.local_addr().unwrap();
    let refused = SocketTransport::from_stream_socket(Socket::from(udp)).expect_err("a datagram");
    assert!(
        matches!(refused.error(), TransportError::InvalidArg(why) if why.contains("stream")),
        "{refused:?}"
    );
    assert_eq!(
        std::net::UdpSocket::from(refused.into_socket())
            .local_addr()
            .unwrap(),
        udp_addr
    );

    // A connected stream socket is taken, as from_socket takes it.
    let wrapped = SocketTransport::from_stream_socket(Socket::from(accepted)).expect("a stream");
    assert_eq!(wrapped.socket_type(), SocketType::Client);
    assert_eq!(wrapped.peer_addr(), client.local_addr().ok());
}

#[cfg(unix)]
#[test]
fn from_raw_stream_socket_checks_the_value_before_taking_it() {
    use std::os::fd::{AsRawFd, IntoRawFd};
    let file = std::fs::File::open("/dev/null").expect("open /dev/null");
    // SAFETY: not a socket: refused before anything is taken.
    let err = unsafe { SocketTransport::from_raw_stream_socket(file.as_raw_fd()) }
        .expect_err("not a socket");
    assert!(matches!(err, TransportError::Io(_)), "{err:?}");
    // SAFETY: -1 is no descriptor at all: refused the same way.
    let err = unsafe { SocketTransport::from_raw_stream_socket(-1) }.expect_err("no descriptor");
    assert!(matches!(err, TransportError::Io(_)), "{err:?}");
    drop(file); // still ours, and closed here

    let listener = TcpListener::bind(loopback_v4()).expect("bind");
    // SAFETY: a listening socket is refused, and stays the listener's.
    let err = unsafe { SocketTransport::from_raw_stream_socket(listener.as_raw_fd()) }
        .expect_err("a listener");
    assert!(matches!(err, TransportError::InvalidArg(_)), "{err:?}");
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let raw = client.into_raw_fd();
    // SAFETY: a connected stream socket whose ownership this test hands over.
    let wrapped = unsafe { SocketTransport::from_raw_stream_socket(raw) }.expect("a stream");
    assert_eq!(wrapped.underlying_socket(), Some(raw));
    assert!(listener.accept().is_ok());
}

#[test]
fn transports_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SocketTransport>();
    assert_send_sync::<TransportError>();
    assert_send_sync::<asock::transport::TransportSendError>();
}
