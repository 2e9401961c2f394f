//! DMA-API misuse tracker: the state machine of kernel/dma/debug.c, plus
//! buffer ownership and attribute checks that debug.c lacks.
//!
//! A [`Tracker`] keeps one record per live mapping in a fixed-capacity
//! open-addressing table the caller allocates once ([`Slot`]s; size it for
//! the mappings it expects). Each operation returns the [`Findings`] it
//! detected; each [`Finding`] is a typed value whose `Display` is one short
//! log line. When the table is full the record is dropped, a
//! [`Finding::TableFull`] is reported once, and "not mapped" findings are
//! suppressed from then on (they could be false).
//!
//! Ownership: a streaming mapping made without `DMA_ATTR_SKIP_CPU_SYNC`
//! starts owned by the device, since the map did the cache maintenance that
//! hands it over. A mapping made with it starts owned by the CPU: no cache
//! maintenance has happened yet, and drivers (page_pool, igb) write parts of
//! the buffer before passing them on with `sync_for_device`.
//! `sync_for_cpu` hands a range to the CPU and `sync_for_device` to the
//! device; a CPU access to a part the device owns is a finding. A redundant
//! `sync_for_device` is not (kernel/dma/debug.c accepts it, and page_pool
//! does it when it recycles pages the CPU never read). Coherent mappings are
//! always shared.
//!
//! Ownership is kept per part: a mapping is cut into [`OWNER_PARTS`] equal
//! parts, and the rules below keep the parts marked device-owned a subset
//! of what the device really owns, so that correct use is never reported:
//!
//! | event                           | parts marked device-owned afterwards  |
//! |---------------------------------|---------------------------------------|
//! | map                             | all                                   |
//! | map with `SKIP_CPU_SYNC`        | none                                  |
//! | `sync_for_device` of a range    | as before, plus those wholly in range |
//! | `sync_for_cpu` of a range       | as before, minus those touching range |

use core::fmt;

use super::dma::Attrs;
pub use super::dma::Direction;

/// How a mapping was made (which API pair must undo it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    /// `dma_map_single`.
    Single,
    /// `dma_map_page`.
    Page,
    /// One DMA segment of `dma_map_sg`.
    Sg,
    /// `dma_map_resource`.
    Resource,
    /// `dma_alloc_coherent` / `dma_alloc_attrs`.
    Coherent,
}

impl MapKind {
    /// The kind's name, for log lines.
    pub fn name(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Page => "page",
            Self::Sg => "scatter-gather",
            Self::Resource => "resource",
            Self::Coherent => "coherent",
        }
    }
}

/// The attributes an unmap must repeat from its map, for [`Tracker::new`]:
/// all but `DMA_ATTR_SKIP_CPU_SYNC`, which the DMA API lets an unmap add or
/// leave out, and `DMA_ATTR_NO_WARN`, which only says how a failed map is
/// reported (NVMe maps with it and unmaps without).
pub const UNMAP_COMPARED_ATTRS: Attrs = Attrs::all()
    .difference(Attrs::SKIP_CPU_SYNC)
    .difference(Attrs::NO_WARN);

/// Parts a mapping is cut into for ownership tracking.
pub const OWNER_PARTS: u64 = 64;

/// A mapping as the caller describes it to `map` and `unmap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Device identity (any stable value, e.g. the `struct device` address).
    pub dev: u64,
    /// Device (bus) address.
    pub dev_addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// Which API made it.
    pub kind: MapKind,
    /// Direction.
    pub dir: Direction,
    /// Attributes.
    pub attrs: Attrs,
    /// For [`MapKind::Sg`]: the `nents` the caller passed (else 0).
    pub sg_nents: u32,
    /// CPU address (coherent: the returned virtual address; else the
    /// physical address), checked at coherent free.
    pub cpu_addr: u64,
}

/// Who may touch a streaming buffer now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The CPU (after `sync_for_cpu`, or a map with `SKIP_CPU_SYNC`).
    Cpu,
    /// The device, all of the buffer (after a map, or a `sync_for_device`
    /// of all of it).
    Device,
    /// The device part of the buffer, the CPU the rest (after syncs of
    /// parts of it).
    Split,
    /// Both (coherent memory).
    Shared,
}

/// A live record (opaque to the caller except through [`Tracker::get`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    map: Mapping,
    /// Bit `i` set: part `i` of the mapping is known to be device-owned.
    device_parts: u64,
    checked: bool,
}

impl Entry {
    /// The mapping recorded.
    pub fn mapping(&self) -> &Mapping {
        &self.map
    }

    /// The current owner.
    pub fn owner(&self) -> Owner {
        if self.map.kind == MapKind::Coherent {
            Owner::Shared
        } else if self.device_parts == 0 {
            Owner::Cpu
        } else if self.device_parts == parts::all(self.map.size) {
            Owner::Device
        } else {
            Owner::Split
        }
    }

    /// Who owns each part of the mapping, for display: one character per
    /// part, `D` for the device and `c` for the CPU (`s` throughout for
    /// coherent memory, which both share).
    pub fn parts(&self) -> PartOwners {
        PartOwners {
            device: self.device_parts,
            count: parts::all(self.map.size).count_ones(),
            shared: self.map.kind == MapKind::Coherent,
        }
    }
}

/// Who owns each part of a mapping ([`Entry::parts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartOwners {
    device: u64,
    count: u32,
    shared: bool,
}

impl fmt::Display for PartOwners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in 0..self.count {
            let c = if self.shared {
                's'
            } else if self.device & (1u64 << i) != 0 {
                'D'
            } else {
                'c'
            };
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// The ownership parts of a mapping: which of its [`OWNER_PARTS`] parts a
/// byte range covers. Ranges are offsets into the mapping, clipped to it.
mod parts {
    use super::OWNER_PARTS;

    /// Bytes per part of a mapping of `size` bytes (at least 1).
    fn part_size(size: u64) -> u64 {
        size.div_ceil(OWNER_PARTS).max(1)
    }

    /// Bits `[lo, hi)` of a part mask (`hi <= 64`).
    fn bits(lo: u64, hi: u64) -> u64 {
        let below = |n: u64| match n {
            0 => 0,
            1..=63 => (1u64 << n) - 1,
            _ => u64::MAX,
        };
        below(hi) & !below(lo)
    }

    /// Every part of a mapping of `size` bytes.
    pub(super) fn all(size: u64) -> u64 {
        bits(0, size.div_ceil(part_size(size)))
    }

    /// The part holding byte `off` (none past the end).
    pub(super) fn at(size: u64, off: u64) -> u64 {
        if off >= size {
            return 0;
        }
        let i = off / part_size(size);
        bits(i, i.saturating_add(1))
    }

    /// The parts wholly inside `[off, off+len)`.
    pub(super) fn within(size: u64, off: u64, len: u64) -> u64 {
        let ps = part_size(size);
        let end = off.saturating_add(len).min(size);
        if off >= end {
            return 0;
        }
        let last = if end == size {
            end.div_ceil(ps)
        } else {
            end / ps
        };
        bits(off.div_ceil(ps), last)
    }

    /// The parts sharing a byte with `[off, off+len)`.
    pub(super) fn touching(size: u64, off: u64, len: u64) -> u64 {
        let ps = part_size(size);
        let end = off.saturating_add(len).min(size);
        if off >= end {
            return 0;
        }
        bits(off / ps, end.div_ceil(ps))
    }
}

/// The parts the device owns right after a map.
fn owner_at_map(m: &Mapping) -> u64 {
    if m.kind == MapKind::Coherent || m.attrs.contains(Attrs::SKIP_CPU_SYNC) {
        0
    } else {
        parts::all(m.size)
    }
}

/// The parts the device owns after a sync of `[off, off+len)` of a mapping
/// of `size` bytes whose device-owned parts were `owned`.
fn owner_after_sync(owned: u64, size: u64, off: u64, len: u64, to_cpu: bool) -> u64 {
    if to_cpu {
        owned & !parts::touching(size, off, len)
    } else {
        owned | parts::within(size, off, len)
    }
}

/// A slot of the tracker's table.
pub type Slot = Option<Entry>;

/// One detected misuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    /// Unmap (or free) of an address that was never mapped.
    UnmapNotMapped {
        /// Device.
        dev: u64,
        /// Address passed.
        dev_addr: u64,
        /// Size passed.
        size: u64,
    },
    /// Unmap of an address that was just unmapped.
    DoubleUnmap {
        /// Device.
        dev: u64,
        /// Address passed.
        dev_addr: u64,
        /// Size passed.
        size: u64,
    },
    /// Unmap with a size other than the mapped one.
    SizeMismatch {
        /// Device.
        dev: u64,
        /// Address.
        dev_addr: u64,
        /// Size mapped.
        mapped: u64,
        /// Size passed to unmap.
        unmapped: u64,
    },
    /// Unmap with another direction.
    DirectionMismatch {
        /// Device.
        dev: u64,
        /// Address.
        dev_addr: u64,
        /// Direction mapped.
        mapped: Direction,
        /// Direction passed to unmap.
        unmapped: Direction,
    },
    /// Unmap through another API than the one that mapped.
    KindMismatch {
        /// Device.
        dev: u64,
        /// Address.
        dev_addr: u64,
        /// API that mapped.
        mapped: MapKind,
        /// API that unmapped.
        unmapped: MapKind,
    },
    /// `unmap_sg`/`sync_sg` with another `nents` than `map_sg` got.
    SgCountMismatch {
        /// Device.
        dev: u64,
        /// Address.
        dev_addr: u64,
        /// `nents` at map.
        mapped: u32,
        /// `nents` passed now.
        passed: u32,
    },
    /// Coherent free with another CPU address than the allocation's.
    CpuAddrMismatch {
        /// Device.
        dev: u64,
        /// Address.
        dev_addr: u64,
        /// CPU address of the allocation.
        mapped: u64,
        /// CPU address passed to free.
        freed: u64,
    },
    /// Unmap with other attributes than the map (beyond those allowed to
    /// differ).
    AttrsMismatch {
        /// Device.
        dev: u64,
        /// Address.
        dev_addr: u64,
        /// Attributes at map.
        mapped: Attrs,
        /// Attributes at unmap.
        unmapped: Attrs,
    },
    /// A mapping unmapped without `dma_mapping_error` ever being called.
    ErrorNotChecked {
        /// Device.
        dev: u64,
        /// Address.
        dev_addr: u64,
        /// Size.
        size: u64,
    },
    /// Map with `DMA_NONE`.
    InvalidDirection {
        /// Device.
        dev: u64,
        /// Address.
        dev_addr: u64,
    },
    /// Sync of memory that is not mapped.
    SyncNotMapped {
        /// Device.
        dev: u64,
        /// Address passed.
        dev_addr: u64,
        /// Size passed.
        size: u64,
    },
    /// Sync reaching outside the mapping.
    SyncOutOfRange {
        /// Device.
        dev: u64,
        /// Mapping address.
        dev_addr: u64,
        /// Mapping size.
        mapped: u64,
        /// Offset of the sync into the mapping.
        offset: u64,
        /// Size of the sync.
        size: u64,
    },
    /// Sync with another direction than the mapping's.
    SyncDirection {
        /// Device.
        dev: u64,
        /// Mapping address.
        dev_addr: u64,
        /// Direction mapped.
        mapped: Direction,
        /// Direction of the sync.
        synced: Direction,
    },
    /// CPU access to a part of the buffer the device owns.
    CpuAccessWhileDeviceOwned {
        /// Device.
        dev: u64,
        /// Mapping address.
        dev_addr: u64,
    },
    /// A mapping still live at teardown.
    Leak {
        /// Device.
        dev: u64,
        /// Address.
        dev_addr: u64,
        /// Size.
        size: u64,
        /// API that mapped it.
        kind: MapKind,
        /// Direction.
        dir: Direction,
    },
    /// The table is full: records are being dropped.
    TableFull {
        /// Device.
        dev: u64,
        /// Address that could not be recorded.
        dev_addr: u64,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UnmapNotMapped { dev_addr, size, .. } => {
                write!(f, "unmap of never-mapped memory [{dev_addr:#x}+{size:#x}]")
            }
            Self::DoubleUnmap { dev_addr, size, .. } => {
                write!(f, "double unmap of [{dev_addr:#x}+{size:#x}]")
            }
            Self::SizeMismatch { dev_addr, mapped, unmapped, .. } => write!(
                f,
                "unmap of {dev_addr:#x} with size {unmapped:#x}, mapped with size {mapped:#x}"
            ),
            Self::DirectionMismatch { dev_addr, mapped, unmapped, .. } => write!(
                f,
                "unmap of {dev_addr:#x} with {}, mapped with {}",
                unmapped.name(),
                mapped.name()
            ),
            Self::KindMismatch { dev_addr, mapped, unmapped, .. } => write!(
                f,
                "{dev_addr:#x} mapped as {} freed as {}",
                mapped.name(),
                unmapped.name()
            ),
            Self::SgCountMismatch { dev_addr, mapped, passed, .. } => write!(
                f,
                "sg at {dev_addr:#x} used with nents {passed}, mapped with {mapped}"
            ),
            Self::CpuAddrMismatch { dev_addr, mapped, freed, .. } => write!(
                f,
                "coherent free of {dev_addr:#x} with cpu address {freed:#x}, allocated at {mapped:#x}"
            ),
            Self::AttrsMismatch { dev_addr, mapped, unmapped, .. } => write!(
                f,
                "unmap of {dev_addr:#x} with attrs {unmapped}, mapped with {mapped}"
            ),
            Self::ErrorNotChecked { dev_addr, size, .. } => write!(
                f,
                "[{dev_addr:#x}+{size:#x}] unmapped, dma_mapping_error never checked"
            ),
            Self::InvalidDirection { dev_addr, .. } => {
                write!(f, "map of {dev_addr:#x} with DMA_NONE")
            }
            Self::SyncNotMapped { dev_addr, size, .. } => {
                write!(f, "sync of never-mapped memory [{dev_addr:#x}+{size:#x}]")
            }
            Self::SyncOutOfRange { dev_addr, mapped, offset, size, .. } => write!(
                f,
                "sync of [{offset:#x}+{size:#x}] outside mapping {dev_addr:#x} of size {mapped:#x}"
            ),
            Self::SyncDirection { dev_addr, mapped, synced, .. } => write!(
                f,
                "sync of {dev_addr:#x} with {}, mapped with {}",
                synced.name(),
                mapped.name()
            ),
            Self::CpuAccessWhileDeviceOwned { dev_addr, .. } => {
                write!(f, "cpu access to {dev_addr:#x} while the device owns it")
            }
            Self::Leak { dev_addr, size, kind, dir, .. } => write!(
                f,
                "leaked {} mapping [{dev_addr:#x}+{size:#x}] {}",
                kind.name(),
                dir.name()
            ),
            Self::TableFull { dev_addr, .. } => {
                write!(f, "tracker full, {dev_addr:#x} not tracked; tracking degraded")
            }
        }
    }
}

/// Most findings one operation reports.
pub const MAX_FINDINGS: usize = 6;

/// The findings of one operation (empty when the use was correct).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Findings {
    items: [Option<Finding>; MAX_FINDINGS],
    len: usize,
}

impl Findings {
    fn push(&mut self, f: Finding) {
        if let Some(s) = self.items.get_mut(self.len) {
            *s = Some(f);
            self.len += 1;
        }
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of findings.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The findings, in detection order.
    pub fn iter(&self) -> impl Iterator<Item = &Finding> + '_ {
        self.items.iter().flatten()
    }
}

const RECENT: usize = 32;

/// The tracker over a caller-provided table `S` of [`Slot`]s (all `None`).
pub struct Tracker<S> {
    table: S,
    live: usize,
    compared_attrs: Attrs,
    overflowed: bool,
    recent: [(u64, u64); RECENT],
    recent_next: usize,
}

fn hash(dev: u64, addr: u64) -> u64 {
    (addr ^ dev.rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>> Tracker<S> {
    /// A tracker using `table` (cleared). Unmaps must repeat the map's
    /// attributes among `compared_attrs` (usually
    /// [`UNMAP_COMPARED_ATTRS`]).
    pub fn new(mut table: S, compared_attrs: Attrs) -> Self {
        table.as_mut().fill(None);
        Tracker {
            table,
            live: 0,
            compared_attrs,
            overflowed: false,
            recent: [(u64::MAX, u64::MAX); RECENT],
            recent_next: 0,
        }
    }

    /// Live records.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Whether records were dropped because the table was full.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    fn cap(&self) -> usize {
        self.table.as_ref().len()
    }

    fn home(&self, dev: u64, addr: u64) -> usize {
        match self.cap() {
            0 => 0,
            c => (hash(dev, addr) % c as u64) as usize,
        }
    }

    /// Index of the best record for `(dev, addr)`: exact address, preferring
    /// one whose size and kind match `want`.
    fn find_exact(&self, dev: u64, addr: u64, want: Option<(u64, MapKind)>) -> Option<usize> {
        let cap = self.cap();
        let t = self.table.as_ref();
        let mut i = self.home(dev, addr);
        let mut first = None;
        for _ in 0..cap {
            let Some(Some(e)) = t.get(i) else {
                break;
            };
            if e.map.dev == dev && e.map.dev_addr == addr {
                match want {
                    Some((size, kind)) if e.map.size == size && e.map.kind == kind => {
                        return Some(i)
                    }
                    None => return Some(i),
                    _ => first = first.or(Some(i)),
                }
            }
            i = (i + 1) % cap;
        }
        first
    }

    /// Index of a record of `dev` containing `addr` (exact first, then a
    /// scan of the table).
    fn find_containing(&self, dev: u64, addr: u64) -> Option<usize> {
        if let Some(i) = self.find_exact(dev, addr, None) {
            return Some(i);
        }
        self.table.as_ref().iter().position(|s| {
            s.as_ref().is_some_and(|e| {
                e.map.dev == dev && addr >= e.map.dev_addr && addr - e.map.dev_addr < e.map.size
            })
        })
    }

    /// Removes slot `i`, shifting later probe-chain members back.
    fn remove_at(&mut self, i: usize) -> Option<Entry> {
        let cap = self.cap();
        let removed = self.table.as_mut().get_mut(i)?.take()?;
        self.live -= 1;
        let mut hole = i;
        let mut j = (i + 1) % cap;
        while let Some(Some(e)) = self.table.as_ref().get(j).copied() {
            let h = self.home(e.map.dev, e.map.dev_addr);
            // Move e into the hole if its home is not in (hole, j].
            let between = if hole <= j {
                h > hole && h <= j
            } else {
                h > hole || h <= j
            };
            if !between {
                let t = self.table.as_mut();
                if let Some(s) = t.get_mut(hole) {
                    *s = Some(e);
                }
                if let Some(s) = t.get_mut(j) {
                    *s = None;
                }
                hole = j;
            }
            j = (j + 1) % cap;
        }
        Some(removed)
    }

    /// Records a new mapping (call after a successful map or allocation).
    pub fn map(&mut self, m: Mapping) -> Findings {
        let mut out = Findings::default();
        if m.dir == Direction::None && m.kind != MapKind::Coherent {
            out.push(Finding::InvalidDirection {
                dev: m.dev,
                dev_addr: m.dev_addr,
            });
        }
        let cap = self.cap();
        // Keep one slot free so that probes always end.
        if self.live + 1 >= cap {
            if !self.overflowed {
                out.push(Finding::TableFull {
                    dev: m.dev,
                    dev_addr: m.dev_addr,
                });
            }
            self.overflowed = true;
            return out;
        }
        let device_parts = owner_at_map(&m);
        let checked = !matches!(m.kind, MapKind::Single | MapKind::Page);
        let mut i = self.home(m.dev, m.dev_addr);
        for _ in 0..cap {
            if let Some(s) = self.table.as_mut().get_mut(i) {
                if s.is_none() {
                    *s = Some(Entry {
                        map: m,
                        device_parts,
                        checked,
                    });
                    self.live += 1;
                    break;
                }
            }
            i = (i + 1) % cap;
        }
        out
    }

    /// Notes that the driver called `dma_mapping_error` on `dev_addr`.
    pub fn mapping_error_checked(&mut self, dev: u64, dev_addr: u64) {
        if let Some(i) = self.find_exact(dev, dev_addr, None) {
            if let Some(Some(e)) = self.table.as_mut().get_mut(i) {
                e.checked = true;
            }
        }
    }

    /// Checks and removes the record of an unmap (or coherent free)
    /// described by `m`.
    pub fn unmap(&mut self, m: Mapping) -> Findings {
        let mut out = Findings::default();
        let Some(i) = self.find_exact(m.dev, m.dev_addr, Some((m.size, m.kind))) else {
            if !self.overflowed {
                let recent = self.recent.contains(&(m.dev, m.dev_addr));
                out.push(if recent {
                    Finding::DoubleUnmap {
                        dev: m.dev,
                        dev_addr: m.dev_addr,
                        size: m.size,
                    }
                } else {
                    Finding::UnmapNotMapped {
                        dev: m.dev,
                        dev_addr: m.dev_addr,
                        size: m.size,
                    }
                });
            }
            return out;
        };
        let Some(e) = self.remove_at(i) else {
            return out;
        };
        if let Some(r) = self.recent.get_mut(self.recent_next) {
            *r = (m.dev, m.dev_addr);
        }
        self.recent_next = (self.recent_next + 1) % RECENT;
        let (dev, dev_addr) = (m.dev, m.dev_addr);
        let r = e.map;
        if r.size != m.size {
            out.push(Finding::SizeMismatch {
                dev,
                dev_addr,
                mapped: r.size,
                unmapped: m.size,
            });
        }
        if r.kind != m.kind {
            out.push(Finding::KindMismatch {
                dev,
                dev_addr,
                mapped: r.kind,
                unmapped: m.kind,
            });
        }
        if r.dir != m.dir {
            out.push(Finding::DirectionMismatch {
                dev,
                dev_addr,
                mapped: r.dir,
                unmapped: m.dir,
            });
        }
        if r.kind == MapKind::Sg && m.kind == MapKind::Sg && r.sg_nents != m.sg_nents {
            out.push(Finding::SgCountMismatch {
                dev,
                dev_addr,
                mapped: r.sg_nents,
                passed: m.sg_nents,
            });
        }
        if r.kind == MapKind::Coherent && m.kind == MapKind::Coherent && r.cpu_addr != m.cpu_addr {
            out.push(Finding::CpuAddrMismatch {
                dev,
                dev_addr,
                mapped: r.cpu_addr,
                freed: m.cpu_addr,
            });
        }
        let differ = r
            .attrs
            .union(m.attrs)
            .difference(r.attrs.intersection(m.attrs));
        if !differ.intersection(self.compared_attrs).is_empty() {
            out.push(Finding::AttrsMismatch {
                dev,
                dev_addr,
                mapped: r.attrs,
                unmapped: m.attrs,
            });
        }
        if !e.checked {
            out.push(Finding::ErrorNotChecked {
                dev,
                dev_addr,
                size: r.size,
            });
        }
        out
    }

    fn sync(
        &mut self,
        dev: u64,
        addr: u64,
        size: u64,
        dir: Direction,
        sg_nents: Option<u32>,
        to_cpu: bool,
    ) -> Findings {
        let mut out = Findings::default();
        let Some(i) = self.find_containing(dev, addr) else {
            if !self.overflowed {
                out.push(Finding::SyncNotMapped {
                    dev,
                    dev_addr: addr,
                    size,
                });
            }
            return out;
        };
        let Some(Some(e)) = self.table.as_mut().get_mut(i) else {
            return out;
        };
        let r = e.map;
        let offset = addr - r.dev_addr;
        if offset.checked_add(size).map_or(true, |end| end > r.size) {
            out.push(Finding::SyncOutOfRange {
                dev,
                dev_addr: r.dev_addr,
                mapped: r.size,
                offset,
                size,
            });
        }
        if r.dir != Direction::Bidirectional && r.dir != dir {
            out.push(Finding::SyncDirection {
                dev,
                dev_addr: r.dev_addr,
                mapped: r.dir,
                synced: dir,
            });
        }
        if let Some(n) = sg_nents {
            if r.kind == MapKind::Sg && r.sg_nents != n {
                out.push(Finding::SgCountMismatch {
                    dev,
                    dev_addr: r.dev_addr,
                    mapped: r.sg_nents,
                    passed: n,
                });
            }
        }
        if r.kind != MapKind::Coherent {
            e.device_parts = owner_after_sync(e.device_parts, r.size, offset, size, to_cpu);
        }
        out
    }

    /// `sync_*_for_cpu` of `[dev_addr, dev_addr+size)` (the address may lie
    /// inside a mapping); `sg_nents` for `sync_sg`. Hands the range to the
    /// CPU.
    pub fn sync_for_cpu(
        &mut self,
        dev: u64,
        dev_addr: u64,
        size: u64,
        dir: Direction,
        sg_nents: Option<u32>,
    ) -> Findings {
        self.sync(dev, dev_addr, size, dir, sg_nents, true)
    }

    /// `sync_*_for_device` of `[dev_addr, dev_addr+size)`; hands the range
    /// to the device. Syncing a range the device already owns is allowed.
    pub fn sync_for_device(
        &mut self,
        dev: u64,
        dev_addr: u64,
        size: u64,
        dir: Direction,
        sg_nents: Option<u32>,
    ) -> Findings {
        self.sync(dev, dev_addr, size, dir, sg_nents, false)
    }

    /// A CPU access to the byte at `dev_addr` of a mapping (its start or
    /// anywhere inside it).
    pub fn cpu_access(&mut self, dev: u64, dev_addr: u64) -> Findings {
        let mut out = Findings::default();
        if let Some(i) = self.find_containing(dev, dev_addr) {
            if let Some(Some(e)) = self.table.as_ref().get(i) {
                let off = dev_addr.saturating_sub(e.map.dev_addr);
                if e.device_parts & parts::at(e.map.size, off) != 0 {
                    out.push(Finding::CpuAccessWhileDeviceOwned {
                        dev,
                        dev_addr: e.map.dev_addr,
                    });
                }
            }
        }
        out
    }

    /// The record of `(dev, dev_addr)`, if live.
    pub fn get(&self, dev: u64, dev_addr: u64) -> Option<&Entry> {
        let i = self.find_exact(dev, dev_addr, None)?;
        self.table.as_ref().get(i)?.as_ref()
    }

    /// The live records of `dev`, in table order.
    pub fn entries(&self, dev: u64) -> impl Iterator<Item = &Entry> + '_ {
        self.table
            .as_ref()
            .iter()
            .flatten()
            .filter(move |e| e.map.dev == dev)
    }

    /// The leaks of `dev` (its live mappings), e.g. at driver unbind.
    pub fn leaks(&self, dev: u64) -> impl Iterator<Item = Finding> + '_ {
        self.table
            .as_ref()
            .iter()
            .flatten()
            .filter(move |e| e.map.dev == dev)
            .map(|e| Finding::Leak {
                dev: e.map.dev,
                dev_addr: e.map.dev_addr,
                size: e.map.size,
                kind: e.map.kind,
                dir: e.map.dir,
            })
    }

    /// Drops every record of `dev` (after reporting [`Tracker::leaks`]);
    /// returns how many.
    pub fn forget(&mut self, dev: u64) -> usize {
        let mut n = 0;
        for i in 0..self.cap() {
            while self
                .table
                .as_ref()
                .get(i)
                .is_some_and(|s| s.is_some_and(|e| e.map.dev == dev))
            {
                if self.remove_at(i).is_none() {
                    break;
                }
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests;
