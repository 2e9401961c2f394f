//! The CPU-access brackets open on an exported buffer (`begin_cpu_access`
//! ... `end_cpu_access`, whole or over a byte range).
//!
//! An end must close a bracket that was begun with the same range and
//! direction; anything else is refused before any cache work is done, so a
//! stray end never hands memory to a device behind a CPU that is still
//! writing it. Brackets nest: the same range and direction may be begun
//! again before it ends, and needs as many ends. A buffer holds at most
//! [`MAX_OPEN`] distinct brackets at a time.

use core::fmt;

use super::dma::Direction;

/// Most distinct brackets open on one buffer.
pub const MAX_OPEN: usize = 16;

/// One bracket: bytes `[offset, offset+len)` accessed in direction `dir`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// First byte.
    pub offset: u64,
    /// Bytes.
    pub len: u64,
    /// The direction given at begin (and end).
    pub dir: Direction,
}

/// Why a begin or end is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessError {
    /// An end with no open bracket of that range and direction.
    NotBegun(Access),
    /// [`MAX_OPEN`] distinct brackets are open already.
    TooMany,
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotBegun(a) => write!(
                f,
                "end of a CPU access to {}+{} ({}) that was never begun",
                a.offset, a.len, a.dir
            ),
            Self::TooMany => write!(f, "{MAX_OPEN} CPU accesses are open already"),
        }
    }
}

/// The open brackets of a buffer.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuAccess {
    open: [Option<(Access, u32)>; MAX_OPEN],
}

impl CpuAccess {
    /// No bracket open.
    pub const fn new() -> Self {
        Self {
            open: [None; MAX_OPEN],
        }
    }

    /// Opens (or nests) a bracket.
    pub fn begin(&mut self, a: Access) -> Result<(), AccessError> {
        if let Some((_, n)) = self.open.iter_mut().flatten().find(|(o, _)| *o == a) {
            *n = n.checked_add(1).ok_or(AccessError::TooMany)?;
            return Ok(());
        }
        let slot = self
            .open
            .iter_mut()
            .find(|s| s.is_none())
            .ok_or(AccessError::TooMany)?;
        *slot = Some((a, 1));
        Ok(())
    }

    /// Closes a bracket [`CpuAccess::begin`] opened.
    pub fn end(&mut self, a: Access) -> Result<(), AccessError> {
        let slot = self
            .open
            .iter_mut()
            .find(|s| matches!(s, Some((o, _)) if *o == a))
            .ok_or(AccessError::NotBegun(a))?;
        match slot {
            Some((_, n)) if *n > 1 => *n -= 1,
            _ => *slot = None,
        }
        Ok(())
    }

    /// Brackets open, counting nested ones.
    pub fn open(&self) -> u64 {
        self.open.iter().flatten().map(|&(_, n)| u64::from(n)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::ToString;
    use std::vec::Vec;

    fn acc(offset: u64, len: u64, dir: Direction) -> Access {
        Access { offset, len, dir }
    }

    #[test]
    fn end_without_begin_is_refused() {
        let mut c = CpuAccess::new();
        let a = acc(0, 4096, Direction::FromDevice);
        assert_eq!(c.end(a), Err(AccessError::NotBegun(a)));
        c.begin(a).unwrap();
        // Another range or direction does not close it.
        assert!(c.end(acc(0, 4096, Direction::ToDevice)).is_err());
        assert!(c.end(acc(0, 2048, Direction::FromDevice)).is_err());
        assert_eq!(c.end(a), Ok(()));
        assert!(c.end(a).is_err());
        assert_eq!(c.open(), 0);
        assert!(AccessError::NotBegun(a).to_string().contains("never begun"));
    }

    #[test]
    fn nesting_and_capacity() {
        let mut c = CpuAccess::new();
        let a = acc(0, 1, Direction::Bidirectional);
        c.begin(a).unwrap();
        c.begin(a).unwrap();
        assert_eq!(c.open(), 2);
        for i in 1..MAX_OPEN as u64 {
            c.begin(acc(i, 1, Direction::ToDevice)).unwrap();
        }
        assert_eq!(
            c.begin(acc(99, 1, Direction::ToDevice)),
            Err(AccessError::TooMany)
        );
        // Nesting an open one still works when full.
        c.begin(a).unwrap();
        c.end(a).unwrap();
        c.end(a).unwrap();
        c.end(a).unwrap();
        assert!(c.end(a).is_err());
        c.begin(acc(99, 1, Direction::ToDevice)).unwrap();
    }

    proptest! {
        /// Against a model (a multiset of brackets): an end succeeds exactly
        /// when a matching begin is outstanding.
        #[test]
        fn matches_model(ops in proptest::collection::vec((any::<bool>(), 0u64..4, 0u8..3), 0..200)) {
            let dirs = [Direction::ToDevice, Direction::FromDevice, Direction::Bidirectional];
            let mut c = CpuAccess::new();
            let mut model: Vec<Access> = Vec::new();
            for (begin, off, d) in ops {
                let a = acc(off, 8, dirs[d as usize]);
                if begin {
                    prop_assert!(c.begin(a).is_ok());
                    model.push(a);
                } else {
                    let pos = model.iter().position(|m| *m == a);
                    prop_assert_eq!(c.end(a).is_ok(), pos.is_some());
                    if let Some(p) = pos {
                        model.swap_remove(p);
                    }
                }
                prop_assert_eq!(c.open(), model.len() as u64);
            }
        }
    }
}
