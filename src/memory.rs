//! How the agent asks the C allocator (glibc's malloc) to keep its memory.
//!
//! glibc raises its mmap threshold to the size of every large block freed
//! (up to 32 MiB): after the first scrape, a page's body and its records'
//! buffers, freed at the end of each run, come from a malloc arena instead
//! of their own mapping, and an arena keeps what it once held. With one
//! arena per thread that ran a probe (up to eight per core), the steady
//! scrape of 10,000 series held 23-26 MiB of RSS for a heap of a few
//! MiB in use between runs. A fixed threshold (blocks of 256 KiB and more
//! get their own mapping, given back when freed) and two arenas keep it
//! at 13 MiB. Other C libraries (musl) are left as they are.

/// Blocks of this size and larger are mapped on their own and given back
/// to the system when freed.
pub const MMAP_THRESHOLD: usize = 256 * 1024;

/// Malloc arenas: threads share them instead of one each.
pub const ARENAS: usize = 2;

/// Sets the allocator up for a long-running agent (see the module doc).
/// Call once, early in `main`, before threads start.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before the
    // agent's threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
        libc::mallopt(libc::M_ARENA_MAX, ARENAS as libc::c_int);
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// Bytes in blocks mapped on their own.
    fn mapped() -> usize {
        // SAFETY: reads allocator statistics.
        unsafe { libc::mallinfo2().hblkhd }
    }

    /// After a large block is freed, a block above the threshold still
    /// gets its own mapping (glibc's default would raise the threshold
    /// to the freed block's size and take it from an arena, which keeps
    /// it after the free). The counter is the process's: another test
    /// thread freeing a mapped block at the same moment could hide ours,
    /// so a round may look again; from an arena, every look fails.
    #[test]
    fn large_blocks_stay_mapped_after_a_larger_one_is_freed() {
        // Other test threads' frees leave holes in the heap that serve a
        // block without asking for a mapping.
        if !crate::testutil::runs_alone(
            "memory::tests::large_blocks_stay_mapped_after_a_larger_one_is_freed",
        ) {
            return;
        }
        tune_allocator();
        let size = 1 << 20;
        let mapped_on_its_own = || {
            let big = vec![1u8; 8 << 20];
            drop(std::hint::black_box(big));
            let before = mapped();
            let block: Vec<u8> = std::hint::black_box(Vec::with_capacity(size));
            let during = mapped();
            drop(block);
            during >= before + size
        };
        for round in 0..3 {
            assert!(
                (0..5).any(|_| mapped_on_its_own()),
                "round {round}: a 1 MiB block after an 8 MiB one was freed came from an arena"
            );
        }
    }
}
