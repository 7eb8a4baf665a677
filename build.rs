//! Release builds for glibc Linux on x86-64 and arm64 link with packed
//! relative relocations (`DT_RELR`): a position-independent binary
//! otherwise carries one 24-byte relocation per pointer in its data (143 KB
//! of the 4.4 MB binary); packed, they take 2 KB. Needs GNU ld 2.38 (or lld)
//! to build and glibc 2.36 (Debian 12) to run; dpkg-shlibdeps puts that in
//! the package's libc6 dependency. `SENTINEL_NO_RELR=1` builds without, for
//! an older glibc (Ubuntu 22.04 has 2.35).
fn main() {
    println!("cargo:rerun-if-env-changed=SENTINEL_NO_RELR");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let release = var("PROFILE") == "release";
    let glibc = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    let arch = matches!(var("CARGO_CFG_TARGET_ARCH").as_str(), "x86_64" | "aarch64");
    if release && glibc && arch && std::env::var_os("SENTINEL_NO_RELR").is_none() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
