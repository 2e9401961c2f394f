//! Cache maintenance decisions for streaming DMA.
//!
//! A device that is not cache-coherent sees memory, not the CPU's caches:
//! before it reads a buffer, dirty lines must be written back (clean);
//! after it wrote one, the CPU's stale lines must be discarded (invalidate)
//! before the CPU reads. Which operation each ownership transfer needs
//! depends only on coherency, the direction, the phase and
//! `DMA_ATTR_SKIP_CPU_SYNC`; this module is that table, kept apart from the
//! code that carries it out so that it can be tested on the host.
//!
//! For a device that is not coherent:
//!
//! | phase                  | `ToDevice` | `FromDevice` | `Bidirectional` |
//! |------------------------|------------|--------------|-----------------|
//! | map, `sync_for_device` | clean      | clean        | clean           |
//! | unmap, `sync_for_cpu`  | -          | invalidate   | invalidate      |
//!
//! A coherent device needs nothing, and neither does `DMA_NONE`. Map and
//! unmap skip the operation when the mapping carries
//! `DMA_ATTR_SKIP_CPU_SYNC`; the syncs never do.

use super::dma::{Attrs, Direction};

/// A cache maintenance operation over a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOp {
    /// Write dirty lines back to memory.
    Clean,
    /// Discard lines (the architecture cleans partial lines at the edges).
    Invalidate,
    /// Write back, then discard.
    CleanInvalidate,
}

/// What to do when a buffer passes to the device (`map`,
/// `sync_for_device`).
///
/// Any direction needs a clean: for `ToDevice` and `Bidirectional` the
/// device must read what the CPU wrote, and for `FromDevice` no dirty line
/// may later be evicted on top of what the device writes.
pub fn for_device(coherent: bool, dir: Direction) -> Option<CacheOp> {
    if coherent {
        return None;
    }
    match dir {
        Direction::ToDevice | Direction::Bidirectional | Direction::FromDevice => {
            Some(CacheOp::Clean)
        }
        Direction::None => None,
    }
}

/// What to do when a buffer passes back to the CPU (`unmap`,
/// `sync_for_cpu`).
///
/// Only a device that may have written (`FromDevice`, `Bidirectional`)
/// leaves stale lines to discard; lines the CPU may have speculatively
/// loaded while the device owned the buffer are discarded too.
pub fn for_cpu(coherent: bool, dir: Direction) -> Option<CacheOp> {
    if coherent {
        return None;
    }
    match dir {
        Direction::FromDevice | Direction::Bidirectional => Some(CacheOp::Invalidate),
        Direction::ToDevice | Direction::None => None,
    }
}

/// What `map` does: [`for_device`], unless `attrs` has
/// `DMA_ATTR_SKIP_CPU_SYNC`.
pub fn for_map(coherent: bool, dir: Direction, attrs: Attrs) -> Option<CacheOp> {
    if attrs.contains(Attrs::SKIP_CPU_SYNC) {
        return None;
    }
    for_device(coherent, dir)
}

/// What `unmap` does: [`for_cpu`], unless `attrs` has
/// `DMA_ATTR_SKIP_CPU_SYNC`.
pub fn for_unmap(coherent: bool, dir: Direction, attrs: Attrs) -> Option<CacheOp> {
    if attrs.contains(Attrs::SKIP_CPU_SYNC) {
        return None;
    }
    for_cpu(coherent, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIRS: [Direction; 4] = [
        Direction::Bidirectional,
        Direction::ToDevice,
        Direction::FromDevice,
        Direction::None,
    ];

    #[test]
    fn coherent_devices_need_nothing() {
        for d in DIRS {
            assert_eq!(for_device(true, d), None);
            assert_eq!(for_cpu(true, d), None);
        }
    }

    #[test]
    fn non_coherent_table() {
        use CacheOp::*;
        let table = [
            (Direction::ToDevice, Some(Clean), None),
            (Direction::FromDevice, Some(Clean), Some(Invalidate)),
            (Direction::Bidirectional, Some(Clean), Some(Invalidate)),
            (Direction::None, None, None),
        ];
        for (d, dev, cpu) in table {
            assert_eq!(for_device(false, d), dev, "for_device {d:?}");
            assert_eq!(for_cpu(false, d), cpu, "for_cpu {d:?}");
        }
    }

    #[test]
    fn skip_cpu_sync_skips_map_and_unmap_only() {
        let skip = Attrs::SKIP_CPU_SYNC.union(Attrs::WEAK_ORDERING);
        let other = Attrs::WEAK_ORDERING.union(Attrs::NO_WARN);
        for coherent in [false, true] {
            for d in DIRS {
                assert_eq!(for_map(coherent, d, skip), None);
                assert_eq!(for_unmap(coherent, d, skip), None);
                assert_eq!(for_map(coherent, d, other), for_device(coherent, d));
                assert_eq!(for_unmap(coherent, d, other), for_cpu(coherent, d));
            }
        }
    }

    #[test]
    fn device_written_buffers_are_invalidated_before_the_cpu_reads() {
        // Whatever the device may write, the CPU must not read stale lines.
        for d in [Direction::FromDevice, Direction::Bidirectional] {
            assert!(matches!(
                for_cpu(false, d),
                Some(CacheOp::Invalidate | CacheOp::CleanInvalidate)
            ));
        }
    }

    #[test]
    fn cpu_writes_reach_memory_before_the_device_reads() {
        for d in [Direction::ToDevice, Direction::Bidirectional] {
            assert!(matches!(
                for_device(false, d),
                Some(CacheOp::Clean | CacheOp::CleanInvalidate)
            ));
        }
    }
}
