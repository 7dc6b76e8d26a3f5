//! A TLS echo server with tokio-rustls over `asock::future::SocketStream` (rustls with the
//! `ring` provider), in tokio tasks, and a TLS client in the same process that checks the echo.
//! The server's certificate is self-signed, made at run time with rcgen for `localhost`; the
//! client trusts exactly that certificate.
//!
//! ```text
//! cargo run -p asock --features tokio --example tls_echo
//! ```

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use asock::future::{Listener, SocketStream};
use asock::ExecutionEngine;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const LINES: usize = 50;

/// The server's and the client's TLS configurations around one fresh self-signed certificate.
fn tls_configs() -> Result<(TlsAcceptor, TlsConnector), Box<dyn Error>> {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert)?;
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((
        TlsAcceptor::from(Arc::new(server)),
        TlsConnector::from(Arc::new(client)),
    ))
}

/// Echoes every connection's bytes until the client closes its side.
async fn serve(listener: Listener, acceptor: TlsAcceptor) {
    loop {
        let (stream, peer) = match listener.accept_stream().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("tls_echo: accept: {e}");
                continue;
            }
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let echoed = async {
                let tls = acceptor.accept(stream).await?;
                let (mut r, mut w) = tokio::io::split(tls);
                let n = tokio::io::copy(&mut r, &mut w).await?;
                w.shutdown().await?;
                Ok::<u64, std::io::Error>(n)
            };
            if let Err(e) = echoed.await {
                eprintln!("tls_echo: {peer}: {e}");
            }
        });
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let engine = ExecutionEngine::new(None)?;
    let (acceptor, connector) = tls_configs()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()?;
    rt.block_on(async {
        let listener = Listener::bind(&engine, "127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        tokio::spawn(serve(listener, acceptor));

        let stream =
            SocketStream::connect(&engine, "127.0.0.1", port, Duration::from_secs(5)).await?;
        let tls = connector
            .connect(ServerName::try_from("localhost")?, stream)
            .await?;
        let (r, mut w) = tokio::io::split(tls);
        let writer = tokio::spawn(async move {
            for i in 0..LINES {
                w.write_all(format!("line {i} over TLS on asock\n").as_bytes())
                    .await?;
            }
            w.shutdown().await?; // close_notify, then the stream half-closes
            Ok::<(), std::io::Error>(())
        });
        let mut lines = BufReader::new(r).lines();
        let mut n = 0;
        while let Some(line) = lines.next_line().await? {
            if line != format!("line {n} over TLS on asock") {
                return Err(format!("echo {n}: {line:?}").into());
            }
            n += 1;
        }
        writer.await??;
        if n != LINES {
            return Err(format!("{n} of {LINES} lines came back").into());
        }
        println!("tls_echo: {LINES} lines echoed over TLS (rustls, ring) on asock");
        Ok::<(), Box<dyn Error>>(())
    })
}
