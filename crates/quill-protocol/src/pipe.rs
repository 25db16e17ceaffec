//! Embedded mode's stream: the wire protocol's frames between a front-end
//! child's event loop and a Python thread of the same process, in memory.
//!
//! ```text
//!   front end (tokio, never blocks)                    Python thread (blocks, GIL released)
//!   pair_with(head) / FrontHalf::poll_write ──to_app──▶ AppHalf::read_into + wait_readable
//!   FrontHalf::poll_read ◀──to_front────────────────── AppHalf::write + wait_writable
//! ```
//!
//! It behaves as a non-blocking socket pair would, without system calls:
//! each direction holds at most [`CAPACITY`] bytes (a full direction is
//! `WouldBlock` for the Python side, `Pending` for the front end), a
//! closed end reads as end of stream and fails writes with `BrokenPipe`.
//! The front end is woken through its task's waker; the Python thread
//! through a condition variable, signalled only while it waits.

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;

/// The most bytes one direction holds before its writer must wait (the
/// order of a UNIX socket's buffer).
pub const CAPACITY: usize = 256 * 1024;

#[derive(Debug, Default)]
struct Direction {
    buf: BytesMut,
    /// The writer is done: the reader sees the end once `buf` is empty.
    write_closed: bool,
    /// The reader is gone: writes fail.
    read_closed: bool,
    /// The front end's task waiting on this direction (to read from
    /// `to_front`, or for room in `to_app`).
    waker: Option<Waker>,
}

#[derive(Debug, Default)]
struct State {
    to_app: Direction,
    to_front: Direction,
    /// The Python thread waits on the condition variable.
    app_waiting: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    app_wakeup: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means the other side panicked; the state
        // is still a consistent pair of buffers and flags.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets go of the lock, then wakes the Python thread if it waits (no
    /// system call otherwise). Waking it under the lock would have it
    /// wait for the lock at once.
    fn unlock_and_wake_app(&self, st: MutexGuard<'_, State>) {
        let waiting = st.app_waiting;
        drop(st);
        if waiting {
            self.app_wakeup.notify_all();
        }
    }
}

/// Lets go of the lock, then wakes the front end's task (if it waits):
/// woken under the lock, its event loop could find the lock still taken.
fn unlock_and_wake(st: MutexGuard<'_, State>, waker: Option<Waker>) {
    drop(st);
    if let Some(w) = waker {
        w.wake();
    }
}

fn broken() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the other end is closed")
}

/// A new stream: the front end's half and the Python thread's.
pub fn pair() -> (FrontHalf, AppHalf) {
    pair_with(BytesMut::new())
}

/// A new stream whose direction to the application already holds `head`
/// (the request's `Head` frame, written before a thread takes the
/// stream): the buffer is moved in, not copied, whatever its size.
pub fn pair_with(head: BytesMut) -> (FrontHalf, AppHalf) {
    let mut state = State::default();
    state.to_app.buf = head;
    let shared = Arc::new(Shared {
        state: Mutex::new(state),
        app_wakeup: Condvar::new(),
    });
    (FrontHalf(shared.clone()), AppHalf(shared))
}

/// The front end's half (async: never blocks).
#[derive(Debug)]
pub struct FrontHalf(Arc<Shared>);

impl FrontHalf {
    /// Writes what fits of `data`; `Pending` while the direction is full.
    pub fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let mut st = self.0.lock();
        if st.to_app.read_closed {
            return Poll::Ready(Err(broken()));
        }
        let room = CAPACITY.saturating_sub(st.to_app.buf.len());
        if room == 0 && !data.is_empty() {
            st.to_app.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = room.min(data.len());
        st.to_app.buf.extend_from_slice(&data[..n]);
        self.0.unlock_and_wake_app(st);
        Poll::Ready(Ok(n))
    }

    /// Writes all of `data`, waiting for room.
    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = std::future::poll_fn(|cx| self.poll_write(cx, data)).await?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Appends what the application wrote to `buf` (taking its buffer
    /// whole when `buf` is empty: no copy); `Ok(0)` at the end of stream.
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>> {
        let mut st = self.0.lock();
        let n = st.to_front.buf.len();
        if n > 0 {
            if buf.is_empty() {
                std::mem::swap(buf, &mut st.to_front.buf);
            } else {
                buf.extend_from_slice(&st.to_front.buf);
                st.to_front.buf.clear();
            }
            self.0.unlock_and_wake_app(st);
            return Poll::Ready(Ok(n));
        }
        if st.to_front.write_closed {
            return Poll::Ready(Ok(0));
        }
        st.to_front.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// No more bytes for the application: it reads the end of stream.
    pub fn close_write(&self) {
        let mut st = self.0.lock();
        st.to_app.write_closed = true;
        self.0.unlock_and_wake_app(st);
    }
}

impl Drop for FrontHalf {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.to_app.write_closed = true;
        st.to_front.read_closed = true;
        st.to_front.buf = BytesMut::new();
        self.0.unlock_and_wake_app(st);
    }
}

/// The Python thread's half: non-blocking calls, and waits bounded by a
/// timeout (call them without the GIL).
#[derive(Debug)]
pub struct AppHalf(Arc<Shared>);

impl AppHalf {
    /// Appends what the front end wrote to `buf`; `Ok(0)` at the end of
    /// stream, `WouldBlock` when nothing is there yet.
    pub fn read_into(&self, buf: &mut BytesMut) -> io::Result<usize> {
        let mut st = self.0.lock();
        let n = st.to_app.buf.len();
        if n > 0 {
            if buf.is_empty() {
                std::mem::swap(buf, &mut st.to_app.buf);
            } else {
                buf.extend_from_slice(&st.to_app.buf);
                st.to_app.buf.clear();
            }
            let waker = st.to_app.waker.take();
            unlock_and_wake(st, waker);
            return Ok(n);
        }
        if st.to_app.write_closed || st.to_app.read_closed {
            return Ok(0);
        }
        Err(io::ErrorKind::WouldBlock.into())
    }

    /// Writes what fits of `data`; `WouldBlock` when the direction is full.
    pub fn write(&self, data: &[u8]) -> io::Result<usize> {
        let mut st = self.0.lock();
        if st.to_front.read_closed || st.to_front.write_closed {
            return Err(broken());
        }
        let room = CAPACITY.saturating_sub(st.to_front.buf.len());
        if room == 0 && !data.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = room.min(data.len());
        st.to_front.buf.extend_from_slice(&data[..n]);
        let waker = st.to_front.waker.take();
        unlock_and_wake(st, waker);
        Ok(n)
    }

    /// Waits until a read would not block, at most `timeout` (`None`: no
    /// limit); a timeout is `ErrorKind::TimedOut`.
    pub fn wait_readable(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.wait(timeout, |st| {
            !st.to_app.buf.is_empty() || st.to_app.write_closed || st.to_app.read_closed
        })
    }

    /// Waits until a write would not block, at most `timeout`.
    pub fn wait_writable(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.wait(timeout, |st| {
            st.to_front.buf.len() < CAPACITY || st.to_front.read_closed || st.to_front.write_closed
        })
    }

    fn wait(&self, timeout: Option<Duration>, ready: impl Fn(&State) -> bool) -> io::Result<()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.0.lock();
        loop {
            if ready(&st) {
                st.app_waiting = false;
                return Ok(());
            }
            st.app_waiting = true;
            st = match deadline {
                None => self
                    .0
                    .app_wakeup
                    .wait(st)
                    .unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        st.app_waiting = false;
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
                    }
                    self.0
                        .app_wakeup
                        .wait_timeout(st, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }

    /// Ends both directions (the front end reads the end of stream; the
    /// application reads nothing more).
    pub fn shutdown(&self) {
        let mut st = self.0.lock();
        st.to_front.write_closed = true;
        st.to_app.read_closed = true;
        st.to_app.buf = BytesMut::new();
        let to_app = st.to_app.waker.take();
        let to_front = st.to_front.waker.take();
        unlock_and_wake(st, to_front);
        if let Some(w) = to_app {
            w.wake();
        }
    }
}

impl Drop for AppHalf {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[test]
    fn bytes_go_both_ways_and_end_reads_as_zero() {
        let (front, app) = pair_with(BytesMut::from(&b"head"[..]));
        let mut got = BytesMut::new();
        assert_eq!(app.read_into(&mut got).unwrap(), 4);
        assert_eq!(&got[..], b"head");
        assert_eq!(
            app.read_into(&mut got).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        front.close_write();
        assert_eq!(app.read_into(&mut got).unwrap(), 0);

        assert_eq!(app.write(b"answer").unwrap(), 6);
        let mut back = BytesMut::new();
        assert!(matches!(
            front.poll_read(&mut cx(), &mut back),
            Poll::Ready(Ok(6))
        ));
        assert!(front.poll_read(&mut cx(), &mut back).is_pending());
        app.shutdown();
        assert!(matches!(
            front.poll_read(&mut cx(), &mut back),
            Poll::Ready(Ok(0))
        ));
        assert_eq!(&back[..], b"answer");
    }

    #[test]
    fn a_full_direction_pushes_back_until_read() {
        let (front, app) = pair();
        let big = vec![7u8; CAPACITY + 10];
        assert_eq!(app.write(&big).unwrap(), CAPACITY);
        assert_eq!(
            app.write(b"x").unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        assert_eq!(
            app.wait_writable(Some(Duration::from_millis(1)))
                .unwrap_err()
                .kind(),
            io::ErrorKind::TimedOut
        );
        let mut back = BytesMut::new();
        assert!(matches!(
            front.poll_read(&mut cx(), &mut back),
            Poll::Ready(Ok(n)) if n == CAPACITY
        ));
        app.wait_writable(Some(Duration::from_millis(1))).unwrap();
        assert_eq!(app.write(b"x").unwrap(), 1);

        assert!(matches!(
            front.poll_write(&mut cx(), &big),
            Poll::Ready(Ok(n)) if n == CAPACITY
        ));
        assert!(front.poll_write(&mut cx(), b"y").is_pending());
    }

    #[test]
    fn a_dropped_front_end_breaks_writes_and_ends_reads() {
        let (front, app) = pair();
        drop(front);
        assert_eq!(
            app.write(b"x").unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
        let mut got = BytesMut::new();
        assert_eq!(app.read_into(&mut got).unwrap(), 0);
        app.wait_readable(None).unwrap();
    }

    #[test]
    fn a_waiting_thread_is_woken_by_the_front_end() {
        let (front, app) = pair();
        let t = std::thread::spawn(move || {
            app.wait_readable(Some(Duration::from_secs(30)))?;
            let mut got = BytesMut::new();
            app.read_into(&mut got)?;
            Ok::<_, io::Error>(got)
        });
        assert!(matches!(
            front.poll_write(&mut cx(), b"go"),
            Poll::Ready(Ok(2))
        ));
        let got = t.join().unwrap().unwrap();
        assert_eq!(&got[..], b"go");
    }
}
