//! Busy threads per daemon process, in shared memory: written by each
//! daemon process of a group, read by every front-end child.
//!
//! A front-end child keeps connections to the daemon processes it has
//! talked to and sends a request on a kept connection only to a process
//! with an idle thread (crates/quill-server/src/pool.rs). Its own count of
//! the requests it has in flight there misses those of the other children;
//! this board gives it the process's own count.
//!
//! ```text
//!   one file per daemon group in the run directory, created by the
//!   supervisor, mapped MAP_SHARED:
//!
//!   entry 0 (8 B) ─ pid << 32 | busy threads     0 = free
//!   …
//!   entry 2 × processes − 1
//! ```
//!
//! A daemon process claims a free entry by compare-and-swap when it
//! starts and then owns it; the supervisor frees it when it reaps the
//! process. There are two entries per process slot, so a replacement can
//! start while the process it replaces is still finishing its requests.
//! A process that finds no free entry publishes nothing, and the front end
//! then goes by its own count, as it does for a process it can't find.

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

const ENTRY: usize = std::mem::size_of::<u64>();

/// The shared table of busy threads of one daemon group.
#[derive(Debug)]
pub struct BusyBoard {
    map: MmapRaw,
}

/// The entry a daemon process claimed: it alone writes it.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    index: usize,
}

fn pack(pid: u32, busy: u32) -> u64 {
    (u64::from(pid) << 32) | u64::from(busy)
}

fn pid_of(v: u64) -> u32 {
    u32::try_from(v >> 32).unwrap_or(0)
}

impl BusyBoard {
    /// How many entries a group of `processes` processes gets.
    pub fn entries_for(processes: u32) -> usize {
        (processes.max(1) as usize).saturating_mul(2)
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
        Self::map(&file)
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

    fn entries(&self) -> &[AtomicU64] {
        let n = self.map.len() / ENTRY;
        let ptr = self.map.as_ptr();
        assert!(
            (ptr as usize) % std::mem::align_of::<AtomicU64>() == 0,
            "the busy board's map is not aligned"
        );
        // SAFETY: the map is page-aligned (checked above for AtomicU64's
        // alignment) and `n` whole entries fit in it; it lives as long as
        // `self`, which the returned slice borrows. Every bit pattern is a
        // valid AtomicU64, which may be shared between threads and
        // processes.
        unsafe { std::slice::from_raw_parts(ptr.cast::<AtomicU64>(), n) }
    }

    /// Claims a free entry for process `pid`, with no thread busy; `None`
    /// when every entry is taken.
    pub fn claim(&self, pid: u32) -> Option<Claim> {
        self.entries().iter().enumerate().find_map(|(index, cell)| {
            cell.compare_exchange(0, pack(pid, 0), Ordering::AcqRel, Ordering::Relaxed)
                .ok()
                .map(|_| Claim { index })
        })
    }

    /// One more of the claiming process's threads is busy.
    pub fn enter(&self, claim: Claim) {
        if let Some(cell) = self.entries().get(claim.index) {
            cell.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// One of the claiming process's busy threads is idle again (never
    /// below zero, so never into the pid).
    pub fn leave(&self, claim: Claim) {
        if let Some(cell) = self.entries().get(claim.index) {
            let _ = cell.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                (v & 0xffff_ffff != 0).then(|| v - 1)
            });
        }
    }

    /// Busy threads of process `pid`, if it publishes them.
    pub fn busy(&self, pid: u32) -> Option<u32> {
        self.entries().iter().find_map(|cell| {
            let v = cell.load(Ordering::Acquire);
            (v != 0 && pid_of(v) == pid).then(|| u32::try_from(v & 0xffff_ffff).unwrap_or(0))
        })
    }

    /// Frees the entries of a process that is gone (the supervisor, when it
    /// reaps it).
    pub fn release(&self, pid: u32) {
        for cell in self.entries() {
            let v = cell.load(Ordering::Acquire);
            if v != 0 && pid_of(v) == pid {
                let _ = cell.compare_exchange(v, 0, Ordering::AcqRel, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_publishes_its_busy_threads_to_every_reader() {
        let dir = std::env::temp_dir().join(format!("quill-busy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("board");
        let board = BusyBoard::create(&path, 1).expect("create");
        let reader = BusyBoard::attach(&path).expect("attach");
        assert_eq!(reader.busy(100), None);
        let a = board.claim(100).expect("a free entry");
        for _ in 0..4 {
            board.enter(a);
        }
        board.leave(a);
        assert_eq!(reader.busy(100), Some(3));
        // A replacement starts while the old process finishes.
        let b = board.claim(200).expect("the second entry");
        board.leave(b); // never below zero
        assert!(board.claim(300).is_none(), "two entries per process");
        assert_eq!((reader.busy(100), reader.busy(200)), (Some(3), Some(0)));
        board.release(100);
        assert_eq!(reader.busy(100), None);
        let c = board.claim(300).expect("the freed entry");
        board.enter(c);
        assert_eq!(reader.busy(300), Some(1));
        assert_eq!(reader.busy(200), Some(0));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn a_file_of_the_wrong_size_is_refused() {
        let dir = std::env::temp_dir().join(format!("quill-busy-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("board");
        std::fs::write(&path, b"abc").expect("write");
        assert!(BusyBoard::attach(&path).is_err());
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
