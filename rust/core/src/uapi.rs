//! The ioctl arguments of `/dev/rsdma` (`include/uapi/rsdma.h`): their byte
//! layout, and the checks an argument passes before rsdma acts on it.
//!
//! Every refusal is a [`Refusal`], which names its cause (its `Display` is
//! the log line) and the errno it returns ([`Refusal::errno`]):
//!
//! | request                                   | refusal                 | errno   |
//! |-------------------------------------------|-------------------------|---------|
//! | a flag outside the known ones             | [`Refusal::UnknownFlags`]  | `EINVAL` |
//! | a reserved field not zero                 | [`Refusal::ReservedSet`]   | `EINVAL` |
//! | size 0                                    | [`Refusal::ZeroSize`]      | `EINVAL` |
//! | size above the module's limit             | [`Refusal::TooLarge`]      | `E2BIG`  |
//! | contiguous size above one page allocation | [`Refusal::TooLarge`]      | `E2BIG`  |
//! | sync: neither read nor write              | [`Refusal::NoAccess`]      | `EINVAL` |
//! | sync or mmap: empty range                 | [`Refusal::EmptyRange`]    | `EINVAL` |
//! | sync or mmap: range past the end          | [`Refusal::OutOfRange`]    | `EINVAL` |
//!
//! Checks run in the order of the table, so a request with several faults
//! is refused for the first.  The structures are decoded from their bytes
//! in the CPU's byte order: they have fixed-size fields and no padding, so
//! the layout is the same for 32- and 64-bit callers.

use core::fmt;

use super::dma::Direction;

/// `RSDMA_ALLOC_SCATTERED`: the buffer is made of single pages.
pub const ALLOC_SCATTERED: u32 = 1 << 0;
/// `RSDMA_ALLOC_WRITE_COMBINE`: CPU mappings are write-combined.
pub const ALLOC_WRITE_COMBINE: u32 = 1 << 1;
/// Every `RSDMA_ALLOC_*` flag.
pub const ALLOC_FLAGS: u32 = ALLOC_SCATTERED | ALLOC_WRITE_COMBINE;

/// `RSDMA_SYNC_READ`: the CPU reads (`DMA_BUF_SYNC_READ`).
pub const SYNC_READ: u32 = 1 << 0;
/// `RSDMA_SYNC_WRITE`: the CPU writes (`DMA_BUF_SYNC_WRITE`).
pub const SYNC_WRITE: u32 = 1 << 1;
/// `RSDMA_SYNC_END`: the access ends; without it, it starts
/// (`DMA_BUF_SYNC_END`).
pub const SYNC_END: u32 = 1 << 2;
/// Every `RSDMA_SYNC_*` flag.
pub const SYNC_FLAGS: u32 = SYNC_READ | SYNC_WRITE | SYNC_END;

/// Bytes of `struct rsdma_alloc`.
pub const ALLOC_LEN: usize = 32;
/// Bytes of `struct rsdma_sync_range`.
pub const SYNC_RANGE_LEN: usize = 32;

/// Field offsets of `struct rsdma_alloc`.
pub mod alloc_at {
    /// `size`.
    pub const SIZE: usize = 0;
    /// `flags`.
    pub const FLAGS: usize = 8;
    /// `fd`.
    pub const FD: usize = 12;
    /// `reserved`.
    pub const RESERVED: usize = 16;
}

/// Field offsets of `struct rsdma_sync_range`.
pub mod sync_at {
    /// `fd`.
    pub const FD: usize = 0;
    /// `flags`.
    pub const FLAGS: usize = 4;
    /// `offset`.
    pub const OFFSET: usize = 8;
    /// `len`.
    pub const LEN: usize = 16;
    /// `reserved`.
    pub const RESERVED: usize = 24;
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        w.copy_from_slice(s);
    }
    u32::from_ne_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        w.copy_from_slice(s);
    }
    u64::from_ne_bytes(w)
}

/// `struct rsdma_alloc`: `RSDMA_IOCTL_ALLOC`'s argument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocArgs {
    /// In: bytes (rounded up to whole pages).
    pub size: u64,
    /// In: `RSDMA_ALLOC_*`.
    pub flags: u32,
    /// Out: the dma-buf's file descriptor.
    pub fd: i32,
    /// Must be zero.
    pub reserved: [u64; 2],
}

impl AllocArgs {
    /// Decodes the structure.
    pub fn from_bytes(b: &[u8; ALLOC_LEN]) -> Self {
        Self {
            size: u64_at(b, alloc_at::SIZE),
            flags: u32_at(b, alloc_at::FLAGS),
            fd: u32_at(b, alloc_at::FD) as i32,
            reserved: [
                u64_at(b, alloc_at::RESERVED),
                u64_at(b, alloc_at::RESERVED + 8),
            ],
        }
    }

    /// Encodes the structure.
    pub fn to_bytes(&self) -> [u8; ALLOC_LEN] {
        let mut b = [0u8; ALLOC_LEN];
        b[alloc_at::SIZE..alloc_at::SIZE + 8].copy_from_slice(&self.size.to_ne_bytes());
        b[alloc_at::FLAGS..alloc_at::FLAGS + 4].copy_from_slice(&self.flags.to_ne_bytes());
        b[alloc_at::FD..alloc_at::FD + 4].copy_from_slice(&self.fd.to_ne_bytes());
        for (i, r) in self.reserved.iter().enumerate() {
            let at = alloc_at::RESERVED + 8 * i;
            b[at..at + 8].copy_from_slice(&r.to_ne_bytes());
        }
        b
    }
}

/// `struct rsdma_sync_range`: `RSDMA_IOCTL_SYNC_RANGE`'s argument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncRangeArgs {
    /// The dma-buf.
    pub fd: i32,
    /// `RSDMA_SYNC_*`.
    pub flags: u32,
    /// First byte of the range.
    pub offset: u64,
    /// Bytes in the range.
    pub len: u64,
    /// Must be zero.
    pub reserved: u64,
}

impl SyncRangeArgs {
    /// Decodes the structure.
    pub fn from_bytes(b: &[u8; SYNC_RANGE_LEN]) -> Self {
        Self {
            fd: u32_at(b, sync_at::FD) as i32,
            flags: u32_at(b, sync_at::FLAGS),
            offset: u64_at(b, sync_at::OFFSET),
            len: u64_at(b, sync_at::LEN),
            reserved: u64_at(b, sync_at::RESERVED),
        }
    }

    /// Encodes the structure.
    pub fn to_bytes(&self) -> [u8; SYNC_RANGE_LEN] {
        let mut b = [0u8; SYNC_RANGE_LEN];
        b[sync_at::FD..sync_at::FD + 4].copy_from_slice(&self.fd.to_ne_bytes());
        b[sync_at::FLAGS..sync_at::FLAGS + 4].copy_from_slice(&self.flags.to_ne_bytes());
        b[sync_at::OFFSET..sync_at::OFFSET + 8].copy_from_slice(&self.offset.to_ne_bytes());
        b[sync_at::LEN..sync_at::LEN + 8].copy_from_slice(&self.len.to_ne_bytes());
        b[sync_at::RESERVED..sync_at::RESERVED + 8].copy_from_slice(&self.reserved.to_ne_bytes());
        b
    }
}

/// The errno a refusal returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Errno {
    /// `EINVAL`.
    Inval,
    /// `E2BIG`.
    TooBig,
}

/// Why a request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Flags outside the known ones (the unknown bits).
    UnknownFlags(u32),
    /// A reserved field is not zero.
    ReservedSet,
    /// An allocation of no bytes.
    ZeroSize,
    /// More bytes than allowed.
    TooLarge {
        /// Bytes asked for.
        size: u64,
        /// Most bytes allowed.
        limit: u64,
        /// Whether the limit is that of one contiguous allocation.
        contiguous: bool,
    },
    /// A sync that neither reads nor writes.
    NoAccess,
    /// A range of no bytes.
    EmptyRange,
    /// A range that ends past the buffer (or overflows).
    OutOfRange {
        /// First byte.
        offset: u64,
        /// Bytes.
        len: u64,
        /// The buffer's size.
        size: u64,
    },
}

impl Refusal {
    /// The errno the caller gets.
    pub fn errno(self) -> Errno {
        match self {
            Self::TooLarge { .. } => Errno::TooBig,
            _ => Errno::Inval,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UnknownFlags(bits) => write!(f, "unknown flags {bits:#x}"),
            Self::ReservedSet => f.write_str("reserved fields are not zero"),
            Self::ZeroSize => f.write_str("size 0"),
            Self::TooLarge {
                size,
                limit,
                contiguous: false,
            } => write!(f, "size {size} is above the limit of {limit} bytes"),
            Self::TooLarge {
                size,
                limit,
                contiguous: true,
            } => write!(
                f,
                "size {size} is above the {limit} bytes one contiguous allocation gives"
            ),
            Self::NoAccess => f.write_str("a sync that neither reads nor writes"),
            Self::EmptyRange => f.write_str("an empty range"),
            Self::OutOfRange { offset, len, size } => {
                write!(f, "range {offset}+{len} is outside the {size}-byte buffer")
            }
        }
    }
}

/// What an allocation may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of a buffer (the module parameter).
    pub max_bytes: u64,
    /// Most bytes of a contiguous buffer (one page allocation).
    pub max_contiguous: u64,
    /// The page size (a power of two).
    pub page_size: u64,
}

/// A buffer to allocate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferSpec {
    /// Bytes: the size asked for, rounded up to whole pages.
    pub size: u64,
    /// Made of single pages, each its own allocation.
    pub scattered: bool,
    /// CPU mappings are write-combined.
    pub write_combine: bool,
}

/// Checks `RSDMA_IOCTL_ALLOC`'s argument.
pub fn check_alloc(a: &AllocArgs, lim: &Limits) -> Result<BufferSpec, Refusal> {
    if a.flags & !ALLOC_FLAGS != 0 {
        return Err(Refusal::UnknownFlags(a.flags & !ALLOC_FLAGS));
    }
    if a.reserved != [0; 2] {
        return Err(Refusal::ReservedSet);
    }
    if a.size == 0 {
        return Err(Refusal::ZeroSize);
    }
    let scattered = a.flags & ALLOC_SCATTERED != 0;
    let page_mask = lim.page_size.saturating_sub(1);
    let limit = lim.max_bytes & !page_mask;
    let too_large = |limit, contiguous| Refusal::TooLarge {
        size: a.size,
        limit,
        contiguous,
    };
    if a.size > limit {
        return Err(too_large(limit, false));
    }
    let size = (a.size + page_mask) & !page_mask;
    if !scattered && size > lim.max_contiguous {
        return Err(too_large(lim.max_contiguous, true));
    }
    Ok(BufferSpec {
        size,
        scattered,
        write_combine: a.flags & ALLOC_WRITE_COMBINE != 0,
    })
}

/// A checked CPU-access bracket over part of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncRange {
    /// First byte.
    pub offset: u64,
    /// Bytes.
    pub len: u64,
    /// The access, as a DMA direction (`DMA_BUF_IOCTL_SYNC`'s mapping:
    /// read is `FromDevice`, write `ToDevice`, both `Bidirectional`).
    pub dir: Direction,
    /// Whether the access ends (else it begins).
    pub end: bool,
}

/// The direction of the `RSDMA_SYNC_READ`/`WRITE` bits of `flags`.
fn access_dir(flags: u32) -> Option<Direction> {
    match flags & (SYNC_READ | SYNC_WRITE) {
        SYNC_READ => Some(Direction::FromDevice),
        SYNC_WRITE => Some(Direction::ToDevice),
        0 => None,
        _ => Some(Direction::Bidirectional),
    }
}

/// Checks that `[offset, offset+len)` is a non-empty range inside `size`
/// bytes.
pub fn check_range(offset: u64, len: u64, size: u64) -> Result<(), Refusal> {
    if len == 0 {
        return Err(Refusal::EmptyRange);
    }
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(Refusal::OutOfRange { offset, len, size }),
    }
}

/// Checks `RSDMA_IOCTL_SYNC_RANGE`'s argument against a buffer of `size`
/// bytes.
pub fn check_sync_range(a: &SyncRangeArgs, size: u64) -> Result<SyncRange, Refusal> {
    if a.flags & !SYNC_FLAGS != 0 {
        return Err(Refusal::UnknownFlags(a.flags & !SYNC_FLAGS));
    }
    if a.reserved != 0 {
        return Err(Refusal::ReservedSet);
    }
    let dir = access_dir(a.flags).ok_or(Refusal::NoAccess)?;
    check_range(a.offset, a.len, size)?;
    Ok(SyncRange {
        offset: a.offset,
        len: a.len,
        dir,
        end: a.flags & SYNC_END != 0,
    })
}

/// Checks a user mapping of `len` bytes from page `pgoff` of a buffer of
/// `size` bytes; returns the byte offset it starts at.
pub fn check_mmap(pgoff: u64, len: u64, size: u64, page_size: u64) -> Result<u64, Refusal> {
    let offset = pgoff.checked_mul(page_size).ok_or(Refusal::OutOfRange {
        offset: u64::MAX,
        len,
        size,
    })?;
    check_range(offset, len, size)?;
    Ok(offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::ToString;

    const LIM: Limits = Limits {
        max_bytes: 64 << 20,
        max_contiguous: 4 << 20,
        page_size: 4096,
    };

    fn alloc(size: u64, flags: u32) -> AllocArgs {
        AllocArgs {
            size,
            flags,
            ..AllocArgs::default()
        }
    }

    #[test]
    fn alloc_table() {
        let ok = check_alloc(&alloc(1, 0), &LIM);
        assert_eq!(
            ok,
            Ok(BufferSpec {
                size: 4096,
                scattered: false,
                write_combine: false
            })
        );
        let sc = check_alloc(&alloc(8 << 20, ALLOC_SCATTERED | ALLOC_WRITE_COMBINE), &LIM);
        assert_eq!(
            sc,
            Ok(BufferSpec {
                size: 8 << 20,
                scattered: true,
                write_combine: true
            })
        );
        assert_eq!(check_alloc(&alloc(0, 0), &LIM), Err(Refusal::ZeroSize));
        assert_eq!(
            check_alloc(&alloc(4096, 1 << 7), &LIM),
            Err(Refusal::UnknownFlags(1 << 7))
        );
        let mut r = alloc(4096, 0);
        r.reserved[1] = 1;
        assert_eq!(check_alloc(&r, &LIM), Err(Refusal::ReservedSet));
        let big = check_alloc(&alloc((64 << 20) + 1, ALLOC_SCATTERED), &LIM);
        assert!(matches!(
            big,
            Err(Refusal::TooLarge {
                contiguous: false,
                ..
            })
        ));
        assert_eq!(big.map_err(Refusal::errno), Err(Errno::TooBig));
        let contig = check_alloc(&alloc((4 << 20) + 1, 0), &LIM);
        assert!(matches!(
            contig,
            Err(Refusal::TooLarge {
                contiguous: true,
                ..
            })
        ));
        // The first fault in table order wins.
        let mut all = alloc(0, 1 << 9);
        all.reserved[0] = 3;
        assert_eq!(check_alloc(&all, &LIM), Err(Refusal::UnknownFlags(1 << 9)));
    }

    #[test]
    fn sync_table() {
        let a = |flags, offset, len, reserved| SyncRangeArgs {
            fd: 3,
            flags,
            offset,
            len,
            reserved,
        };
        assert_eq!(
            check_sync_range(&a(SYNC_READ, 4096, 8192, 0), 65536),
            Ok(SyncRange {
                offset: 4096,
                len: 8192,
                dir: Direction::FromDevice,
                end: false
            })
        );
        let end = check_sync_range(&a(SYNC_READ | SYNC_WRITE | SYNC_END, 0, 1, 0), 1);
        assert_eq!(
            end.map(|s| (s.dir, s.end)),
            Ok((Direction::Bidirectional, true))
        );
        assert_eq!(
            check_sync_range(&a(SYNC_WRITE, 0, 1, 0), 1).map(|s| s.dir),
            Ok(Direction::ToDevice)
        );
        assert_eq!(
            check_sync_range(&a(SYNC_END, 0, 1, 0), 1),
            Err(Refusal::NoAccess)
        );
        assert_eq!(
            check_sync_range(&a(SYNC_READ | 8, 0, 1, 0), 1),
            Err(Refusal::UnknownFlags(8))
        );
        assert_eq!(
            check_sync_range(&a(SYNC_READ, 0, 1, 1), 1),
            Err(Refusal::ReservedSet)
        );
        assert_eq!(
            check_sync_range(&a(SYNC_READ, 0, 0, 0), 1),
            Err(Refusal::EmptyRange)
        );
        assert!(matches!(
            check_sync_range(&a(SYNC_READ, u64::MAX, 2, 0), 1),
            Err(Refusal::OutOfRange { .. })
        ));
    }

    #[test]
    fn mmap_bounds() {
        assert_eq!(check_mmap(1, 4096, 8192, 4096), Ok(4096));
        assert!(check_mmap(1, 8192, 8192, 4096).is_err());
        assert!(check_mmap(2, 4096, 8192, 4096).is_err());
        assert!(check_mmap(u64::MAX, 4096, 8192, 4096).is_err());
    }

    #[test]
    fn log_lines_name_the_cause() {
        let r = Refusal::OutOfRange {
            offset: 8,
            len: 9,
            size: 10,
        };
        assert_eq!(r.to_string(), "range 8+9 is outside the 10-byte buffer");
        assert!(Refusal::UnknownFlags(4).to_string().contains("0x4"));
    }

    proptest! {
        /// Encoding and decoding are inverse; an accepted allocation is a
        /// whole number of pages no smaller than asked and within limits.
        #[test]
        fn alloc_roundtrip(size in any::<u64>(), flags in any::<u32>(), fd in any::<i32>(),
                           r0 in 0u64..3, r1 in 0u64..3) {
            let a = AllocArgs { size, flags, fd, reserved: [r0, r1] };
            prop_assert_eq!(AllocArgs::from_bytes(&a.to_bytes()), a);
            if let Ok(s) = check_alloc(&a, &LIM) {
                prop_assert_eq!(s.size % 4096, 0);
                prop_assert!(s.size >= size && s.size - size < 4096);
                prop_assert!(s.size <= LIM.max_bytes);
                prop_assert!(s.scattered || s.size <= LIM.max_contiguous);
                prop_assert_eq!(flags & !ALLOC_FLAGS, 0);
            }
        }

        /// An accepted range lies inside the buffer.
        #[test]
        fn sync_inside(flags in 0u32..16, offset in any::<u64>(), len in any::<u64>(),
                       size in 0u64..(1 << 40)) {
            let a = SyncRangeArgs { fd: 0, flags, offset, len, reserved: 0 };
            prop_assert_eq!(SyncRangeArgs::from_bytes(&a.to_bytes()), a);
            if let Ok(s) = check_sync_range(&a, size) {
                prop_assert!(s.len > 0 && s.offset + s.len <= size);
                prop_assert!(!Refusal::EmptyRange.to_string().is_empty());
            }
        }
    }
}
