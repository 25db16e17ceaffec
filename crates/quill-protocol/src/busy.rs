//! Busy threads and request counters per daemon process, in shared
//! memory: written by each daemon process of a group, read by every
//! front-end child.
//!
//! A front-end child keeps connections to the daemon processes it has
//! talked to and sends a request on a kept connection only to a process
//! with an idle thread (crates/quill-server/src/pool.rs). Its own count of
//! the requests it has in flight there misses those of the other children;
//! this board gives it the process's own count. The same entries count
//! what each process has done, for the metrics page (docs/status.md).
//!
//! ```text
//!   one file per daemon group in the run directory, created by the
//!   supervisor, mapped MAP_SHARED; entries of 57 words (u64):
//!
//!   entry 0        the retired processes' totals (pid u32::MAX)
//!   entry 1 …      one per live process, 2 × processes of them:
//!     word 0        pid << 32 | busy threads          0 = free
//!     1, 2          requests, thread-µs spent on them
//!     3–7           responses by status class, 1xx … 5xx
//!     8, 9          start (µs since the epoch), threads
//!     10–48         queue, application and server time histograms:
//!                   sum (µs), then a count per bucket of BUCKETS_US
//!     49–56         (entry 0) processes that ended, by RESTART_REASONS
//! ```
//!
//! A daemon process claims a free entry by compare-and-swap when it
//! starts and then owns it; the supervisor adds its counters to the
//! retired totals and frees it when it reaps the process. There are two
//! entries per process slot, so a replacement can start while the process
//! it replaces is still finishing its requests. A process that finds no
//! free entry publishes nothing, and the front end then goes by its own
//! count, as it does for a process it can't find.

// The map is shared with other processes, so its entries are atomics
// reached through a raw pointer into it; `BusyBoard::entries` checks the
// bounds and alignment once.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::MmapRaw;

/// The file descriptor number at which a daemon process finds its group's
/// busy board (see [`crate::spec::LISTEN_FD`] and
/// [`crate::spec::CONTROL_FD`] for the others).
pub const BUSY_FD: i32 = 5;

/// Words (u64) per entry; see the layout above.
const WORDS: usize = 57;
const ENTRY: usize = WORDS * std::mem::size_of::<u64>();
const W_STATE: usize = 0;
const W_REQUESTS: usize = 1;
const W_BUSY_US: usize = 2;
const W_CLASSES: usize = 3;
/// A live process: when it started (µs since the epoch). The retired
/// entry: thread-µs the retired processes had.
const W_STARTED_US: usize = 8;
const W_THREADS: usize = 9;
const W_HISTOGRAMS: usize = 10;
/// Entry 0 only: processes that ended, by [`RESTART_REASONS`].
const W_RESTARTS: usize = 49;

/// Why daemon processes ended, as the board counts them: the daemon's own
/// reasons (the `retiring` control message), `replaced` (the supervisor
/// replaced the group: its script changed, or the server restarted) and
/// `died` (exited without retiring: a crash, a kill).
pub const RESTART_REASONS: [&str; 8] = [
    "died",
    "maximum_requests",
    "inactivity_timeout",
    "request_timeout",
    "deadlock_timeout",
    "startup_timeout",
    "replaced",
    "other",
];
/// Sum (µs), then one count per bucket.
const HISTOGRAM_WORDS: usize = 1 + BUCKETS_US.len();
/// Entry 0 holds what processes that are gone did; its pid is one no
/// process has.
const RETIRED_PID: u32 = u32::MAX;

/// Upper bounds of the time histograms' buckets, µs (the last is +Inf).
pub const BUCKETS_US: [u64; 12] = [
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    u64::MAX,
];

/// The shared table of one daemon group.
#[derive(Debug)]
pub struct BusyBoard {
    map: MmapRaw,
}

/// The entry a daemon process claimed: it alone writes it.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    index: usize,
}

/// One finished request, as a daemon process counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// The response's status (0: none was sent).
    pub status: u16,
    /// From the front end's arrival to a thread taking the request.
    pub queue_us: u64,
    /// From the thread taking it to its end: the thread's busy time.
    pub app_us: u64,
    /// From the front end's arrival to the end.
    pub server_us: u64,
}

/// Time histogram: sum (µs) and the count in each bucket of
/// [`BUCKETS_US`] (not cumulative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Histogram {
    pub sum_us: u64,
    pub buckets: [u64; 12],
}

impl Histogram {
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// What one entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// The process (0 for the retired processes' totals).
    pub pid: u32,
    pub busy: u32,
    pub requests: u64,
    /// Thread time spent on requests, µs.
    pub busy_us: u64,
    /// Responses by status class: 1xx … 5xx.
    pub classes: [u64; 5],
    /// Live process: its start (µs since the epoch) and threads. Retired
    /// totals: `started_us` is the thread-µs those processes had.
    pub started_us: u64,
    pub threads: u32,
    pub queue: Histogram,
    pub app: Histogram,
    pub server: Histogram,
    /// Retired totals only: processes that ended, by [`RESTART_REASONS`].
    pub restarts: [u64; 8],
}

fn pack(pid: u32, busy: u32) -> u64 {
    (u64::from(pid) << 32) | u64::from(busy)
}

fn pid_of(v: u64) -> u32 {
    u32::try_from(v >> 32).unwrap_or(0)
}

fn bucket(us: u64) -> usize {
    BUCKETS_US
        .iter()
        .position(|&b| us <= b)
        .unwrap_or(BUCKETS_US.len() - 1)
}

impl BusyBoard {
    /// How many entries a group of `processes` processes gets: the retired
    /// totals, and two per process.
    pub fn entries_for(processes: u32) -> usize {
        (processes.max(1) as usize).saturating_mul(2) + 1
    }

    /// Creates (or truncates) the board file, every entry free, private to
    /// this user, and maps it.
    pub fn create(path: &Path, processes: u32) -> io::Result<BusyBoard> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        let len = Self::len_for(processes);
        file.set_len(len as u64)?;
        let board = Self::map(&file)?;
        board.words()[W_STATE].store(pack(RETIRED_PID, 0), Ordering::Release);
        Ok(board)
    }

    /// The board's length in bytes for a group of `processes` processes.
    pub fn len_for(processes: u32) -> usize {
        Self::entries_for(processes) * ENTRY
    }

    /// Maps an existing board (a front-end child attaching to its
    /// supervisor's).
    pub fn attach(path: &Path) -> io::Result<BusyBoard> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Self::map(&file)
    }

    /// Maps the board open at `file` (a daemon process, at [`BUSY_FD`]).
    pub fn map(file: &File) -> io::Result<BusyBoard> {
        let len = file.metadata()?.len();
        if len == 0 || len % ENTRY as u64 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{len} bytes is not a busy board"),
            ));
        }
        Ok(BusyBoard {
            map: MmapRaw::map_raw(file)?,
        })
    }

    fn words(&self) -> &[AtomicU64] {
        let n = self.map.len() / std::mem::size_of::<u64>();
        let ptr = self.map.as_ptr();
        assert!(
            (ptr as usize) % std::mem::align_of::<AtomicU64>() == 0,
            "the busy board's map is not aligned"
        );
        // SAFETY: the map is page-aligned (checked above for AtomicU64's
        // alignment) and `n` whole words fit in it; it lives as long as
        // `self`, which the returned slice borrows. Every bit pattern is a
        // valid AtomicU64, which may be shared between threads and
        // processes.
        unsafe { std::slice::from_raw_parts(ptr.cast::<AtomicU64>(), n) }
    }

    fn entry(&self, index: usize) -> Option<&[AtomicU64]> {
        self.words().get(index * WORDS..(index + 1) * WORDS)
    }

    fn entries(&self) -> impl Iterator<Item = (usize, &[AtomicU64])> {
        self.words().chunks_exact(WORDS).enumerate()
    }

    /// Claims a free entry for process `pid` (of `threads` threads, started
    /// at `started_us`), with no thread busy; `None` when every entry is
    /// taken.
    pub fn claim(&self, pid: u32, threads: u32, started_us: u64) -> Option<Claim> {
        self.entries().skip(1).find_map(|(index, e)| {
            e[W_STATE]
                .compare_exchange(0, pack(pid, 0), Ordering::AcqRel, Ordering::Relaxed)
                .ok()?;
            e[W_STARTED_US].store(started_us, Ordering::Relaxed);
            e[W_THREADS].store(u64::from(threads), Ordering::Release);
            Some(Claim { index })
        })
    }

    /// One more of the claiming process's threads is busy.
    pub fn enter(&self, claim: Claim) {
        if let Some(e) = self.entry(claim.index) {
            e[W_STATE].fetch_add(1, Ordering::AcqRel);
        }
    }

    /// One of the claiming process's busy threads is idle again (never
    /// below zero, so never into the pid).
    pub fn leave(&self, claim: Claim) {
        if let Some(e) = self.entry(claim.index) {
            let _ = e[W_STATE].fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                (v & 0xffff_ffff != 0).then(|| v - 1)
            });
        }
    }

    /// Counts a finished request of the claiming process.
    pub fn record(&self, claim: Claim, s: &Sample) {
        let Some(e) = self.entry(claim.index) else {
            return;
        };
        e[W_REQUESTS].fetch_add(1, Ordering::Relaxed);
        e[W_BUSY_US].fetch_add(s.app_us, Ordering::Relaxed);
        if (100..600).contains(&s.status) {
            e[W_CLASSES + usize::from(s.status / 100) - 1].fetch_add(1, Ordering::Relaxed);
        }
        for (h, us) in [s.queue_us, s.app_us, s.server_us].into_iter().enumerate() {
            let base = W_HISTOGRAMS + h * HISTOGRAM_WORDS;
            e[base].fetch_add(us, Ordering::Relaxed);
            e[base + 1 + bucket(us)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Busy threads of process `pid`, if it publishes them.
    pub fn busy(&self, pid: u32) -> Option<u32> {
        self.entries().skip(1).find_map(|(_, e)| {
            let v = e[W_STATE].load(Ordering::Acquire);
            (v != 0 && pid_of(v) == pid).then(|| u32::try_from(v & 0xffff_ffff).unwrap_or(0))
        })
    }

    /// Each live process's pid, busy threads and threads.
    pub fn loads(&self) -> impl Iterator<Item = (u32, u32, u32)> + '_ {
        self.entries().skip(1).filter_map(|(_, e)| {
            let v = e[W_STATE].load(Ordering::Acquire);
            let threads = u32::try_from(e[W_THREADS].load(Ordering::Acquire)).unwrap_or(u32::MAX);
            (v != 0).then(|| {
                (
                    pid_of(v),
                    u32::try_from(v & 0xffff_ffff).unwrap_or(0),
                    threads,
                )
            })
        })
    }

    fn read(e: &[AtomicU64]) -> Counters {
        let w = |i: usize| e[i].load(Ordering::Relaxed);
        let histogram = |h: usize| {
            let base = W_HISTOGRAMS + h * HISTOGRAM_WORDS;
            let mut buckets = [0u64; 12];
            for (i, b) in buckets.iter_mut().enumerate() {
                *b = w(base + 1 + i);
            }
            Histogram {
                sum_us: w(base),
                buckets,
            }
        };
        let state = e[W_STATE].load(Ordering::Acquire);
        let pid = pid_of(state);
        Counters {
            pid: if pid == RETIRED_PID { 0 } else { pid },
            busy: u32::try_from(state & 0xffff_ffff).unwrap_or(0),
            requests: w(W_REQUESTS),
            busy_us: w(W_BUSY_US),
            classes: [
                w(W_CLASSES),
                w(W_CLASSES + 1),
                w(W_CLASSES + 2),
                w(W_CLASSES + 3),
                w(W_CLASSES + 4),
            ],
            started_us: w(W_STARTED_US),
            threads: u32::try_from(w(W_THREADS)).unwrap_or(u32::MAX),
            queue: histogram(0),
            app: histogram(1),
            server: histogram(2),
            restarts: std::array::from_fn(|i| w(W_RESTARTS + i)),
        }
    }

    /// (supervisor) A process of the group ended, for `reason` (one of
    /// [`RESTART_REASONS`]; anything else counts as `other`).
    pub fn count_restart(&self, reason: &str) {
        let i = RESTART_REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(RESTART_REASONS.len() - 1);
        if let Some(total) = self.entry(0) {
            total[W_RESTARTS + i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The retired processes' totals, then each live process's counters.
    pub fn snapshot(&self) -> (Counters, Vec<Counters>) {
        let mut live = Vec::new();
        let mut retired = Counters::default();
        for (index, e) in self.entries() {
            if index == 0 {
                retired = Self::read(e);
            } else if e[W_STATE].load(Ordering::Acquire) != 0 {
                live.push(Self::read(e));
            }
        }
        (retired, live)
    }

    /// A process that is gone (the supervisor, when it reaps it at
    /// `now_us`): its counters go to the retired totals and its entry is
    /// freed.
    pub fn retire(&self, pid: u32, now_us: u64) {
        let Some(total) = self.entry(0) else { return };
        for (index, e) in self.entries() {
            let v = e[W_STATE].load(Ordering::Acquire);
            if index == 0 || v == 0 || pid_of(v) != pid {
                continue;
            }
            let threads = e[W_THREADS].load(Ordering::Relaxed);
            let started = e[W_STARTED_US].load(Ordering::Relaxed);
            total[W_STARTED_US].fetch_add(
                threads.saturating_mul(now_us.saturating_sub(started)),
                Ordering::Relaxed,
            );
            for i in (W_REQUESTS..WORDS).filter(|&i| i != W_STARTED_US && i != W_THREADS) {
                total[i].fetch_add(e[i].swap(0, Ordering::Relaxed), Ordering::Relaxed);
            }
            e[W_STARTED_US].store(0, Ordering::Relaxed);
            e[W_THREADS].store(0, Ordering::Relaxed);
            let _ = e[W_STATE].compare_exchange(v, 0, Ordering::AcqRel, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("quill-busy-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("board")
    }

    #[test]
    fn a_process_publishes_its_busy_threads_to_every_reader() {
        let path = temp("busy");
        let board = BusyBoard::create(&path, 1).expect("create");
        let reader = BusyBoard::attach(&path).expect("attach");
        assert_eq!(reader.busy(100), None);
        let a = board.claim(100, 4, 0).expect("a free entry");
        for _ in 0..4 {
            board.enter(a);
        }
        board.leave(a);
        assert_eq!(reader.busy(100), Some(3));
        // A replacement starts while the old process finishes.
        let b = board.claim(200, 4, 0).expect("the second entry");
        board.leave(b); // never below zero
        assert!(board.claim(300, 4, 0).is_none(), "two entries per process");
        assert_eq!((reader.busy(100), reader.busy(200)), (Some(3), Some(0)));
        board.retire(100, 0);
        assert_eq!(reader.busy(100), None);
        let c = board.claim(300, 4, 0).expect("the freed entry");
        board.enter(c);
        assert_eq!(reader.busy(300), Some(1));
        assert_eq!(reader.busy(200), Some(0));
        let mut loads: Vec<_> = reader.loads().collect();
        loads.sort();
        assert_eq!(loads, vec![(200, 0, 4), (300, 1, 4)]);
        assert_eq!(
            reader.busy(RETIRED_PID),
            None,
            "the retired totals are no process"
        );
        std::fs::remove_file(&path).expect("clean up");
    }

    #[test]
    fn requests_are_counted_and_kept_when_their_process_is_gone() {
        let path = temp("counters");
        let board = BusyBoard::create(&path, 1).expect("create");
        let a = board.claim(7, 2, 1_000_000).expect("an entry");
        let sample = |status, app_us| Sample {
            status,
            queue_us: 500,
            app_us,
            server_us: app_us + 500,
        };
        board.record(a, &sample(200, 3_000));
        board.record(a, &sample(503, 2_000_000));
        board.record(a, &sample(0, 10));
        let (retired, live) = BusyBoard::attach(&path).expect("attach").snapshot();
        assert_eq!(retired, Counters::default());
        let [p] = live.as_slice() else {
            panic!("one process: {live:?}")
        };
        assert_eq!((p.pid, p.requests, p.busy_us), (7, 3, 2_003_010));
        assert_eq!(p.classes, [0, 1, 0, 0, 1]);
        assert_eq!((p.threads, p.started_us), (2, 1_000_000));
        assert_eq!(p.queue.count(), 3);
        assert_eq!(p.queue.buckets[0], 3, "500 µs ≤ 1 ms");
        assert_eq!(p.app.buckets[bucket(3_000)], 1);
        assert_eq!(p.app.buckets[10], 1, "2 s ≤ 2.5 s");
        assert_eq!(p.app.sum_us, 2_003_010);
        board.retire(7, 3_000_000);
        board.count_restart("maximum_requests");
        board.count_restart("something new");
        let (retired, live) = board.snapshot();
        assert_eq!(retired.restarts, [0, 1, 0, 0, 0, 0, 0, 1]);
        assert!(live.is_empty());
        assert_eq!(
            (retired.pid, retired.requests, retired.busy_us),
            (0, 3, 2_003_010)
        );
        assert_eq!(retired.started_us, 2 * 2_000_000, "thread-µs it had");
        assert_eq!(retired.app.count(), 3);
        let b = board.claim(8, 2, 0).expect("the freed entry");
        let (_, live) = board.snapshot();
        assert_eq!(live[0].requests, 0, "a fresh entry for the new process");
        board.record(b, &sample(200, 1));
        std::fs::remove_file(&path).expect("clean up");
    }

    #[test]
    fn a_file_of_the_wrong_size_is_refused() {
        let path = temp("bad");
        std::fs::write(&path, b"abc").expect("write");
        assert!(BusyBoard::attach(&path).is_err());
        std::fs::remove_file(&path).expect("clean up");
    }
}
