//! The scoreboard in shared memory: httpd's table of process slots × thread
//! slots, written by the front-end children and read by the supervisor
//! (which copies it into the pool controller's model before every
//! maintenance tick) and, later, by a status page.
//!
//! ```text
//!   file in the run directory, mapped MAP_SHARED by the supervisor and by
//!   every front-end child:
//!
//!   ┌ header (64 B) ─ magic "QSB1", layout version, ServerLimit, ThreadLimit,
//!   │                 restart time (µs since the epoch), config and MPM
//!   │                 generations (what mod_status reports)
//!   ├ process slot 0 (32 B) ─ pid, generation, quiescing, not_accepting,
//!   │ …                         connections, keep-alive and lingering counts
//!   │                           (lingering is written as 0 for now)
//!   ├ process slot ServerLimit−1
//!   ├ thread (0, 0) (32 B) ─ status (`. S _ R W K L D C G I`), requests,
//!   │ …                       bytes sent, last-used time (µs since the epoch),
//!   │                         time spent on requests (µs)
//!   └ thread (ServerLimit−1, ThreadLimit−1)
//! ```
//!
//! Every field is an atomic of its natural alignment; a writer never holds
//! a lock another process could be left waiting on. Who writes what follows
//! httpd: the supervisor writes a process slot's pid and generation when it
//! forks into it and clears the slot when it reaps the child; the child
//! writes its thread statuses and counters and announces that it is
//! quiescing. A child claims a thread slot by compare-and-swap from DEAD, so
//! a worker child that takes over a stopping child's slot uses only the
//! thread slots that the old one has left.

// The mapping is shared with other processes, so its cells are atomics
// reached through raw pointers into the map; every such access goes through
// `Scoreboard::cell`, which checks bounds and alignment.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use memmap2::MmapRaw;
use quill_mpm::{Quiescing, ThreadStatus};

const MAGIC: u32 = u32::from_le_bytes(*b"QSB1");
const LAYOUT_VERSION: u32 = 2;
const HEADER: usize = 64;
const PROCESS_ENTRY: usize = 32;
const THREAD_ENTRY: usize = 32;

// Offsets inside a process entry.
const P_PID: usize = 0;
const P_GENERATION: usize = 4;
const P_QUIESCING: usize = 8;
const P_NOT_ACCEPTING: usize = 9;
const P_CONNECTIONS: usize = 12;
const P_KEEPALIVE: usize = 16;
const P_LINGERING: usize = 20;

// Offsets inside a thread entry.
const T_STATUS: usize = 0;
const T_REQUESTS: usize = 4;
const T_BYTES: usize = 8;
const T_LAST_USED_US: usize = 16;
const T_DURATION_US: usize = 24;

// Offsets inside the header.
const H_RESTART_US: usize = 16;
const H_CONFIG_GENERATION: usize = 24;
const H_MPM_GENERATION: usize = 28;

/// Why a scoreboard could not be created or attached.
#[derive(Debug, thiserror::Error)]
pub enum ScoreboardError {
    #[error("cannot create the scoreboard {path}: {source}")]
    Create {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot attach the scoreboard {path}: {source}")]
    Attach {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("the scoreboard {path} is not one this build of Quill wrote ({what})")]
    Foreign { path: String, what: String },
    #[error("a scoreboard of {server_limit} × {thread_limit} slots is too large")]
    TooLarge {
        server_limit: u32,
        thread_limit: u32,
    },
}

/// What one thread slot has done since the scoreboard was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThreadTotals {
    pub requests: u32,
    pub bytes: u64,
    pub duration_us: u64,
    pub last_used_us: u64,
}

/// One mapping of the shared scoreboard.
#[derive(Debug)]
pub struct Scoreboard {
    map: MmapRaw,
    server_limit: u32,
    thread_limit: u32,
}

fn size_for(server_limit: u32, thread_limit: u32) -> Option<usize> {
    let procs = usize::try_from(server_limit).ok()?;
    let threads = usize::try_from(thread_limit).ok()?;
    let cells = procs.checked_mul(threads)?;
    HEADER
        .checked_add(procs.checked_mul(PROCESS_ENTRY)?)?
        .checked_add(cells.checked_mul(THREAD_ENTRY)?)
}

impl Scoreboard {
    /// Creates (or truncates) the scoreboard file and maps it: every slot
    /// empty, every thread DEAD. The file is private to this user.
    pub fn create(
        path: &Path,
        server_limit: u32,
        thread_limit: u32,
    ) -> Result<Scoreboard, ScoreboardError> {
        let err = |source| ScoreboardError::Create {
            path: path.display().to_string(),
            source,
        };
        let size = size_for(server_limit, thread_limit).ok_or(ScoreboardError::TooLarge {
            server_limit,
            thread_limit,
        })?;
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
                .map_err(err)?
        };
        file.set_len(size as u64).map_err(err)?;
        let map = MmapRaw::map_raw(&file).map_err(err)?;
        let sb = Scoreboard {
            map,
            server_limit,
            thread_limit,
        };
        sb.u32_at(0).store(MAGIC, Ordering::Relaxed);
        sb.u32_at(4).store(LAYOUT_VERSION, Ordering::Relaxed);
        sb.u32_at(8).store(server_limit, Ordering::Relaxed);
        sb.u32_at(12).store(thread_limit, Ordering::Release);
        Ok(sb)
    }

    /// Maps an existing scoreboard (a front-end child attaching to its
    /// parent's).
    pub fn attach(path: &Path) -> Result<Scoreboard, ScoreboardError> {
        let shown = || path.display().to_string();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| ScoreboardError::Attach {
                path: shown(),
                source,
            })?;
        Self::attach_file(&file, path)
    }

    fn attach_file(file: &File, path: &Path) -> Result<Scoreboard, ScoreboardError> {
        let shown = || path.display().to_string();
        let len = file
            .metadata()
            .map_err(|source| ScoreboardError::Attach {
                path: shown(),
                source,
            })?
            .len();
        if len < HEADER as u64 {
            return Err(ScoreboardError::Foreign {
                path: shown(),
                what: format!("{len} bytes, shorter than its header"),
            });
        }
        let map = MmapRaw::map_raw(file).map_err(|source| ScoreboardError::Attach {
            path: shown(),
            source,
        })?;
        let mut sb = Scoreboard {
            map,
            server_limit: 0,
            thread_limit: 0,
        };
        let magic = sb.u32_at(0).load(Ordering::Acquire);
        let version = sb.u32_at(4).load(Ordering::Acquire);
        if magic != MAGIC || version != LAYOUT_VERSION {
            return Err(ScoreboardError::Foreign {
                path: shown(),
                what: format!("magic {magic:#x}, layout {version}"),
            });
        }
        let server_limit = sb.u32_at(8).load(Ordering::Acquire);
        let thread_limit = sb.u32_at(12).load(Ordering::Acquire);
        if size_for(server_limit, thread_limit) != usize::try_from(len).ok() {
            return Err(ScoreboardError::Foreign {
                path: shown(),
                what: format!("{len} bytes for {server_limit} × {thread_limit} slots"),
            });
        }
        sb.server_limit = server_limit;
        sb.thread_limit = thread_limit;
        Ok(sb)
    }

    pub fn server_limit(&self) -> u32 {
        self.server_limit
    }

    pub fn thread_limit(&self) -> u32 {
        self.thread_limit
    }

    /// The atomic of type `T` at byte `offset` of the map.
    fn cell<T>(&self, offset: usize) -> &T {
        let size = std::mem::size_of::<T>();
        assert!(
            offset % std::mem::align_of::<T>() == 0 && offset + size <= self.map.len(),
            "scoreboard cell {offset}+{size} outside the {}-byte map",
            self.map.len()
        );
        // SAFETY: the map is page-aligned, so `offset` (checked above to be
        // a multiple of T's alignment and inside the map) is a valid,
        // aligned address for T for as long as `self.map` lives, which the
        // returned borrow cannot outlive. T is only ever an atomic integer,
        // which every bit pattern inhabits and which may be shared between
        // threads and processes.
        unsafe { &*self.map.as_ptr().add(offset).cast::<T>() }
    }

    fn u32_at(&self, offset: usize) -> &AtomicU32 {
        self.cell(offset)
    }

    fn process_base(&self, slot: u32) -> usize {
        assert!(slot < self.server_limit, "process slot {slot} out of range");
        HEADER + slot as usize * PROCESS_ENTRY
    }

    fn thread_base(&self, slot: u32, thread: u32) -> usize {
        assert!(
            slot < self.server_limit && thread < self.thread_limit,
            "thread slot ({slot}, {thread}) out of range"
        );
        HEADER
            + self.server_limit as usize * PROCESS_ENTRY
            + (slot as usize * self.thread_limit as usize + thread as usize) * THREAD_ENTRY
    }

    // ---- the parent's writes ---------------------------------------------

    /// The parent forked `pid` into `slot`: a fresh row for it. Thread slots
    /// are left alone (a worker child taking over a stopping child's slot
    /// shares them with it).
    pub fn occupy(&self, slot: u32, pid: u32, generation: u32) {
        let b = self.process_base(slot);
        self.cell::<AtomicU32>(b + P_GENERATION)
            .store(generation, Ordering::Relaxed);
        self.cell::<AtomicU8>(b + P_QUIESCING)
            .store(0, Ordering::Relaxed);
        self.cell::<AtomicU8>(b + P_NOT_ACCEPTING)
            .store(0, Ordering::Relaxed);
        for off in [P_CONNECTIONS, P_KEEPALIVE, P_LINGERING] {
            self.cell::<AtomicU32>(b + off).store(0, Ordering::Relaxed);
        }
        self.cell::<AtomicU32>(b + P_PID)
            .store(pid, Ordering::Release);
    }

    /// The parent reaped the child of `slot`: the slot is empty, and its
    /// thread slots DEAD unless `keep_threads` (another child now owns the
    /// row).
    pub fn vacate(&self, slot: u32, keep_threads: bool) {
        let b = self.process_base(slot);
        self.cell::<AtomicU32>(b + P_PID)
            .store(0, Ordering::Release);
        self.cell::<AtomicU8>(b + P_QUIESCING)
            .store(0, Ordering::Relaxed);
        if !keep_threads {
            for t in 0..self.thread_limit {
                self.status_cell(slot, t)
                    .store(ThreadStatus::Dead as u8, Ordering::Release);
            }
        }
    }

    // ---- the children's writes ---------------------------------------------

    fn status_cell(&self, slot: u32, thread: u32) -> &AtomicU8 {
        self.cell(self.thread_base(slot, thread) + T_STATUS)
    }

    /// Claims thread slot `thread` of `slot` if it is free (DEAD): the
    /// calling child now owns it, in status `to`.
    pub fn claim_thread(&self, slot: u32, thread: u32, to: ThreadStatus) -> bool {
        self.status_cell(slot, thread)
            .compare_exchange(
                ThreadStatus::Dead as u8,
                to as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    pub fn set_status(&self, slot: u32, thread: u32, status: ThreadStatus) {
        self.status_cell(slot, thread)
            .store(status as u8, Ordering::Release);
    }

    /// A request finished on a thread: one more access, `bytes` more sent,
    /// `duration_us` more spent.
    pub fn count_request(&self, slot: u32, thread: u32, bytes: u64, duration_us: u64, now_us: u64) {
        let b = self.thread_base(slot, thread);
        self.cell::<AtomicU32>(b + T_REQUESTS)
            .fetch_add(1, Ordering::Relaxed);
        self.cell::<AtomicU64>(b + T_BYTES)
            .fetch_add(bytes, Ordering::Relaxed);
        self.cell::<AtomicU64>(b + T_DURATION_US)
            .fetch_add(duration_us, Ordering::Relaxed);
        self.cell::<AtomicU64>(b + T_LAST_USED_US)
            .store(now_us, Ordering::Relaxed);
    }

    /// (supervisor) The server (re)started at `restart_us` (µs since the
    /// epoch): httpd's restart time and its two generations.
    pub fn set_restart(&self, restart_us: u64, config_generation: u32, mpm_generation: u32) {
        self.cell::<AtomicU64>(H_RESTART_US)
            .store(restart_us, Ordering::Relaxed);
        self.u32_at(H_CONFIG_GENERATION)
            .store(config_generation, Ordering::Relaxed);
        self.u32_at(H_MPM_GENERATION)
            .store(mpm_generation, Ordering::Release);
    }

    /// (restart time µs, config generation, MPM generation), as
    /// [`Scoreboard::set_restart`] wrote them.
    pub fn restart(&self) -> (u64, u32, u32) {
        let mpm = self.u32_at(H_MPM_GENERATION).load(Ordering::Acquire);
        (
            self.cell::<AtomicU64>(H_RESTART_US).load(Ordering::Relaxed),
            self.u32_at(H_CONFIG_GENERATION).load(Ordering::Relaxed),
            mpm,
        )
    }

    /// What one thread slot has done: requests, bytes sent, µs spent on
    /// requests, and when it was last used (µs since the epoch).
    pub fn thread_totals(&self, slot: u32, thread: u32) -> ThreadTotals {
        let b = self.thread_base(slot, thread);
        ThreadTotals {
            requests: self
                .cell::<AtomicU32>(b + T_REQUESTS)
                .load(Ordering::Relaxed),
            bytes: self.cell::<AtomicU64>(b + T_BYTES).load(Ordering::Relaxed),
            duration_us: self
                .cell::<AtomicU64>(b + T_DURATION_US)
                .load(Ordering::Relaxed),
            last_used_us: self
                .cell::<AtomicU64>(b + T_LAST_USED_US)
                .load(Ordering::Relaxed),
        }
    }

    /// The connections of the child of `slot`: (all, keep-alive, lingering).
    pub fn connections(&self, slot: u32) -> (u32, u32, u32) {
        let b = self.process_base(slot);
        (
            self.cell::<AtomicU32>(b + P_CONNECTIONS)
                .load(Ordering::Relaxed),
            self.cell::<AtomicU32>(b + P_KEEPALIVE)
                .load(Ordering::Relaxed),
            self.cell::<AtomicU32>(b + P_LINGERING)
                .load(Ordering::Relaxed),
        )
    }

    /// The child of `slot` announces that it is stopping gracefully
    /// (httpd's `quiescing = 1`).
    pub fn announce_quiescing(&self, slot: u32) {
        self.cell::<AtomicU8>(self.process_base(slot) + P_QUIESCING)
            .store(1, Ordering::Release);
    }

    /// (event) The child of `slot` stops or resumes accepting.
    pub fn set_not_accepting(&self, slot: u32, not_accepting: bool) {
        self.cell::<AtomicU8>(self.process_base(slot) + P_NOT_ACCEPTING)
            .store(u8::from(not_accepting), Ordering::Release);
    }

    /// The connections the child of `slot` holds: all of them, those
    /// waiting in keep-alive, and those in lingering close.
    pub fn set_connections(&self, slot: u32, total: u32, keepalive: u32, lingering: u32) {
        let b = self.process_base(slot);
        self.cell::<AtomicU32>(b + P_CONNECTIONS)
            .store(total, Ordering::Relaxed);
        self.cell::<AtomicU32>(b + P_KEEPALIVE)
            .store(keepalive, Ordering::Relaxed);
        self.cell::<AtomicU32>(b + P_LINGERING)
            .store(lingering, Ordering::Relaxed);
    }

    // ---- reads ---------------------------------------------------------------

    /// The pid in `slot` (0 = empty).
    pub fn pid(&self, slot: u32) -> u32 {
        self.cell::<AtomicU32>(self.process_base(slot) + P_PID)
            .load(Ordering::Acquire)
    }

    pub fn generation(&self, slot: u32) -> u32 {
        self.cell::<AtomicU32>(self.process_base(slot) + P_GENERATION)
            .load(Ordering::Acquire)
    }

    pub fn quiescing(&self, slot: u32) -> Quiescing {
        match self
            .cell::<AtomicU8>(self.process_base(slot) + P_QUIESCING)
            .load(Ordering::Acquire)
        {
            0 => Quiescing::No,
            _ => Quiescing::Announced,
        }
    }

    pub fn not_accepting(&self, slot: u32) -> bool {
        self.cell::<AtomicU8>(self.process_base(slot) + P_NOT_ACCEPTING)
            .load(Ordering::Acquire)
            != 0
    }

    /// The status of one thread slot; an unknown byte (a newer writer) reads
    /// as DEAD.
    pub fn status(&self, slot: u32, thread: u32) -> ThreadStatus {
        status_from_byte(self.status_cell(slot, thread).load(Ordering::Acquire))
    }

    /// Requests served and bytes sent by one thread slot.
    pub fn thread_counts(&self, slot: u32, thread: u32) -> (u32, u64) {
        let b = self.thread_base(slot, thread);
        (
            self.cell::<AtomicU32>(b + T_REQUESTS)
                .load(Ordering::Relaxed),
            self.cell::<AtomicU64>(b + T_BYTES).load(Ordering::Relaxed),
        )
    }

    /// mod_status's scoreboard line for the first `slots` × `threads`.
    pub fn status_chars(&self, slots: u32, threads: u32) -> String {
        let mut out = String::new();
        for slot in 0..slots.min(self.server_limit) {
            for thread in 0..threads.min(self.thread_limit) {
                out.push(self.status(slot, thread).status_char());
            }
        }
        out
    }
}

fn status_from_byte(b: u8) -> ThreadStatus {
    use ThreadStatus as S;
    [
        S::Dead,
        S::Starting,
        S::Ready,
        S::BusyRead,
        S::BusyWrite,
        S::BusyKeepalive,
        S::BusyLog,
        S::BusyDns,
        S::Closing,
        S::Graceful,
        S::IdleKill,
    ]
    .get(usize::from(b))
    .copied()
    .unwrap_or(S::Dead)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("quill-sb-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("scoreboard")
    }

    #[test]
    fn a_child_mapping_sees_what_the_parent_and_other_children_write() {
        let path = temp("shared");
        let parent = Scoreboard::create(&path, 4, 3).expect("create");
        let child = Scoreboard::attach(&path).expect("attach");
        assert_eq!((child.server_limit(), child.thread_limit()), (4, 3));
        parent.occupy(2, 4242, 7);
        assert_eq!((child.pid(2), child.generation(2)), (4242, 7));
        assert!(child.claim_thread(2, 0, ThreadStatus::Ready));
        assert!(
            !child.claim_thread(2, 0, ThreadStatus::Ready),
            "a claimed slot is not free"
        );
        child.set_status(2, 1, ThreadStatus::BusyWrite);
        child.announce_quiescing(2);
        child.count_request(2, 1, 1500, 2500, 99);
        parent.set_restart(1_000_000, 3, 2);
        assert_eq!(child.restart(), (1_000_000, 3, 2));
        assert_eq!(
            parent.thread_totals(2, 1),
            ThreadTotals {
                requests: 1,
                bytes: 1500,
                duration_us: 2500,
                last_used_us: 99
            }
        );
        assert_eq!(parent.status(2, 0), ThreadStatus::Ready);
        assert_eq!(parent.status(2, 1), ThreadStatus::BusyWrite);
        assert_eq!(parent.quiescing(2), Quiescing::Announced);
        assert_eq!(parent.thread_counts(2, 1), (1, 1500));
        assert_eq!(parent.status_chars(3, 3), "......_W.");
        parent.vacate(2, false);
        assert_eq!(child.pid(2), 0);
        assert_eq!(child.status(2, 1), ThreadStatus::Dead);
        assert_eq!(child.quiescing(2), Quiescing::No);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_file_that_is_not_a_scoreboard_is_refused() {
        let path = temp("foreign");
        std::fs::write(&path, vec![0u8; 4096]).expect("write");
        let err = Scoreboard::attach(&path).expect_err("refused");
        assert!(err.to_string().contains("not one this build"), "{err}");
        std::fs::write(&path, b"short").expect("write");
        assert!(Scoreboard::attach(&path).is_err());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn every_status_survives_the_round_trip() {
        for b in 0..=10u8 {
            assert_eq!(status_from_byte(b) as u8, b);
        }
        assert_eq!(status_from_byte(200), ThreadStatus::Dead);
    }
}
