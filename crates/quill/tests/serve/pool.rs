//! The front-end process pool of `quill serve`: children exec'd by the
//! supervisor and grown and shrunk by the pool controller, as httpd's MPMs
//! do, counted from /proc.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::{Server, TempDir, get, unsafe_kill};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A `quill serve` of `mpm_directives` on a free port, with no application
/// (the front end answers 404 itself).
fn serve_mpm(name: &str, mpm: &str, mpm_directives: &str) -> Server {
    let root = TempDir::new(name);
    let port = free_port();
    let conf = root.0.join("httpd.conf");
    std::fs::write(
        &conf,
        format!(
            "ServerRoot \"{}\"\nServerName localhost\nListen 127.0.0.1:{port}\n\
             LoadModule mpm_{mpm}_module modules/mod_mpm_{mpm}.so\n{mpm_directives}\n",
            root.0.display()
        ),
    )
    .expect("write the config");
    Server::serve(root, &conf, port)
}

/// Samples the number of front-end children every 50 ms until `done` says
/// so or `limit` passes; returns the distinct counts in order, with when
/// each was first seen.
fn watch_children(
    s: &Server,
    limit: Duration,
    mut done: impl FnMut(&[(usize, Duration)]) -> bool,
) -> Vec<(usize, Duration)> {
    let start = Instant::now();
    let mut seen: Vec<(usize, Duration)> = Vec::new();
    while start.elapsed() < limit {
        let n = s.front_ends().len();
        if seen.last().map(|l| l.0) != Some(n) {
            seen.push((n, start.elapsed()));
        }
        if done(&seen) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    seen
}

/// The thread's first configuration: StartServers 10 × 25 threads = 250
/// idle threads above MaxSpareThreads 75, so httpd kills one idle child a
/// second until 3 remain (3 × 25 = 75).
#[test]
fn worker_kills_idle_children_one_at_a_time_down_to_three() {
    let s = serve_mpm(
        "pool-killoff",
        "worker",
        "StartServers 10\nMaxRequestWorkers 400\nServerLimit 16\nMinSpareThreads 25\n\
         MaxSpareThreads 75\nThreadsPerChild 25",
    );
    let mut settled_at = None;
    let seen = watch_children(&s, Duration::from_secs(40), |seen| {
        // Settled: 3 children for two seconds.
        match seen.last() {
            Some((3, _)) => {
                let at = *settled_at.get_or_insert_with(Instant::now);
                at.elapsed() > Duration::from_secs(2)
            }
            _ => {
                settled_at = None;
                false
            }
        }
    });
    eprintln!("front-end children over time: {seen:?}");
    let counts: Vec<usize> = seen.iter().map(|(n, _)| *n).collect();
    let top = counts
        .iter()
        .position(|&n| n == 10)
        .unwrap_or_else(|| panic!("StartServers 10 children: {counts:?}"));
    assert_eq!(
        counts[top..],
        [10, 9, 8, 7, 6, 5, 4, 3],
        "one child at a time, down to 3: {seen:?}\nlog:\n{}",
        s.log()
    );
    assert_eq!(get(&s.url("/")).0, 404, "the pool still answers");
}

/// A front-end child killed with SIGKILL is reaped and replaced (the idle
/// threads fall below MinSpareThreads), and the server keeps answering.
#[test]
fn a_killed_child_is_replaced() {
    let s = serve_mpm(
        "pool-sigkill",
        "worker",
        "StartServers 2\nMinSpareThreads 15\nMaxSpareThreads 30\nThreadsPerChild 10\n\
         MaxRequestWorkers 40\nServerLimit 4",
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let before = loop {
        let f = s.front_ends();
        if f.len() == 2 || Instant::now() > deadline {
            break f;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(before.len(), 2, "StartServers 2");
    unsafe_kill(before[0] as i32, 9);
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let f = s.front_ends();
        if (f.len() == 2 && !f.contains(&before[0])) || Instant::now() > deadline {
            break f;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        after.len() == 2 && !after.contains(&before[0]),
        "the killed child {} is replaced: {before:?} → {after:?}\nlog:\n{}",
        before[0],
        s.log()
    );
    assert_eq!(get(&s.url("/")).0, 404, "the pool still answers");
}
