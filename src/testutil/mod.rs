//! Helpers for the unit tests. Each file stands alone (std and the
//! crate's dependencies only, no `crate::` paths) so that the integration
//! tests include the same file with `#[path]` (`tests/util/mod.rs`):
//! one copy for both.

// Not every test uses every part of them.
pub mod alloc;
#[allow(dead_code)]
pub mod http_server;
#[allow(dead_code)]
pub mod tmpfs;

/// Bytes from hex digits, spaces ignored (`"0a 1b2c"`): packets written as
/// a capture shows them.
pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// For a test that measures the whole process (descriptors, threads, the
/// allocator's counters): true when it runs alone (nextest gives each
/// test its own process). Under `cargo test`, where other tests' threads
/// share the process, it runs the test `name` again alone in a child
/// process, asserts that it passed there, and returns false: the caller
/// returns.
pub fn runs_alone(name: &str) -> bool {
    let threads = std::fs::read_dir("/proc/self/task").map_or(usize::MAX, |d| d.count());
    if threads <= 2 {
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--exact", name, "--test-threads=1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} alone:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    false
}
