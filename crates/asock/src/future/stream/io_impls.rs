//! The tokio and futures-io traits for the stream and its halves.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{OwnedReadHalf, OwnedWriteHalf, SocketStream};

/// The read traits of one feature for a type with `read` and `shared` fields.
macro_rules! read_impls {
    ($ty:ty) => {
        #[cfg(feature = "tokio")]
        #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
        impl tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let this = self.get_mut();
                this.read
                    .poll_read(&this.shared, cx, buf)
                    .map(|r| r.map(|_| ()))
            }
        }

        #[cfg(feature = "tokio")]
        #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
        impl tokio::io::AsyncBufRead for $ty {
            fn poll_fill_buf(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<&[u8]>> {
                let this = self.get_mut();
                this.read.poll_fill(&this.shared, cx)
            }
            fn consume(self: Pin<&mut Self>, amt: usize) {
                self.get_mut().read.consume(amt)
            }
        }

        #[cfg(feature = "futures-io")]
        #[cfg_attr(docsrs, doc(cfg(feature = "futures-io")))]
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                let this = self.get_mut();
                this.read.poll_read(&this.shared, cx, buf)
            }
        }

        #[cfg(feature = "futures-io")]
        #[cfg_attr(docsrs, doc(cfg(feature = "futures-io")))]
        impl futures_io::AsyncBufRead for $ty {
            fn poll_fill_buf(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<&[u8]>> {
                let this = self.get_mut();
                this.read.poll_fill(&this.shared, cx)
            }
            fn consume(self: Pin<&mut Self>, amt: usize) {
                self.get_mut().read.consume(amt)
            }
        }
    };
}

/// The write traits for a type with a `shared` field; `poll_shutdown` / `poll_close`
/// half-close.
macro_rules! write_impls {
    ($ty:ty) => {
        #[cfg(feature = "tokio")]
        #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
        impl tokio::io::AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.shared.poll_write(cx, &[io::IoSlice::new(buf)])
            }
            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.shared.poll_write(cx, bufs)
            }
            fn is_write_vectored(&self) -> bool {
                true
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.shared.poll_flush(cx)
            }
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.shared.poll_shutdown(cx)
            }
        }

        #[cfg(feature = "futures-io")]
        #[cfg_attr(docsrs, doc(cfg(feature = "futures-io")))]
        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.shared.poll_write(cx, &[io::IoSlice::new(buf)])
            }
            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.shared.poll_write(cx, bufs)
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.shared.poll_flush(cx)
            }
            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.shared.poll_shutdown(cx)
            }
        }
    };
}

read_impls!(SocketStream);
write_impls!(SocketStream);
read_impls!(OwnedReadHalf);
write_impls!(OwnedWriteHalf);
