//! The rules of declared coherent memory (`rsdma_declare_coherent_memory`):
//! what a declaration must say, and which ones are refused with which
//! errno.  The module maps and serves the regions; this decides.
//!
//! A device may declare several regions.  Each is a physical range the CPU
//! maps either as memory ([`CpuMapping::Memory`]) or for I/O accessors only
//! ([`CpuMapping::Io`]), seen by the device at its own device address, and
//! each gets its own [`super::coherent::CoherentPool`].

use core::fmt;

/// Most regions one device may declare.
pub const MAX_REGIONS: usize = 8;

/// Where a region is: its physical range and the device address of its
/// first byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// Physical address of the first byte.
    pub phys: u64,
    /// The device's address of the first byte.
    pub dev_addr: u64,
    /// Bytes.
    pub size: u64,
}

impl Span {
    /// Whether the physical ranges of `self` and `other` share a byte.
    pub fn overlaps_phys(&self, other: &Span) -> bool {
        overlap(self.phys, self.size, other.phys, other.size)
    }

    /// Whether the device ranges of `self` and `other` share an address.
    pub fn overlaps_dev(&self, other: &Span) -> bool {
        overlap(self.dev_addr, self.size, other.dev_addr, other.size)
    }

    /// Whether the device range contains `[dev_addr, dev_addr + size)`.
    pub fn contains_dev(&self, dev_addr: u64, size: u64) -> bool {
        dev_addr >= self.dev_addr
            && dev_addr
                .checked_add(size)
                .zip(self.dev_addr.checked_add(self.size))
                .is_some_and(|(end, own)| end <= own)
    }
}

/// Whether `[a, a + alen)` and `[b, b + blen)` share a value (ranges that
/// wrap count as reaching the end of the address space).
fn overlap(a: u64, alen: u64, b: u64, blen: u64) -> bool {
    let a_end = a.saturating_add(alen);
    let b_end = b.saturating_add(blen);
    alen != 0 && blen != 0 && a < b_end && b < a_end
}

/// How the CPU reaches a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuMapping {
    /// As normal memory (`MAP`): the CPU address handed out is a pointer.
    Memory,
    /// Through I/O accessors only (`IO`): the CPU address handed out is an
    /// `__iomem` mapping.
    Io,
}

/// A declaration as the driver made it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// Where the region is.
    pub span: Span,
    /// `MAP` was given.
    pub map: bool,
    /// `IO` was given.
    pub io: bool,
    /// `EXCLUSIVE` was given: no fallback to system memory.
    pub exclusive: bool,
    /// `INCLUDES_CHILDREN` was given: the region serves child devices too.
    pub children: bool,
    /// Flag bits rsdma does not know.
    pub unknown: u32,
}

/// A declaration that passed [`check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Where the region is.
    pub span: Span,
    /// How the CPU reaches it.
    pub cpu: CpuMapping,
    /// No fallback to system memory when it is full.
    pub exclusive: bool,
    /// It serves the device's child devices too.
    pub children: bool,
}

/// Why a declaration or a release is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeclareError {
    /// Flag bits rsdma does not know.
    UnknownFlags(u32),
    /// Neither `MAP` nor `IO`.
    NoMapping,
    /// Both `MAP` and `IO`.
    BothMappings,
    /// A zero size.
    Empty,
    /// The size or an address is not a multiple of the page size.
    Unaligned {
        /// The page size.
        page: u64,
    },
    /// The physical or the device range runs past the end of the address
    /// space.
    Wraps,
    /// The device range ends above the device's coherent DMA mask: the
    /// device could never reach all of it.
    OutOfReach {
        /// The mask.
        mask: u64,
    },
    /// The physical range overlaps a region already declared.
    OverlapsPhys(Span),
    /// The device range overlaps a region already declared.
    OverlapsDevice(Span),
    /// The device has [`MAX_REGIONS`] regions already.
    TooMany,
    /// No region starts at that physical address.
    NotDeclared,
    /// Allocations from the region are still live.
    Busy {
        /// Pages in use.
        pages: usize,
    },
}

/// The errno a refusal is reported with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Errno {
    /// `EINVAL`: the arguments cannot describe a region.
    Invalid,
    /// `EBUSY`: the memory is someone else's, or still in use.
    Busy,
    /// `ERANGE`: the device cannot reach the region.
    Range,
    /// `ENOSPC`: no room for another region.
    NoSpace,
    /// `ENOENT`: no such region.
    NotFound,
}

impl DeclareError {
    /// The errno each refusal is reported with.
    pub const fn errno(&self) -> Errno {
        match self {
            Self::UnknownFlags(_)
            | Self::NoMapping
            | Self::BothMappings
            | Self::Empty
            | Self::Unaligned { .. }
            | Self::Wraps => Errno::Invalid,
            Self::OutOfReach { .. } => Errno::Range,
            Self::OverlapsPhys(_) | Self::OverlapsDevice(_) | Self::Busy { .. } => Errno::Busy,
            Self::TooMany => Errno::NoSpace,
            Self::NotDeclared => Errno::NotFound,
        }
    }
}

impl fmt::Display for DeclareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownFlags(b) => write!(f, "unknown flags {b:#x}"),
            Self::NoMapping => f.write_str("neither MAP nor IO is given"),
            Self::BothMappings => f.write_str("MAP and IO are both given"),
            Self::Empty => f.write_str("the size is zero"),
            Self::Unaligned { page } => {
                write!(
                    f,
                    "the size or an address is not a multiple of the page size ({page:#x})"
                )
            }
            Self::Wraps => f.write_str("the range runs past the end of the address space"),
            Self::OutOfReach { mask } => {
                write!(
                    f,
                    "the device range ends above the coherent DMA mask {mask:#x}"
                )
            }
            Self::OverlapsPhys(s) => write!(
                f,
                "the memory overlaps the region at phys {:#x}+{:#x}",
                s.phys, s.size
            ),
            Self::OverlapsDevice(s) => write!(
                f,
                "the device range overlaps the region at device address {:#x}+{:#x}",
                s.dev_addr, s.size
            ),
            Self::TooMany => write!(f, "the device has {MAX_REGIONS} regions already"),
            Self::NotDeclared => f.write_str("no region is declared at that address"),
            Self::Busy { pages } => write!(f, "{pages} page(s) of it are still allocated"),
        }
    }
}

/// Checks a declaration against the page size, the device's coherent DMA
/// mask and the regions the device has already.
///
/// The checks run in a fixed order (flags, geometry, reach, conflicts), so
/// a declaration wrong in several ways always gets the same answer.
pub fn check(
    req: &Request,
    page: u64,
    mask: u64,
    existing: &[Span],
) -> Result<Region, DeclareError> {
    if req.unknown != 0 {
        return Err(DeclareError::UnknownFlags(req.unknown));
    }
    let cpu = match (req.map, req.io) {
        (true, false) => CpuMapping::Memory,
        (false, true) => CpuMapping::Io,
        (false, false) => return Err(DeclareError::NoMapping),
        (true, true) => return Err(DeclareError::BothMappings),
    };
    let s = req.span;
    if s.size == 0 {
        return Err(DeclareError::Empty);
    }
    let m = page.saturating_sub(1);
    if !page.is_power_of_two() || (s.size | s.phys | s.dev_addr) & m != 0 {
        return Err(DeclareError::Unaligned { page });
    }
    let (Some(_), Some(dev_end)) = (s.phys.checked_add(s.size), s.dev_addr.checked_add(s.size))
    else {
        return Err(DeclareError::Wraps);
    };
    // `dev_end >= 1`: the size is not zero.
    if dev_end - 1 > mask {
        return Err(DeclareError::OutOfReach { mask });
    }
    if let Some(o) = existing.iter().find(|o| o.overlaps_phys(&s)) {
        return Err(DeclareError::OverlapsPhys(*o));
    }
    if let Some(o) = existing.iter().find(|o| o.overlaps_dev(&s)) {
        return Err(DeclareError::OverlapsDevice(*o));
    }
    if existing.len() >= MAX_REGIONS {
        return Err(DeclareError::TooMany);
    }
    Ok(Region {
        span: s,
        cpu,
        exclusive: req.exclusive,
        children: req.children,
    })
}

/// Checks the release of a region with `used_pages` pages allocated.
pub fn check_release(used_pages: usize) -> Result<(), DeclareError> {
    match used_pages {
        0 => Ok(()),
        pages => Err(DeclareError::Busy { pages }),
    }
}

/// Whether an allocation that no region could serve may fall back to
/// system memory: not when a region that was asked is exclusive.
pub fn may_fall_back(any_exclusive: bool) -> bool {
    !any_exclusive
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    const PAGE: u64 = 4096;
    const MASK: u64 = 0xffff_ffff;

    fn req(phys: u64, dev_addr: u64, size: u64) -> Request {
        Request {
            span: Span {
                phys,
                dev_addr,
                size,
            },
            map: true,
            ..Request::default()
        }
    }

    #[test]
    fn each_bad_call_gets_its_errno() {
        let ok = req(0x7e00_0000, 0x7e00_0000, 0x10_0000);
        let have = [Span {
            phys: 0x7f00_0000,
            dev_addr: 0x1000_0000,
            size: 0x1_0000,
        }];
        let cases: [(Request, DeclareError, Errno); 10] = [
            (
                Request {
                    unknown: 0x40,
                    ..ok
                },
                DeclareError::UnknownFlags(0x40),
                Errno::Invalid,
            ),
            (
                Request { map: false, ..ok },
                DeclareError::NoMapping,
                Errno::Invalid,
            ),
            (
                Request { io: true, ..ok },
                DeclareError::BothMappings,
                Errno::Invalid,
            ),
            (
                req(0x7e00_0000, 0x7e00_0000, 0),
                DeclareError::Empty,
                Errno::Invalid,
            ),
            (
                req(0x7e00_0000, 0x7e00_0000, 0x1800),
                DeclareError::Unaligned { page: PAGE },
                Errno::Invalid,
            ),
            (
                req(0x7e00_0800, 0x7e00_0000, 0x1000),
                DeclareError::Unaligned { page: PAGE },
                Errno::Invalid,
            ),
            (
                req(u64::MAX - 0xfff, 0, 0x2000),
                DeclareError::Wraps,
                Errno::Invalid,
            ),
            (
                req(0x7e00_0000, 0xffff_f000, 0x2000),
                DeclareError::OutOfReach { mask: MASK },
                Errno::Range,
            ),
            (
                req(0x7f00_f000, 0x2000_0000, 0x2000),
                DeclareError::OverlapsPhys(have[0]),
                Errno::Busy,
            ),
            (
                req(0x7000_0000, 0x0fff_f000, 0x2000),
                DeclareError::OverlapsDevice(have[0]),
                Errno::Busy,
            ),
        ];
        for (r, want, errno) in cases {
            let e = check(&r, PAGE, MASK, &have).unwrap_err();
            assert_eq!(e, want, "{r:?}");
            assert_eq!(e.errno(), errno);
        }
        let region = check(&ok, PAGE, MASK, &have).unwrap();
        assert_eq!(region.cpu, CpuMapping::Memory);
        let io = check(
            &Request {
                map: false,
                io: true,
                exclusive: true,
                ..ok
            },
            PAGE,
            MASK,
            &[],
        )
        .unwrap();
        assert_eq!(
            (io.cpu, io.exclusive, io.children),
            (CpuMapping::Io, true, false)
        );
        // The last byte may sit at the mask itself.
        assert!(check(&req(0, 0xffff_f000, 0x1000), PAGE, MASK, &[]).is_ok());
        let full = [Span {
            phys: 1 << 40,
            dev_addr: 0,
            size: 0x1000,
        }; MAX_REGIONS];
        let mut spread = full;
        for (i, s) in spread.iter_mut().enumerate() {
            s.phys += (i as u64) << 12;
            s.dev_addr += (i as u64) << 12;
        }
        let e = check(&req(0x1000_0000, 0x1000_0000, 0x1000), PAGE, MASK, &spread).unwrap_err();
        assert_eq!((e, e.errno()), (DeclareError::TooMany, Errno::NoSpace));
        assert_eq!(check_release(0), Ok(()));
        assert_eq!(check_release(3).unwrap_err().errno(), Errno::Busy);
        assert_eq!(DeclareError::NotDeclared.errno(), Errno::NotFound);
        assert!(may_fall_back(false) && !may_fall_back(true));
    }

    proptest! {
        /// A declaration is accepted exactly when its ranges are page
        /// aligned, inside the address space and the mask, and overlap no
        /// region already declared, physically or on the device side.
        #[test]
        fn accepted_regions_never_overlap(
            reqs in proptest::collection::vec((0u64..64, 0u64..64, 0u64..8), 1..40)
        ) {
            let mut have: Vec<Span> = Vec::new();
            for (p, d, n) in reqs {
                let s = Span { phys: p << 12, dev_addr: d << 12, size: n << 12 };
                let clash = have.iter().any(|o| o.overlaps_phys(&s) || o.overlaps_dev(&s));
                let r = check(&req(s.phys, s.dev_addr, s.size), PAGE, MASK, &have);
                match r {
                    Ok(region) => {
                        prop_assert!(n > 0 && !clash && have.len() < MAX_REGIONS);
                        have.push(region.span);
                    }
                    Err(DeclareError::Empty) => prop_assert_eq!(n, 0),
                    Err(DeclareError::TooMany) => prop_assert!(!clash && have.len() == MAX_REGIONS),
                    Err(e) => prop_assert!(clash && e.errno() == Errno::Busy, "{:?}", e),
                }
            }
            for (i, a) in have.iter().enumerate() {
                for b in &have[i + 1..] {
                    prop_assert!(!a.overlaps_phys(b) && !a.overlaps_dev(b));
                }
            }
        }
    }
}
