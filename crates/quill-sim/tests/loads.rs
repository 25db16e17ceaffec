//! Load files as people write them: the examples in `tests/data/loads` (the
//! ones docs/loads.md shows) and the bench harness's scenarios all parse,
//! and walking a long Poisson load allocates nothing.
//!
//! A separate test binary because it installs a counting global allocator,
//! which needs `unsafe impl GlobalAlloc` (it only forwards to `System`).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use quill_sim::load::{Load, parse_load, parse_load_named};

/// Counts allocations made by the current thread (tests run on threads of
/// their own, so others' allocations do not interfere).
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; counting
// touches only a const-initialised thread-local without a destructor, which
// does not allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn files_in(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| keep(p))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn poisson_arrivals_do_not_allocate() {
    // 24 h at 500 a second: 43 million arrivals.
    let load =
        parse_load("t_s,rate_per_s,median_ms,sigma\n0,500,200,0.5\n86400,0,200,0.5\n").unwrap();
    let Load::Open(open) = &load else {
        panic!("not open: {load:?}")
    };
    let before = allocations();
    let mut arrivals = open.arrivals(11);
    let mut last_at = 0;
    for _ in 0..1_000_000 {
        let a = arrivals.next().unwrap();
        assert!(a.at_us >= last_at);
        last_at = a.at_us;
    }
    assert_eq!(
        allocations() - before,
        0,
        "allocations while walking arrivals"
    );
    // Sanity: the counter does count.
    let v = std::hint::black_box(vec![1u8; 10]);
    assert!(allocations() - before >= 1, "{v:?}");
}

/// The examples docs/loads.md shows: what each becomes.
#[test]
fn example_files() {
    let dir = repo_path("tests/data/loads");
    let mut out = String::new();
    for path in files_in(&dir, |p| p.is_file()) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let load = parse_load_named(&name, &read(&path)).unwrap_or_else(|e| panic!("{e}"));
        writeln!(out, "## {name}").unwrap();
        writeln!(
            out,
            "kind {}, ends at {} ms",
            load.kind().as_str(),
            load.end_ms()
        )
        .unwrap();
        writeln!(out, "{}", load.describe()).unwrap();
        match &load {
            Load::Closed(schedule) => {
                for s in &schedule.steps {
                    writeln!(out, "  {s:?}").unwrap();
                }
            }
            Load::Open(open) => {
                for a in open.arrivals(1).take(6) {
                    let durations: Vec<u64> = a.request_durations().collect();
                    writeln!(
                        out,
                        "  at {} µs: {durations:?} µs, think {} µs",
                        a.at_us, a.think_us
                    )
                    .unwrap();
                }
            }
        }
        out.push('\n');
    }
    insta::assert_snapshot!(out);
}

/// The bench harness drives Apache with the same files: every scenario and
/// recording must be readable by the simulator.
#[test]
fn bench_scenarios_and_recordings() {
    let mut seen = 0;
    for root in [
        "../../bench/apache/scenarios",
        "../../tests/data/recordings",
    ] {
        let root = repo_path(root);
        if !root.is_dir() {
            continue;
        }
        for dir in files_in(&root, |p| p.join("load.csv").is_file()) {
            let path = dir.join("load.csv");
            let load = parse_load_named(&path.display().to_string(), &read(&path))
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(!load.describe().is_empty());
            seen += 1;
        }
    }
    assert!(seen > 0, "no bench scenarios found");
}
