//! Liveness, readiness, metrics, the public configuration and the API's own description.

pub mod routes;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The process-wide Prometheus recorder (installed once; every app state shares it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; metrics then go there.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Serve allocations of a mebibyte or more straight from the operating system (glibc on Linux).
///
/// glibc otherwise raises this threshold after the first large block is freed, so the next
/// ones (a hasher thread's 19 MiB Argon2 memory) come from its arenas and stay resident after
/// they are freed; mapped blocks go back to the system the moment they are freed.
pub fn map_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a number the allocator reads under its own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Give back the pages of gatehouse's own code and constants that the start touched.
///
/// Starting reads much code that is not run again (the command line, configuration checks,
/// migrations, the OpenAPI document), and the kernel maps a binary's pages in large blocks
/// around each one used: right after start about 15 MB of the binary was resident, more than
/// everything else together. Reclaiming them once started costs a few page faults later for
/// the code requests actually run. The pages are clean copies of the file, so nothing is lost;
/// where the kernel refuses (an older kernel, a binary the user may not write), nothing
/// changes.
pub fn release_startup_code() {
    if let Ok(exe) = std::env::current_exe() {
        release_read_only_pages_of(&exe);
    }
}

/// Ask the kernel to reclaim the resident pages of this process's read-only mappings of `file`
/// (pages shared with another process are left alone by the kernel).
fn release_read_only_pages_of(file: &std::path::Path) {
    #[cfg(target_os = "linux")]
    {
        let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
            return;
        };
        for line in maps.lines() {
            let mut fields = line.split_whitespace();
            let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
                continue;
            };
            // Only read-only mappings (code, constants): never written, so always a clean
            // copy of the file.
            if perms.contains('w') || fields.nth(3).map(std::path::Path::new) != Some(file) {
                continue;
            }
            let Some((start, end)) = range.split_once('-') else {
                continue;
            };
            let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            ) else {
                continue;
            };
            // SAFETY: MADV_PAGEOUT on a read-only file mapping only drops resident copies of
            // file pages; the contents the program sees do not change.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// Return the allocator's free pages to the operating system (glibc on Linux; elsewhere the
/// allocator decides on its own and this does nothing).
pub fn return_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists under its locks; it takes
    // no pointer from us and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::Write;

    /// Resident kB of this process's mappings of `file` (from /proc/self/smaps).
    fn resident_kb(file: &std::path::Path) -> std::io::Result<u64> {
        let file = file.to_string_lossy();
        let smaps = std::fs::read_to_string("/proc/self/smaps")?;
        let mut ours = false;
        let mut total = 0;
        for line in smaps.lines() {
            if let Some(rss) = line.strip_prefix("Rss:") {
                if ours {
                    total += rss.trim().trim_end_matches(" kB").parse().unwrap_or(0);
                }
            } else if line.contains('-') && line.split_whitespace().count() >= 5 {
                ours = line.ends_with(&*file);
            }
        }
        Ok(total)
    }

    /// The binary itself cannot be the test subject: other test processes run the same binary
    /// at once, and the kernel leaves shared pages alone. A file of the test's own stands in.
    #[test]
    fn resident_pages_of_a_read_only_file_mapping_are_given_back() -> std::io::Result<()> {
        const LEN: usize = 4 << 20;
        // In the project directory: a tmpfs /tmp without swap could not give pages back.
        let mut file = tempfile::NamedTempFile::new_in(env!("CARGO_MANIFEST_DIR"))?;
        file.write_all(&vec![7u8; LEN])?;
        file.flush()?;
        let path = file.path().canonicalize()?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(file.as_file());
        // SAFETY: a private read-only mapping of a file we own, read within its length and
        // unmapped before the file is dropped.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                LEN,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                fd,
                0,
            )
        };
        assert_ne!(map, libc::MAP_FAILED);
        let mut sum = 0u64;
        for offset in (0..LEN).step_by(4096) {
            // SAFETY: within the mapping.
            sum += u64::from(unsafe { *map.cast::<u8>().add(offset) });
        }
        assert_eq!(sum, 7 * (LEN as u64 / 4096));
        let before = resident_kb(&path)?;
        super::release_read_only_pages_of(&path);
        let after = resident_kb(&path)?;
        // SAFETY: the mapping made above, not used after this.
        unsafe { libc::munmap(map, LEN) };
        assert!(before >= 3 << 10, "the file was read in: {before} kB");
        assert!(
            after < 1 << 10,
            "resident kB: {before} before, {after} after"
        );
        Ok(())
    }
}
