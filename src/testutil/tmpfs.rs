//! A small tmpfs that a test mounts, fills and frees, for the disk-full
//! paths (a real `ENOSPC`). One file shared by the unit tests
//! (`crate::testutil::tmpfs`) and the integration tests (`tests/util`
//! includes it with `#[path]`), so it uses only std, libc and tempfile.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs of a fixed size mounted on a fresh directory; unmounted
/// (lazily) and the directory removed on drop, also when the test panics.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`8m`, as `mount -o size=` takes it).
    /// Fails the test, saying what to do, when not root or `mount` fails.
    pub fn mount(size: &str) -> Tmpfs {
        // SAFETY: geteuid has no preconditions and cannot fail.
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "this test mounts a small tmpfs to fill the disk: run it as root (CI does)"
        );
        let dir = tempfile::Builder::new()
            .prefix("sentinel-test-tmpfs-")
            .tempdir()
            .expect("create a mount point");
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status();
        assert!(
            status.as_ref().is_ok_and(|s| s.success()),
            "mounting a {size} tmpfs on {} failed ({status:?}): the test needs root and the \
             `mount` command (util-linux)",
            dir.path().display()
        );
        Tmpfs { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A file `filler` in a directory that takes the free space left there.
pub struct Filler {
    path: PathBuf,
}

impl Filler {
    /// Appends to `dir/filler` until the filesystem is full.
    pub fn fill(dir: &Path) -> Filler {
        let path = dir.join("filler");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("create the filler");
        let block = vec![0xA5u8; 16 << 10];
        while let Ok(n) = f.write(&block) {
            if n == 0 {
                break;
            }
        }
        let _ = f.sync_all();
        Filler { path }
    }

    /// Frees about `bytes` (the WAL may use them, then it is full again).
    pub fn free(&self, bytes: u64) {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .unwrap();
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(bytes)).unwrap();
    }

    /// Deletes the file: the space is free again.
    pub fn remove(self) {
        std::fs::remove_file(&self.path).unwrap();
    }
}
