// SPDX-License-Identifier: GPL-2.0

//! Formatting into a fixed buffer on the stack, for log lines built where
//! allocating is not allowed (the DMA map path may run in atomic context).

use core::fmt::{self, Write};

/// A NUL-terminated string of at most `N - 1` bytes, built with
/// [`core::fmt::Write`]; output that does not fit is cut at a character
/// boundary and ends with `...`.
///
/// # Invariants
///
/// `buf[..len]` is valid UTF-8 without NUL bytes, `len < N`, and
/// `buf[len] == 0`.
pub struct StackStr<const N: usize> {
    buf: [u8; N],
    len: usize,
    cut: bool,
}

impl<const N: usize> StackStr<N> {
    /// An empty string.
    pub const fn new() -> Self {
        // INVARIANT: empty, and `buf[0]` is NUL (N is at least 1: see
        // `ASSERT_NONEMPTY`).
        let () = Self::ASSERT_NONEMPTY;
        Self {
            buf: [0; N],
            len: 0,
            cut: false,
        }
    }

    const ASSERT_NONEMPTY: () = assert!(N >= 4, "StackStr needs room for `...`");

    /// Formats `args` into a new string.
    pub fn from_fmt(args: fmt::Arguments<'_>) -> Self {
        let mut s = Self::new();
        // `write_str` never fails: output past the end is cut.
        let _ = s.write_fmt(args);
        s
    }

    /// The string without its terminating NUL.
    pub fn as_str(&self) -> &str {
        // The invariant makes `buf[..len]` valid UTF-8; fall back to an
        // empty string rather than trusting it blindly.
        core::str::from_utf8(self.buf.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }

    /// The string as a `CStr`.
    pub fn as_cstr(&self) -> &kernel::str::CStr {
        // SAFETY: `buf[..=len]` ends with the only NUL it holds (type
        // invariant).
        unsafe { kernel::str::CStr::from_bytes_with_nul_unchecked(&self.buf[..=self.len]) }
    }

    /// A pointer to the NUL-terminated string, valid while `self` is.
    pub fn as_char_ptr(&self) -> *const core::ffi::c_char {
        self.buf.as_ptr().cast()
    }
}

impl<const N: usize> Default for StackStr<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Write for StackStr<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.cut {
            return Ok(());
        }
        let room = N - 1 - self.len;
        let mut take = s.len().min(room);
        if take < s.len() {
            // Leave room for the ellipsis and cut at a character boundary.
            take = take.min(room.saturating_sub(3));
            while take > 0 && !s.is_char_boundary(take) {
                take -= 1;
            }
            self.cut = true;
        }
        for &b in &s.as_bytes()[..take] {
            // NUL bytes would end the C string early.
            self.buf[self.len] = if b == 0 { b'?' } else { b };
            self.len += 1;
        }
        if self.cut {
            for _ in 0..3.min(N - 1 - self.len) {
                self.buf[self.len] = b'.';
                self.len += 1;
            }
        }
        // INVARIANT: `len <= N - 1`, so the terminator fits.
        self.buf[self.len] = 0;
        Ok(())
    }
}
