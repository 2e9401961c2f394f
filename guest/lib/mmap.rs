//! Read-only shared mappings of a file, for the guest programs (included
//! with `#[path]`).

use std::ffi::c_void;

const PROT_READ: i32 = 1;
const MAP_SHARED: i32 = 1;
/// `sysconf`'s name for the page size on Linux (glibc and musl).
const SC_PAGESIZE: i32 = 30;

extern "C" {
    fn mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, off: i64)
        -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> i32;
    fn sysconf(name: i32) -> i64;
}

/// The kernel's page size: the unit of mmap offsets (4096 when the C
/// library cannot tell).
pub fn page_size() -> usize {
    // SAFETY: sysconf reads a constant of the C library; it has no
    // preconditions.
    let n = unsafe { sysconf(SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// A read-only shared mapping of `len` bytes of a file, unmapped on drop.
pub struct Mapping {
    ptr: *mut c_void,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes of the file `fd` from byte `off`.
    pub fn new(fd: i32, len: usize, off: usize) -> std::io::Result<Self> {
        // SAFETY: a fresh mapping chosen by the kernel; no Rust object
        // aliases it.
        let ptr = unsafe { mmap(std::ptr::null_mut(), len, PROT_READ, MAP_SHARED, fd, off as i64) };
        if ptr as isize == -1 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self { ptr, len })
    }

    /// The address the mapping starts at.
    #[allow(dead_code)]
    pub fn addr(&self) -> usize {
        self.ptr as usize
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes for the life of `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` came from a successful mmap.
        unsafe { munmap(self.ptr, self.len) };
    }
}
