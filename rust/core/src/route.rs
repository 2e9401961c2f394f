//! Where a DMA request goes: the routing decisions of kernel/dma/direct.c
//! and drivers/iommu/dma-iommu.c as one pure table.
//!
//! A streaming mapping of `[phys, phys+size)` takes one of four routes:
//!
//! | IOMMU | untrusted | whole granules | under the mask | route              |
//! |-------|-----------|----------------|----------------|--------------------|
//! | yes   | no        | any            | any            | [`Route::Iova`]       |
//! | yes   | yes       | yes            | any            | [`Route::Iova`]       |
//! | yes   | yes       | no             | any            | [`Route::IovaBounce`] |
//! | no    | any       | any            | yes            | [`Route::Direct`]     |
//! | no    | any       | any            | no             | [`Route::Bounce`]     |
//!
//! "Whole granules" means that `phys` and `size` are both multiples of the
//! IOMMU granule (iommu-dma's `iova_offset(iovad, phys | size) == 0`): the
//! IOMMU can only map whole granules, so a mapping that does not fill its
//! granules would expose the bytes around it to an untrusted device; it is
//! copied into bounce slots whose granules hold nothing else. "Under the
//! mask" means that the last byte, `phys + size - 1`, is at or below the
//! device's DMA mask (fold any bus limit into the mask before asking);
//! otherwise dma-direct copies the buffer into a bounce pool the device can
//! reach. Without an IOMMU, `untrusted` changes nothing: there is no
//! protection to keep. With one, the IOVA allocator applies the mask.
//!
//! Coherent allocations ([`alloc`]) never bounce: behind an IOMMU their
//! pages may come from anywhere ([`AllocRoute::Iova`]); without one they
//! must be physically contiguous at or below the coherent DMA mask
//! ([`AllocRoute::Direct`]).
//!
//! Neither coherency nor any attribute changes the route; the cache table
//! ([`super::cache`]) and the bounce copy table ([`super::bounce::copy_on`])
//! use them.

use core::fmt;

use super::dma::{Attrs, Direction};

/// What the DMA layer knows about a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceFacts {
    /// The device is behind an IOMMU domain (its DMA goes through IOVAs).
    pub iommu: bool,
    /// The device is untrusted (`dev_is_untrusted`, e.g. an external PCI
    /// port): it may see nothing but what is mapped for it.
    pub untrusted: bool,
    /// The device snoops the CPU caches (`dev_is_dma_coherent`).
    pub coherent: bool,
    /// The streaming DMA mask (inclusive highest address).
    pub dma_mask: u64,
    /// log2 of the IOMMU granule: 12, 14 or 16 (ignored without an IOMMU).
    pub granule_shift: u32,
}

/// A streaming mapping to route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapRequest {
    /// Physical address of the buffer.
    pub phys: u64,
    /// Length in bytes.
    pub size: u64,
    /// Direction.
    pub dir: Direction,
    /// Attributes.
    pub attrs: Attrs,
}

/// Where a streaming mapping goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Map the buffer itself at an IOVA in the device's IOMMU domain.
    Iova,
    /// Copy the buffer into bounce slots padded to whole granules, and map
    /// those at an IOVA.
    IovaBounce,
    /// Hand the physical address to the device as it is.
    Direct,
    /// Copy the buffer into a bounce pool under the DMA mask.
    Bounce,
}

/// Where a coherent allocation's memory comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocRoute {
    /// Pages from anywhere, mapped at an IOVA at or below the coherent mask.
    Iova,
    /// Physically contiguous pages at or below the coherent mask, used at
    /// their physical address.
    Direct,
}

/// Requests no route can serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// Zero length.
    ZeroSize,
    /// `phys + size` does not fit in 64 bits.
    Overflow,
    /// `DMA_NONE`.
    InvalidDirection,
    /// The device is behind an IOMMU with a granule other than 4, 16 or
    /// 64 KiB.
    BadGranule,
    /// A coherent allocation larger than the space under the coherent mask.
    TooLarge,
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ZeroSize => "route: zero-length request",
            Self::Overflow => "route: address range overflows",
            Self::InvalidDirection => "route: DMA_NONE",
            Self::BadGranule => "route: bad IOMMU granule",
            Self::TooLarge => "route: allocation larger than the coherent mask",
        })
    }
}

/// The IOMMU granules rsdma supports (log2).
const GRANULE_SHIFTS: [u32; 3] = [12, 14, 16];

/// The granule mask of `dev` when it is behind an IOMMU (0 without one).
fn granule_mask(dev: &DeviceFacts) -> Result<u64, RouteError> {
    if !dev.iommu {
        return Ok(0);
    }
    if !GRANULE_SHIFTS.contains(&dev.granule_shift) {
        return Err(RouteError::BadGranule);
    }
    Ok((1u64 << dev.granule_shift) - 1)
}

/// The table itself, over the facts that decide it.
fn decide(iommu: bool, untrusted: bool, whole_granules: bool, under_mask: bool) -> Route {
    match (iommu, untrusted && !whole_granules, under_mask) {
        (true, false, _) => Route::Iova,
        (true, true, _) => Route::IovaBounce,
        (false, _, true) => Route::Direct,
        (false, _, false) => Route::Bounce,
    }
}

/// The route of the streaming mapping `req` on `dev`.
pub fn map(dev: &DeviceFacts, req: &MapRequest) -> Result<Route, RouteError> {
    if req.size == 0 {
        return Err(RouteError::ZeroSize);
    }
    if req.dir == Direction::None {
        return Err(RouteError::InvalidDirection);
    }
    let end = req.phys.checked_add(req.size).ok_or(RouteError::Overflow)?;
    let gmask = granule_mask(dev)?;
    let whole_granules = (req.phys | req.size) & gmask == 0;
    // `end >= 1` since `size >= 1`.
    let under_mask = end - 1 <= dev.dma_mask;
    Ok(decide(dev.iommu, dev.untrusted, whole_granules, under_mask))
}

/// The route of a coherent allocation of `size` bytes on `dev`, whose
/// coherent DMA mask is `coherent_mask`.
pub fn alloc(dev: &DeviceFacts, size: u64, coherent_mask: u64) -> Result<AllocRoute, RouteError> {
    if size == 0 {
        return Err(RouteError::ZeroSize);
    }
    granule_mask(dev)?;
    // The addresses at or below the mask number `coherent_mask + 1`.
    if size - 1 > coherent_mask {
        return Err(RouteError::TooLarge);
    }
    Ok(if dev.iommu {
        AllocRoute::Iova
    } else {
        AllocRoute::Direct
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DIRS: [Direction; 3] = [
        Direction::Bidirectional,
        Direction::ToDevice,
        Direction::FromDevice,
    ];

    fn facts(iommu: bool, untrusted: bool) -> DeviceFacts {
        DeviceFacts {
            iommu,
            untrusted,
            coherent: false,
            dma_mask: u32::MAX as u64,
            granule_shift: 12,
        }
    }

    fn req(phys: u64, size: u64) -> MapRequest {
        MapRequest {
            phys,
            size,
            dir: Direction::ToDevice,
            attrs: Attrs::empty(),
        }
    }

    /// Every row of the table, for every direction, coherency and a few
    /// attributes.
    #[test]
    fn table() {
        use Route::*;
        let aligned = (0x1_0000, 0x2000);
        let unaligned_start = (0x1_0040, 0x2000);
        let unaligned_size = (0x1_0000, 0x1ff0);
        let above = (0x1_0000_0000, 0x1000);
        let straddling = (0xffff_f000, 0x2000);
        let rows: [(bool, bool, (u64, u64), Route); 16] = [
            (true, false, aligned, Iova),
            (true, false, unaligned_start, Iova),
            (true, false, above, Iova),
            (true, true, aligned, Iova),
            (true, true, above, Iova),
            (true, true, unaligned_start, IovaBounce),
            (true, true, unaligned_size, IovaBounce),
            (true, true, (0x1_0000_0800, 0x10), IovaBounce),
            (false, false, aligned, Direct),
            (false, false, unaligned_start, Direct),
            (false, true, unaligned_size, Direct),
            (false, false, (0xffff_f000, 0x1000), Direct),
            (false, false, above, Bounce),
            (false, false, straddling, Bounce),
            (false, true, above, Bounce),
            (false, true, straddling, Bounce),
        ];
        for (iommu, untrusted, (phys, size), want) in rows {
            for dir in DIRS {
                for coherent in [false, true] {
                    for attrs in [Attrs::empty(), Attrs::SKIP_CPU_SYNC, Attrs::all()] {
                        let dev = DeviceFacts {
                            coherent,
                            ..facts(iommu, untrusted)
                        };
                        let r = MapRequest {
                            dir,
                            attrs,
                            ..req(phys, size)
                        };
                        assert_eq!(map(&dev, &r), Ok(want), "{dev:?} {r:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn granule_sizes() {
        let mut dev = facts(true, true);
        for (shift, phys, want) in [
            (12, 0x1000, Route::Iova),
            (14, 0x1000, Route::IovaBounce),
            (14, 0x4000, Route::Iova),
            (16, 0xc000, Route::IovaBounce),
            (16, 0x3_0000, Route::Iova),
        ] {
            dev.granule_shift = shift;
            assert_eq!(
                map(&dev, &req(phys, 0x1_0000)),
                Ok(want),
                "{shift} {phys:#x}"
            );
        }
        for shift in [0, 11, 13, 15, 17, 63, 64, u32::MAX] {
            dev.granule_shift = shift;
            assert_eq!(map(&dev, &req(0, 0x1000)), Err(RouteError::BadGranule));
            assert_eq!(alloc(&dev, 0x1000, u64::MAX), Err(RouteError::BadGranule));
        }
        // Without an IOMMU the granule is not looked at.
        dev.iommu = false;
        assert_eq!(map(&dev, &req(0, 0x1000)), Ok(Route::Direct));
    }

    #[test]
    fn errors() {
        let dev = facts(false, false);
        assert_eq!(map(&dev, &req(0x1000, 0)), Err(RouteError::ZeroSize));
        assert_eq!(map(&dev, &req(u64::MAX, 1)), Err(RouteError::Overflow));
        assert_eq!(map(&dev, &req(1, u64::MAX)), Err(RouteError::Overflow));
        let none = MapRequest {
            dir: Direction::None,
            ..req(0x1000, 0x10)
        };
        assert_eq!(map(&dev, &none), Err(RouteError::InvalidDirection));
        assert_eq!(
            map(&facts(true, true), &none),
            Err(RouteError::InvalidDirection)
        );
        // The highest representable range is fine.
        let top = DeviceFacts {
            dma_mask: u64::MAX,
            ..dev
        };
        assert_eq!(map(&top, &req(u64::MAX - 1, 1)), Ok(Route::Direct));
        assert_eq!(alloc(&dev, 0, u64::MAX), Err(RouteError::ZeroSize));
    }

    #[test]
    fn coherent_allocations() {
        let mask = u32::MAX as u64;
        for untrusted in [false, true] {
            assert_eq!(
                alloc(&facts(true, untrusted), 0x3000, mask),
                Ok(AllocRoute::Iova)
            );
            assert_eq!(
                alloc(&facts(false, untrusted), 0x3000, mask),
                Ok(AllocRoute::Direct)
            );
        }
        assert_eq!(
            alloc(&facts(false, false), 1 << 32, mask),
            Ok(AllocRoute::Direct)
        );
        assert_eq!(
            alloc(&facts(false, false), (1 << 32) + 1, mask),
            Err(RouteError::TooLarge)
        );
        assert_eq!(alloc(&facts(true, false), 2, 0), Err(RouteError::TooLarge));
        assert_eq!(
            alloc(&facts(true, false), u64::MAX, u64::MAX),
            Ok(AllocRoute::Iova)
        );
    }

    fn any_dir() -> impl Strategy<Value = Direction> {
        prop_oneof![
            Just(Direction::Bidirectional),
            Just(Direction::ToDevice),
            Just(Direction::FromDevice),
            Just(Direction::None),
        ]
    }

    fn any_facts() -> impl Strategy<Value = DeviceFacts> {
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            prop_oneof![
                any::<u64>(),
                (0u32..=64).prop_map(|b| u64::MAX >> (64 - b.max(1)))
            ],
            prop_oneof![Just(12u32), Just(14), Just(16), any::<u32>()],
        )
            .prop_map(|(iommu, untrusted, coherent, dma_mask, granule_shift)| {
                DeviceFacts {
                    iommu,
                    untrusted,
                    coherent,
                    dma_mask,
                    granule_shift,
                }
            })
    }

    fn any_request() -> impl Strategy<Value = MapRequest> {
        (
            prop_oneof![any::<u64>(), (0u64..1 << 34).prop_map(|p| p << 6)],
            prop_oneof![any::<u64>(), 0u64..0x4_0000],
            any_dir(),
            any::<u32>(),
        )
            .prop_map(|(phys, size, dir, bits)| MapRequest {
                phys,
                size,
                dir,
                attrs: Attrs::from_bits_truncate(bits),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Each route holds exactly when its conditions do, and no input
        /// panics.
        #[test]
        fn routes_match_their_conditions(dev in any_facts(), r in any_request()) {
            let res = map(&dev, &r);
            let end = r.phys.checked_add(r.size);
            match res {
                Err(RouteError::ZeroSize) => prop_assert_eq!(r.size, 0),
                Err(RouteError::InvalidDirection) => prop_assert_eq!(r.dir, Direction::None),
                Err(RouteError::Overflow) => prop_assert!(end.is_none()),
                Err(RouteError::BadGranule) => {
                    prop_assert!(dev.iommu && ![12, 14, 16].contains(&dev.granule_shift));
                }
                Err(RouteError::TooLarge) => prop_assert!(false, "map never says TooLarge"),
                Ok(route) => {
                    prop_assert!(r.size > 0 && r.dir != Direction::None);
                    let last = end.map(|e| e - 1);
                    prop_assert!(last.is_some());
                    let unaligned = (r.phys | r.size) & ((1u64 << dev.granule_shift.min(63)) - 1) != 0;
                    match route {
                        Route::Direct => {
                            prop_assert!(!dev.iommu);
                            prop_assert!(last.is_some_and(|l| r.phys <= dev.dma_mask && l <= dev.dma_mask));
                        }
                        Route::Bounce => {
                            prop_assert!(!dev.iommu);
                            prop_assert!(last.is_some_and(|l| l > dev.dma_mask));
                        }
                        Route::IovaBounce => prop_assert!(dev.iommu && dev.untrusted && unaligned),
                        Route::Iova => prop_assert!(dev.iommu && !(dev.untrusted && unaligned)),
                    }
                }
            }
        }

        /// Coherent allocations: behind an IOMMU always IOVA, without one
        /// always direct, when they fit under the mask at all.
        #[test]
        fn alloc_routes(dev in any_facts(), size in any::<u64>(), mask in any::<u64>()) {
            match alloc(&dev, size, mask) {
                Ok(AllocRoute::Iova) => prop_assert!(dev.iommu && size > 0 && size - 1 <= mask),
                Ok(AllocRoute::Direct) => prop_assert!(!dev.iommu && size > 0 && size - 1 <= mask),
                Err(RouteError::ZeroSize) => prop_assert_eq!(size, 0),
                Err(RouteError::TooLarge) => prop_assert!(size - 1 > mask),
                Err(RouteError::BadGranule) => prop_assert!(dev.iommu),
                Err(e) => prop_assert!(false, "unexpected {:?}", e),
            }
        }
    }
}
