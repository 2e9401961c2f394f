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
//! Ownership: a streaming mapping starts device-owned; `sync_for_cpu` hands
//! it to the CPU and `sync_for_device` back. A CPU access while the device
//! owns the buffer, and `sync_for_device` while it already does, are
//! findings. Coherent mappings are always shared.

use core::fmt;

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
    fn name(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Page => "page",
            Self::Sg => "scatter-gather",
            Self::Resource => "resource",
            Self::Coherent => "coherent",
        }
    }
}

/// DMA data direction (`enum dma_data_direction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    fn name(self) -> &'static str {
        match self {
            Self::Bidirectional => "DMA_BIDIRECTIONAL",
            Self::ToDevice => "DMA_TO_DEVICE",
            Self::FromDevice => "DMA_FROM_DEVICE",
            Self::None => "DMA_NONE",
        }
    }
}

/// `DMA_ATTR_SKIP_CPU_SYNC`: legitimately differs between map and unmap.
pub const ATTR_SKIP_CPU_SYNC: u64 = 1 << 5;

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
    /// `DMA_ATTR_*` bits.
    pub attrs: u64,
    /// For [`MapKind::Sg`]: the `nents` the caller passed (else 0).
    pub sg_nents: u32,
    /// CPU address (coherent: the returned virtual address; else the
    /// physical address), checked at coherent free.
    pub cpu_addr: u64,
}

/// Who may touch a streaming buffer now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The CPU (after `sync_for_cpu`).
    Cpu,
    /// The device (after map or `sync_for_device`).
    Device,
    /// Both (coherent memory).
    Shared,
}

/// A live record (opaque to the caller except through [`Tracker::get`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    map: Mapping,
    owner: Owner,
    checked: bool,
}

impl Entry {
    /// The mapping recorded.
    pub fn mapping(&self) -> &Mapping {
        &self.map
    }

    /// The current owner.
    pub fn owner(&self) -> Owner {
        self.owner
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
        mapped: u64,
        /// Attributes at unmap.
        unmapped: u64,
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
    /// `sync_for_device` while the device already owns the buffer.
    SyncForDeviceWhileDeviceOwned {
        /// Device.
        dev: u64,
        /// Mapping address.
        dev_addr: u64,
    },
    /// CPU access while the device owns the buffer.
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
                "unmap of {dev_addr:#x} with attrs {unmapped:#x}, mapped with {mapped:#x}"
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
            Self::SyncForDeviceWhileDeviceOwned { dev_addr, .. } => write!(
                f,
                "sync_for_device of {dev_addr:#x} already owned by the device"
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
    attrs_mask: u64,
    overflowed: bool,
    recent: [(u64, u64); RECENT],
    recent_next: usize,
}

fn hash(dev: u64, addr: u64) -> u64 {
    (addr ^ dev.rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>> Tracker<S> {
    /// A tracker using `table` (cleared). Unmaps must match the map's
    /// attributes on the bits of `attrs_mask` (e.g. `!ATTR_SKIP_CPU_SYNC`).
    pub fn new(mut table: S, attrs_mask: u64) -> Self {
        table.as_mut().fill(None);
        Tracker {
            table,
            live: 0,
            attrs_mask,
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
        let owner = if m.kind == MapKind::Coherent {
            Owner::Shared
        } else {
            Owner::Device
        };
        let checked = !matches!(m.kind, MapKind::Single | MapKind::Page);
        let mut i = self.home(m.dev, m.dev_addr);
        for _ in 0..cap {
            if let Some(s) = self.table.as_mut().get_mut(i) {
                if s.is_none() {
                    *s = Some(Entry {
                        map: m,
                        owner,
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
        if (r.attrs ^ m.attrs) & self.attrs_mask != 0 {
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
        if e.owner != Owner::Shared {
            if !to_cpu && e.owner == Owner::Device {
                out.push(Finding::SyncForDeviceWhileDeviceOwned {
                    dev,
                    dev_addr: r.dev_addr,
                });
            }
            e.owner = if to_cpu { Owner::Cpu } else { Owner::Device };
        }
        out
    }

    /// `sync_*_for_cpu` of `[dev_addr, dev_addr+size)` (the address may lie
    /// inside a mapping); `sg_nents` for `sync_sg`. Hands the buffer to the
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

    /// `sync_*_for_device`; hands the buffer to the device.
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

    /// A CPU access to the buffer mapped at (or containing) `dev_addr`.
    pub fn cpu_access(&mut self, dev: u64, dev_addr: u64) -> Findings {
        let mut out = Findings::default();
        if let Some(i) = self.find_containing(dev, dev_addr) {
            if let Some(Some(e)) = self.table.as_ref().get(i) {
                if e.owner == Owner::Device {
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
