//! A response taken off the daemon as fast as the daemon sends it,
//! whatever the client does (issue 12, finding 4): the front end's relay
//! task ([`super::proxy::relay`]) writes it into a [`Spool`] — in memory
//! up to [`ResponseBuffer::memory`], then into an unlinked temporary file
//! up to [`ResponseBuffer::file`] (as nginx's proxy buffering does) — and
//! the response body hyper sends reads it back in order. The daemon
//! thread is free once the application has produced its response, not
//! once a slow (or never-reading) client has read it; the client's
//! connection is bounded by `Timeout` on each write (`client_io`).
//!
//! ```text
//!  daemon ─▶ relay task ─▶ memory ≤ M ─┬─▶ hyper ─▶ client
//!                      └─▶ file ≤ F ───┘   (in order: memory first)
//! ```
//!
//! The file is used only once memory has stayed full for
//! [`ResponseBuffer::spill_after`] (a client that keeps up never costs a
//! disk write). Past M + F the relay waits for the client (back-pressure
//! on the daemon, as before). Once the file is read back whole it is emptied, and
//! new data goes to memory again, so the order is kept: data goes to the
//! file only while memory is full or the file still holds some, and
//! memory is read before the file.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;

use super::epoch_us;
use crate::plan::ResponseBuffer;
use crate::workers::Worker;
use quill_mpm::ThreadStatus;

/// The largest piece read back from the file at a time.
const FILE_READ: usize = 64 * 1024;

#[derive(Debug)]
struct Spill {
    file: File,
    written: u64,
    read: u64,
}

#[derive(Debug, Default)]
struct State {
    mem: VecDeque<Bytes>,
    mem_len: usize,
    spill: Option<Spill>,
    /// The file could not be made: memory only.
    no_file: bool,
    /// The response ended: cleanly, or with this error.
    end: Option<Result<(), (io::ErrorKind, String)>>,
    /// Bytes the client side took.
    consumed: u64,
    consumer_gone: bool,
    consumer: Option<Waker>,
    producer: Option<Waker>,
    /// Bytes pushed so far.
    pushed: u64,
    /// Memory stayed full for `spill_after`: more may go to the file
    /// (until it is read back whole).
    spilling: bool,
    /// (event) The request's worker slot and when the request began, let
    /// go (and counted) at the end (see [`Spool::hold_worker`]).
    worker: Option<(Arc<Worker>, Instant)>,
}

impl State {
    fn in_file(&self) -> u64 {
        self.spill.as_ref().map_or(0, |s| s.written - s.read)
    }
}

/// One response between its relay task and its body (see the module doc).
#[derive(Debug)]
pub(super) struct Spool {
    limits: ResponseBuffer,
    state: Mutex<State>,
}

/// What the relay task may do next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Room {
    /// Push more.
    Yes,
    /// The body was dropped (the client got it all, or went away);
    /// `consumed` bytes reached it.
    ConsumerGone { consumed: u64 },
}

impl Spool {
    pub(super) fn new(limits: ResponseBuffer) -> Spool {
        Spool {
            limits,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ready when there is room for more (memory or file), or the body is
    /// gone.
    pub(super) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<Room> {
        let mut s = self.lock();
        if s.consumer_gone {
            return Poll::Ready(Room::ConsumerGone {
                consumed: s.consumed,
            });
        }
        // Room where the next piece goes (see `push`): the file only once
        // the client was given `spill_after` to make room in memory.
        let file_room = !s.no_file && s.in_file() < self.limits.file;
        let room = if s.in_file() > 0 {
            file_room
        } else {
            s.mem_len < self.limits.memory || s.spilling && file_room
        };
        if room || s.end.is_some() {
            return Poll::Ready(Room::Yes);
        }
        s.producer = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Keeps the request's worker slot until the response is all here
    /// (or the body is dropped), then counts the request on it and lets it
    /// go.
    pub(super) fn hold_worker(&self, worker: Arc<Worker>, started: Instant) {
        let mut s = self.lock();
        if s.end.is_some() || s.consumer_gone {
            let pushed = s.pushed;
            drop(s);
            release((worker, started), pushed);
        } else {
            s.worker = Some((worker, started));
        }
    }

    /// Adds `data` after what is held: to memory while it has room and the
    /// file holds nothing, else to the file.
    pub(super) fn push(&self, data: Bytes) {
        let mut s = self.lock();
        if s.consumer_gone || s.end.is_some() {
            return;
        }
        s.pushed += data.len() as u64;
        let to_memory = s.in_file() == 0
            && (s.mem_len + data.len() <= self.limits.memory.max(1)
                || !s.spilling
                || s.mem_len == 0)
            || s.no_file;
        let written = if to_memory {
            false
        } else {
            match self.spill(&mut s, &data) {
                Ok(()) => true,
                Err(e) if s.in_file() > 0 => {
                    // What follows the file's data cannot go first.
                    s.end = Some(Err((e.kind(), format!("response buffer file: {e}"))));
                    true
                }
                Err(_) => {
                    // No file: hold it in memory, and hold no more.
                    s.no_file = true;
                    false
                }
            }
        };
        if !written {
            s.mem_len += data.len();
            s.mem.push_back(data);
        }
        if let Some(w) = s.consumer.take() {
            w.wake();
        }
    }

    fn spill(&self, s: &mut State, data: &[u8]) -> io::Result<()> {
        if s.spill.is_none() {
            s.spill = Some(Spill {
                file: temp_file(&self.limits.dir)?,
                written: 0,
                read: 0,
            });
        }
        let Some(spill) = s.spill.as_mut() else {
            return Err(io::ErrorKind::NotFound.into());
        };
        spill.file.write_all_at(data, spill.written)?;
        spill.written += data.len() as u64;
        Ok(())
    }

    /// How long the relay waits for the client to make room in memory
    /// before it writes to the file.
    pub(super) fn spill_after(&self) -> std::time::Duration {
        self.limits.spill_after
    }

    /// The client did not make room in memory in time: what follows may
    /// go to the file.
    pub(super) fn allow_spill(&self) {
        self.lock().spilling = true;
    }

    /// Ready once the body is dropped.
    pub(super) fn poll_gone(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.lock();
        if s.consumer_gone {
            return Poll::Ready(());
        }
        s.producer = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The response ended (`Ok`) or broke off (a failure to write the file
    /// before stays the end).
    pub(super) fn finish(&self, end: Result<(), io::Error>) {
        let mut s = self.lock();
        if s.end.is_none() {
            s.end = Some(end.map_err(|e| (e.kind(), e.to_string())));
        }
        if let Some(w) = s.consumer.take() {
            w.wake();
        }
        let (worker, pushed) = (s.worker.take(), s.pushed);
        drop(s);
        if let Some(w) = worker {
            release(w, pushed);
        }
    }

    /// The next piece for the client, in order; `None` at the end.
    pub(super) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        let mut s = self.lock();
        let piece = if let Some(b) = s.mem.pop_front() {
            s.mem_len -= b.len();
            Some(Ok(b))
        } else if s.in_file() > 0 {
            Some(read_back(&mut s))
        } else {
            match &s.end {
                Some(Ok(())) => return Poll::Ready(None),
                Some(Err((kind, message))) => {
                    return Poll::Ready(Some(Err(io::Error::new(*kind, message.clone()))));
                }
                None => None,
            }
        };
        match piece {
            Some(p) => {
                if let Ok(b) = &p {
                    s.consumed += b.len() as u64;
                }
                if let Some(w) = s.producer.take() {
                    w.wake();
                }
                Poll::Ready(Some(p))
            }
            None => {
                s.consumer = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// Nothing more to send: the end came and everything went.
    pub(super) fn is_end(&self) -> bool {
        let s = self.lock();
        matches!(s.end, Some(Ok(()))) && s.mem.is_empty() && s.in_file() == 0
    }

    /// The body is dropped: the relay stops pushing (see [`Room`]).
    pub(super) fn consumer_gone(&self) {
        let mut s = self.lock();
        s.consumer_gone = true;
        s.mem.clear();
        s.mem_len = 0;
        s.spill = None;
        if let Some(w) = s.producer.take() {
            w.wake();
        }
        let (worker, pushed) = (s.worker.take(), s.pushed);
        drop(s);
        if let Some(w) = worker {
            release(w, pushed);
        }
    }
}

/// Counts the request (begun at `started`) on its worker slot and lets
/// the slot go.
fn release((worker, started): (Arc<Worker>, Instant), bytes: u64) {
    let duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    worker.count_request(bytes, duration_us, epoch_us());
    worker.set(ThreadStatus::BusyKeepalive);
}

/// Reads the next piece back from the file; once all of it is read, the
/// file is emptied (its blocks freed) for what comes next.
fn read_back(s: &mut State) -> io::Result<Bytes> {
    let Some(spill) = s.spill.as_mut() else {
        return Err(io::ErrorKind::NotFound.into());
    };
    let n = usize::try_from(spill.written - spill.read)
        .unwrap_or(FILE_READ)
        .min(FILE_READ);
    let mut buf = vec![0u8; n];
    spill.file.read_exact_at(&mut buf, spill.read)?;
    spill.read += n as u64;
    if spill.read == spill.written {
        spill.file.set_len(0)?;
        spill.read = 0;
        spill.written = 0;
        s.spilling = false;
    }
    Ok(Bytes::from(buf))
}

/// A temporary file in `dir` with no name (O_TMPFILE), or, where the file
/// system cannot make one, a named one removed at once.
fn temp_file(dir: &std::path::Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let unnamed = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir);
    if let Ok(f) = unnamed {
        return Ok(f);
    }
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("quill-response-{}-{n}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(spool: &Spool) -> (Vec<u8>, bool) {
        let mut cx = Context::from_waker(Waker::noop());
        let mut out = Vec::new();
        loop {
            match spool.poll_next(&mut cx) {
                Poll::Ready(Some(Ok(b))) => out.extend_from_slice(&b),
                Poll::Ready(Some(Err(_))) => return (out, false),
                Poll::Ready(None) => return (out, true),
                Poll::Pending => return (out, false),
            }
        }
    }

    #[test]
    fn a_response_goes_to_memory_then_to_the_file_and_comes_back_in_order() {
        let spool = Spool::new(ResponseBuffer {
            memory: 10,
            file: 25,
            dir: std::env::temp_dir(),
            spill_after: std::time::Duration::ZERO,
        });
        let mut cx = Context::from_waker(Waker::noop());
        let mut sent = Vec::new();
        let mut i = 0u8;
        let mut push = |sent: &mut Vec<u8>| {
            let piece: Vec<u8> = (0..4).map(|k| i * 4 + k).collect();
            sent.extend_from_slice(&piece);
            spool.push(Bytes::from(piece));
            i += 1;
        };
        // Memory (10 bytes; a piece may pass the limit), while the client
        // is given time to make room.
        while spool.poll_room(&mut cx) == Poll::Ready(Room::Yes) {
            push(&mut sent);
        }
        assert_eq!(spool.lock().mem_len, 12);
        assert_eq!(spool.lock().in_file(), 0, "no file before the wait");
        // The relay gave up waiting: the file, up to 25 bytes.
        spool.allow_spill();
        while spool.poll_room(&mut cx) == Poll::Ready(Room::Yes) {
            push(&mut sent);
        }
        {
            let s = spool.lock();
            assert_eq!((s.mem_len, s.in_file()), (12, 28));
        }
        // Read it: memory first, then the file; room again, in memory.
        let mut got = Vec::new();
        for _ in 0..4 {
            if let Poll::Ready(Some(Ok(b))) = spool.poll_next(&mut cx) {
                got.extend_from_slice(&b);
            }
        }
        assert_eq!(spool.poll_room(&mut cx), Poll::Ready(Room::Yes));
        assert!(!spool.lock().spilling, "the file was read back whole");
        spool.push(Bytes::from_static(&[200, 201]));
        sent.extend_from_slice(&[200, 201]);
        spool.finish(Ok(()));
        let (rest, ended) = drain(&spool);
        got.extend_from_slice(&rest);
        assert!(ended);
        assert_eq!(got, sent);
        assert!(spool.is_end());
    }

    #[test]
    fn a_dropped_body_stops_the_relay_and_frees_what_was_held() {
        let spool = Spool::new(ResponseBuffer {
            memory: 4,
            file: 0,
            dir: std::env::temp_dir(),
            spill_after: std::time::Duration::ZERO,
        });
        let mut cx = Context::from_waker(Waker::noop());
        spool.push(Bytes::from_static(b"abcd"));
        assert_eq!(spool.poll_room(&mut cx), Poll::Pending);
        assert!(matches!(spool.poll_next(&mut cx), Poll::Ready(Some(Ok(_)))));
        spool.push(Bytes::from_static(b"ef"));
        spool.consumer_gone();
        assert_eq!(
            spool.poll_room(&mut cx),
            Poll::Ready(Room::ConsumerGone { consumed: 4 })
        );
        assert_eq!(spool.lock().mem_len, 0);
    }
}
