//! What a request thread's connection runs over: a UNIX socket from a
//! front-end child (daemon mode), or an in-memory pipe from the event loop
//! of its own process (embedded mode, `quill_protocol::pipe`). Both carry
//! the same frames, so `conn` and the bridge serve either alike.

use std::io::{self, IoSlice, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use quill_protocol::pipe::AppHalf;

/// A connection's transport.
#[derive(Debug)]
pub enum Link {
    Socket(UnixStream),
    Memory(AppHalf),
}

/// What a wait is for.
#[derive(Debug, Clone, Copy)]
pub enum Ready {
    Read,
    Write,
}

impl Link {
    /// The socket's descriptor (daemon mode), for epoll and sendfile.
    pub fn socket_fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Link::Socket(s) => Some(s.as_fd()),
            Link::Memory(_) => None,
        }
    }

    /// One read into the spare capacity of `buf`; `WouldBlock` when
    /// nothing is there yet, `Ok(0)` at the end of stream.
    pub fn read_spare(&self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Link::Socket(s) => read_spare(s, buf),
            Link::Memory(p) => p.read_into(buf),
        }
    }

    pub fn write(&self, data: &[u8]) -> io::Result<usize> {
        match self {
            Link::Socket(s) => (&*s).write(data),
            Link::Memory(p) => p.write(data),
        }
    }

    pub fn write_vectored(&self, iov: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Link::Socket(s) => (&*s).write_vectored(iov),
            Link::Memory(p) => {
                let mut total = 0;
                for slice in iov {
                    let n = match p.write(slice) {
                        Ok(n) => n,
                        Err(e) if total > 0 && e.kind() == io::ErrorKind::WouldBlock => 0,
                        Err(e) => return Err(e),
                    };
                    total += n;
                    if n < slice.len() {
                        break;
                    }
                }
                Ok(total)
            }
        }
    }

    /// Waits until a read or write would not block, at most `timeout`
    /// (`None` = no limit); a timeout is `ErrorKind::TimedOut`.
    pub fn wait(&self, ready: Ready, timeout: Option<Duration>) -> io::Result<()> {
        match (self, ready) {
            (Link::Socket(s), Ready::Read) => wait(s, PollFlags::POLLIN, timeout),
            (Link::Socket(s), Ready::Write) => wait(s, PollFlags::POLLOUT, timeout),
            (Link::Memory(p), Ready::Read) => p.wait_readable(timeout),
            (Link::Memory(p), Ready::Write) => p.wait_writable(timeout),
        }
    }

    /// Ends the connection both ways for every holder.
    pub fn shutdown(&self) {
        match self {
            Link::Socket(s) => {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            Link::Memory(p) => p.shutdown(),
        }
    }
}

fn wait(stream: &UnixStream, flags: PollFlags, timeout: Option<Duration>) -> io::Result<()> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let ms = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
                }
                let ms = u32::try_from(left.as_millis().max(1)).unwrap_or(u32::MAX);
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = [PollFd::new(stream.as_fd(), flags)];
        match poll(&mut fds, ms) {
            Ok(0) => continue, // re-check the deadline
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// One `read(2)` into the spare capacity of `buf` (no zero-filling, no
/// bounce buffer).
fn read_spare(stream: &UnixStream, buf: &mut BytesMut) -> io::Result<usize> {
    use bytes::BufMut;
    let spare = buf.chunk_mut();
    let len = spare.len();
    #[allow(unsafe_code)]
    // SAFETY: `spare` is `len` writable bytes owned by `buf`; read(2)
    // writes at most `len` bytes into them, and exactly the `n` it reports
    // are marked initialised by `advance_mut`.
    unsafe {
        let n = libc::read(stream.as_raw_fd(), spare.as_mut_ptr().cast(), len);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        buf.advance_mut(n);
        Ok(n)
    }
}
