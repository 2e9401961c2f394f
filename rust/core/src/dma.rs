//! DMA request vocabulary shared by the decision tables: the direction of a
//! transfer (`enum dma_data_direction` in include/linux/dma-direction.h)
//! and the mapping attributes (`DMA_ATTR_*` in include/linux/dma-mapping.h).
//!
//! [`Attrs`] has rsdma-core's own bit layout, unrelated to the kernel's
//! numeric `DMA_ATTR_*` values: the module converts the kernel's raw
//! attributes (through its bindings) into this type at the ops boundary, so
//! that nothing here depends on a kernel header.

use core::fmt;

/// DMA data direction (`enum dma_data_direction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `DMA_BIDIRECTIONAL`.
    Bidirectional,
    /// `DMA_TO_DEVICE`.
    ToDevice,
    /// `DMA_FROM_DEVICE`.
    FromDevice,
    /// `DMA_NONE` (invalid for mappings).
    None,
}

impl Direction {
    /// The name of the C enumerator, for log lines.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Bidirectional => "DMA_BIDIRECTIONAL",
            Self::ToDevice => "DMA_TO_DEVICE",
            Self::FromDevice => "DMA_FROM_DEVICE",
            Self::None => "DMA_NONE",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of DMA mapping attributes (`DMA_ATTR_*`), in rsdma-core's own
/// bit layout.
///
/// # Invariants
///
/// Only the bits of [`Attrs::all`] are ever set.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Attrs(u32);

impl Attrs {
    /// `DMA_ATTR_WEAK_ORDERING`: reads and writes may be reordered.
    pub const WEAK_ORDERING: Self = Self(1 << 0);
    /// `DMA_ATTR_WRITE_COMBINE`: the CPU mapping may combine writes.
    pub const WRITE_COMBINE: Self = Self(1 << 1);
    /// `DMA_ATTR_NO_KERNEL_MAPPING`: no kernel virtual mapping is needed.
    pub const NO_KERNEL_MAPPING: Self = Self(1 << 2);
    /// `DMA_ATTR_SKIP_CPU_SYNC`: no cache maintenance at map or unmap.
    pub const SKIP_CPU_SYNC: Self = Self(1 << 3);
    /// `DMA_ATTR_FORCE_CONTIGUOUS`: physically contiguous allocation.
    pub const FORCE_CONTIGUOUS: Self = Self(1 << 4);
    /// `DMA_ATTR_ALLOC_SINGLE_PAGES`: no effort to use large pages.
    pub const ALLOC_SINGLE_PAGES: Self = Self(1 << 5);
    /// `DMA_ATTR_NO_WARN`: no warning on allocation failure.
    pub const NO_WARN: Self = Self(1 << 6);
    /// `DMA_ATTR_PRIVILEGED`: accessible to privileged device accesses only.
    pub const PRIVILEGED: Self = Self(1 << 7);

    /// Every flag with its name, in bit order (the printing table).
    const NAMES: [(Self, &'static str); 8] = [
        (Self::WEAK_ORDERING, "WEAK_ORDERING"),
        (Self::WRITE_COMBINE, "WRITE_COMBINE"),
        (Self::NO_KERNEL_MAPPING, "NO_KERNEL_MAPPING"),
        (Self::SKIP_CPU_SYNC, "SKIP_CPU_SYNC"),
        (Self::FORCE_CONTIGUOUS, "FORCE_CONTIGUOUS"),
        (Self::ALLOC_SINGLE_PAGES, "ALLOC_SINGLE_PAGES"),
        (Self::NO_WARN, "NO_WARN"),
        (Self::PRIVILEGED, "PRIVILEGED"),
    ];

    /// No attribute.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Every attribute.
    pub const fn all() -> Self {
        Self((1 << 8) - 1)
    }

    /// Whether no attribute is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The attributes of `self` and those of `other`.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The attributes set in both `self` and `other`.
    #[must_use]
    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// The attributes of `self` that are not in `other`.
    #[must_use]
    pub const fn difference(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// Whether every attribute of `other` is set in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The raw bits in rsdma-core's layout (for debug output only; they are
    /// not the kernel's `DMA_ATTR_*` values).
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The set of `bits` in rsdma-core's layout; unknown bits are dropped.
    pub const fn from_bits_truncate(bits: u32) -> Self {
        // INVARIANT: masked with `all()`.
        Self(bits & Self::all().0)
    }

    /// Writes the names of the set flags joined by `|`, or `0` when empty.
    fn write_names(self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("0");
        }
        let mut sep = "";
        for (flag, name) in Self::NAMES {
            if self.contains(flag) {
                write!(f, "{sep}{name}")?;
                sep = "|";
            }
        }
        Ok(())
    }
}

impl fmt::Display for Attrs {
    /// `SKIP_CPU_SYNC|NO_WARN`, or `0` for the empty set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_names(f)
    }
}

impl fmt::Debug for Attrs {
    /// `Attrs(SKIP_CPU_SYNC|NO_WARN)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Attrs(")?;
        self.write_names(f)?;
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::format;
    use std::string::ToString;

    #[test]
    fn flags_are_distinct_single_bits_covering_all() {
        let mut seen = Attrs::empty();
        for (flag, _) in Attrs::NAMES {
            assert_eq!(flag.bits().count_ones(), 1, "{flag:?}");
            assert!(!seen.contains(flag), "{flag:?} twice");
            seen = seen.union(flag);
        }
        assert_eq!(seen, Attrs::all());
    }

    #[test]
    fn set_operations() {
        let a = Attrs::SKIP_CPU_SYNC.union(Attrs::NO_WARN);
        assert!(a.contains(Attrs::SKIP_CPU_SYNC));
        assert!(a.contains(Attrs::empty()));
        assert!(!a.contains(Attrs::SKIP_CPU_SYNC.union(Attrs::PRIVILEGED)));
        assert_eq!(a.difference(Attrs::NO_WARN), Attrs::SKIP_CPU_SYNC);
        assert_eq!(a.intersection(Attrs::NO_WARN), Attrs::NO_WARN);
        assert!(Attrs::default().is_empty());
        assert_eq!(Attrs::from_bits_truncate(u32::MAX), Attrs::all());
        assert_eq!(Attrs::from_bits_truncate(a.bits()), a);
    }

    #[test]
    fn printing_names_the_flags() {
        let a = Attrs::SKIP_CPU_SYNC.union(Attrs::WEAK_ORDERING);
        assert_eq!(a.to_string(), "WEAK_ORDERING|SKIP_CPU_SYNC");
        assert_eq!(format!("{a:?}"), "Attrs(WEAK_ORDERING|SKIP_CPU_SYNC)");
        assert_eq!(Attrs::empty().to_string(), "0");
        assert_eq!(Direction::FromDevice.to_string(), "DMA_FROM_DEVICE");
    }

    proptest! {
        /// The operations agree with the bit operations they stand for and
        /// never produce a bit outside `all()`.
        #[test]
        fn algebra(x in any::<u32>(), y in any::<u32>()) {
            let (a, b) = (Attrs::from_bits_truncate(x), Attrs::from_bits_truncate(y));
            prop_assert!(Attrs::all().contains(a.union(b)));
            prop_assert_eq!(a.union(b).bits(), a.bits() | b.bits());
            prop_assert_eq!(a.difference(b).union(a.intersection(b)), a);
            prop_assert!(a.difference(b).intersection(b).is_empty());
            prop_assert_eq!(a.contains(b), a.union(b) == a);
            prop_assert!(!a.to_string().contains('\n'));
        }
    }
}
