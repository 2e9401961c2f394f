//! Range syncs an importer asks for on its own mapping of an exported
//! buffer (`rsdma_dmabuf_sync_for_device` / `_for_cpu`).
//!
//! An importer that keeps one long-lived mapping hands each transfer's
//! bytes to its device before the transfer and back to the CPU after it,
//! and nothing else.  [`check`] decides whether such a sync may be carried
//! out: the range must be a non-empty part of the buffer, the attachment
//! must be mapped, and the direction of the transfer must be one the
//! mapping allows.  A refused sync touches nothing.

use core::fmt;

use super::dma::Direction;

/// Why a range sync is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The direction is `DMA_NONE` or not a direction at all.
    BadDirection,
    /// Zero bytes.
    Empty,
    /// `[offset, offset+len)` does not lie inside the buffer (`end` is
    /// `None` when it overflows).
    OutOfRange {
        /// First byte asked for.
        offset: u64,
        /// End of the range asked for.
        end: Option<u64>,
        /// Bytes of the buffer.
        size: u64,
    },
    /// The attachment holds no mapping.
    NotMapped,
    /// The mapping's direction does not allow a transfer in `asked`.
    Direction {
        /// The mapping's direction.
        mapped: Direction,
        /// The transfer's.
        asked: Direction,
    },
}

/// Which errno a refusal is reported with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Errno {
    /// `EINVAL`: a meaningless request (no direction, no bytes).
    Inval,
    /// `ERANGE`: bytes outside the buffer.
    Range,
    /// `ENXIO`: no mapping to sync (no device address).
    NoMapping,
    /// `EACCES`: the mapping does not let the device move data that way.
    Access,
}

impl Refusal {
    /// The errno the caller gets.
    pub fn errno(self) -> Errno {
        match self {
            Self::BadDirection | Self::Empty => Errno::Inval,
            Self::OutOfRange { .. } => Errno::Range,
            Self::NotMapped => Errno::NoMapping,
            Self::Direction { .. } => Errno::Access,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BadDirection => write!(f, "the direction is not one a transfer can have"),
            Self::Empty => write!(f, "a range of 0 bytes"),
            Self::OutOfRange {
                offset,
                end: Some(end),
                size,
            } => write!(f, "range {offset}..{end} is outside the {size}-byte buffer"),
            Self::OutOfRange {
                offset,
                end: None,
                size,
            } => write!(
                f,
                "range at {offset} overflows (the buffer has {size} bytes)"
            ),
            Self::NotMapped => write!(f, "the attachment is not mapped"),
            Self::Direction { mapped, asked } => write!(
                f,
                "the attachment is mapped {mapped}, which does not allow {asked}"
            ),
        }
    }
}

/// Whether a mapping made in `mapped` lets the device move data in
/// `asked`: a bidirectional mapping allows every direction, a
/// one-directional mapping its own only.
pub fn allows(mapped: Direction, asked: Direction) -> bool {
    match (mapped, asked) {
        (_, Direction::None) | (Direction::None, _) => false,
        (Direction::Bidirectional, _) => true,
        (m, a) => m == a,
    }
}

/// Checks a sync of `[offset, offset+len)` in `asked` on an attachment of
/// a `size`-byte buffer whose mapping is `mapped` (`None`: not mapped).
/// `asked` is `None` for a value that is no direction.
pub fn check(
    offset: u64,
    len: u64,
    size: u64,
    mapped: Option<Direction>,
    asked: Option<Direction>,
) -> Result<(), Refusal> {
    let asked = match asked {
        Some(Direction::None) | None => return Err(Refusal::BadDirection),
        Some(d) => d,
    };
    if len == 0 {
        return Err(Refusal::Empty);
    }
    let end = offset.checked_add(len);
    if end.map_or(true, |e| e > size) {
        return Err(Refusal::OutOfRange { offset, end, size });
    }
    let mapped = mapped.ok_or(Refusal::NotMapped)?;
    if !allows(mapped, asked) {
        return Err(Refusal::Direction { mapped, asked });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use proptest::prelude::*;
    use std::string::ToString;
    use Direction::{Bidirectional, FromDevice, ToDevice};

    const BIDI: Option<Direction> = Some(Bidirectional);

    #[test]
    fn a_range_inside_a_mapped_buffer_passes() {
        assert_eq!(check(0, 4096, 8192, BIDI, Some(ToDevice)), Ok(()));
        assert_eq!(check(4096, 4096, 8192, BIDI, Some(FromDevice)), Ok(()));
        assert_eq!(check(8191, 1, 8192, BIDI, Some(Bidirectional)), Ok(()));
        assert_eq!(check(0, 1, 1, Some(ToDevice), Some(ToDevice)), Ok(()));
    }

    #[test]
    fn each_refusal_has_its_errno() {
        let r = |o, l, m, a| check(o, l, 8192, m, a).map_err(Refusal::errno);
        assert_eq!(r(0, 1, BIDI, None), Err(Errno::Inval));
        assert_eq!(r(0, 1, BIDI, Some(Direction::None)), Err(Errno::Inval));
        assert_eq!(r(0, 0, BIDI, Some(ToDevice)), Err(Errno::Inval));
        assert_eq!(r(4096, 4097, BIDI, Some(ToDevice)), Err(Errno::Range));
        assert_eq!(r(u64::MAX, 2, BIDI, Some(ToDevice)), Err(Errno::Range));
        assert_eq!(r(0, 4096, None, Some(ToDevice)), Err(Errno::NoMapping));
        assert_eq!(
            r(0, 4096, Some(ToDevice), Some(FromDevice)),
            Err(Errno::Access)
        );
        assert_eq!(
            r(0, 4096, Some(FromDevice), Some(Bidirectional)),
            Err(Errno::Access)
        );
    }

    #[test]
    fn the_range_is_checked_before_the_mapping() {
        // An importer learns that its range is wrong even while unmapped.
        assert!(matches!(
            check(8192, 1, 8192, None, Some(ToDevice)),
            Err(Refusal::OutOfRange { .. })
        ));
    }

    #[test]
    fn refusals_read_well() {
        let s = check(12288, 8192, 16384, BIDI, Some(ToDevice))
            .unwrap_err()
            .to_string();
        assert_eq!(s, "range 12288..20480 is outside the 16384-byte buffer");
        let s = check(0, 1, 1, Some(ToDevice), Some(FromDevice))
            .unwrap_err()
            .to_string();
        assert_eq!(
            s,
            "the attachment is mapped DMA_TO_DEVICE, which does not allow DMA_FROM_DEVICE"
        );
    }

    fn direction() -> impl Strategy<Value = Direction> {
        prop_oneof![
            Just(Bidirectional),
            Just(ToDevice),
            Just(FromDevice),
            Just(Direction::None)
        ]
    }

    proptest! {
        /// Only a non-empty range inside the buffer, on a mapping that
        /// allows the direction, is ever synced.
        #[test]
        fn passes_exactly_the_sound_syncs(
            offset in 0u64..20000,
            len in 0u64..20000,
            size in 1u64..20000,
            mapped in proptest::option::of(direction()),
            asked in proptest::option::of(direction()),
        ) {
            let sound = len > 0
                && offset + len <= size
                && asked.is_some_and(|a| a != Direction::None)
                && mapped.zip(asked).is_some_and(|(m, a)| allows(m, a));
            prop_assert_eq!(check(offset, len, size, mapped, asked).is_ok(), sound);
        }
    }
}
