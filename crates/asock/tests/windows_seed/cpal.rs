//! c-pal's three Windows integration scenarios, on kernel-chosen loopback ports and without
//! their double close.

use asock::fault::{self, Call, CallKind, Outcome};
use asock::{AsyncSocket, ReceiveResult, SendResult, SocketState};

use crate::common::*;

#[test]
fn cpal_send_and_receive_1_byte_succeeds() {
    let _s = serial();
    let engine = engine_with(4, 0);
    let (client, server) = socket_pair(&engine);
    // The server sends one buffer of 2 bytes; the client posts its receive afterwards.
    let sent = send(&server, vec![vec![0x42, 0x43]]);
    let got = receive(&client, vec![vec![0u8; 2]]);
    assert_eq!(recv(&sent, "send callback").0, SendResult::Ok);
    let (r, n, bufs, _) = recv(&got, "receive callback");
    assert_eq!((r, n), (ReceiveResult::Ok, 2));
    assert_eq!(bufs, vec![vec![0x42, 0x43]]);
    client.close();
    server.close();
}

#[test]
fn cpal_receive_and_send_2_buffers_succeeds() {
    let _s = serial();
    let engine = engine_with(4, 0);
    let (client, server) = socket_pair(&engine);
    // The client posts a receive with two buffers (1 + 2 bytes) before the server sends two
    // buffers (2 + 1 bytes).
    let got = receive(&client, vec![vec![0u8; 1], vec![0u8; 2]]);
    let sent = send(&server, vec![vec![0x42, 0x43], vec![0x44]]);
    assert_eq!(recv(&sent, "send callback").0, SendResult::Ok);
    let (r, n, bufs, _) = recv(&got, "receive callback");
    assert_eq!(r, ReceiveResult::Ok);
    let mut all: Vec<u8> = bufs.concat()[..n as usize].to_vec();
    while all.len() < 3 {
        all.extend(read_exactly(&client, 3 - all.len()));
    }
    assert_eq!(all, [0x42, 0x43, 0x44]);
    client.close();
    server.close();
}

#[test]
fn cpal_when_server_socket_is_closed_receive_errors_on_client_side() {
    let _s = serial();
    let engine = engine_with(4, 0);
    let (c, _server) = transport_pair();
    let raw = c.underlying_socket().unwrap() as usize;
    let client = AsyncSocket::new(&engine).unwrap();
    client.open(c).unwrap();
    fault::record(true);
    let got = receive(&client, vec![vec![0u8; 1]]);
    // The test closes the client's own socket underneath the async socket.
    // SAFETY: `raw` is the client's socket; the async socket's own closesocket at close is
    // intercepted below, so the handle is closed exactly once.
    assert_eq!(unsafe { closesocket(raw) }, 0);
    let (r, n, _, _) = recv(&got, "receive callback");
    let io_result = calls()
        .iter()
        .find_map(|c| match c {
            Call::OnIoComplete {
                io_result,
                overlapped,
                ..
            } if *overlapped != 0 => Some(*io_result),
            _ => None,
        })
        .expect("the receive completed through the pool");
    assert_eq!(n, 0);
    if io_result == ERROR_NETNAME_DELETED || io_result == ERROR_CONNECTION_ABORTED {
        // Windows: c-pal's assertion (42_001).
        assert_eq!(r, ReceiveResult::Abandoned);
    } else {
        // Wine completes the aborted receive with STATUS_HANDLES_CLOSED (io_result 676,
        // ERROR_HANDLES_CLOSED), which the seed maps to ERROR (01_070).
        assert!(under_wine(), "io_result {io_result} on Windows");
        assert_eq!(r, ReceiveResult::Error, "io_result {io_result}");
        println!("under Wine: io_result {io_result} -> {r:?} (Windows: ERROR_NETNAME_DELETED -> Abandoned)");
    }
    // No double close: the async socket's closesocket meets a closed handle.
    fault::inject_once(CallKind::Closesocket, Outcome::Fail(WSAENOTSOCK));
    client.close();
    assert_eq!(client.state(), SocketState::Closed);
    assert_quiet(&got, "receive");
}
