//! IPv6.

use super::*;

/// A pair on [::1] exchanges data both ways (skipped, saying why, only if ::1 cannot be
/// bound).
#[test]
fn ipv6_loopback_pair_exchanges_data() {
    let listener = match Listener::on("[::1]:0".parse().unwrap(), "::1") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("skipping ipv6_loopback_pair_exchanges_data: cannot listen on [::1]: {e}");
            return;
        }
    };
    let (client, accepted) = listener.connect_pair();
    assert!(client.peer_addr().expect("peer address").is_ipv6());
    let engine = engine();
    let (a, b) = (open_on(&engine, client), open_on(&engine, accepted));
    let (r, _) = send_and_wait(&a, vec![b"over ".to_vec(), b"ipv6".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(receive_exactly(&b, 9, 16), b"over ipv6");
    let (r, _) = send_and_wait(&b, vec![b"and back".to_vec()]);
    assert_eq!(r, SendResult::Ok);
    assert_eq!(receive_exactly(&a, 8, 16), b"and back");
}
