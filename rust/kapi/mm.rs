// SPDX-License-Identifier: GPL-2.0

//! Memory management: user mappings of page runs, and where physical
//! memory lies in the kernel's resource tree.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h)

use super::{bindings, dma_ops::Vma, page::PageRuns, page::PAGE_SIZE};
use crate::rsdma_core::span;
use kernel::error::{code::*, to_result, Result};
use kernel::sync::{Arc, ArcBorrow};

impl Vma {
    /// The start of the user range.
    fn start(&self) -> u64 {
        // SAFETY: the VMA is live while it is being set up; reading the
        // plain field of the anonymous union.
        unsafe { (*self.as_raw()).__bindgen_anon_1.__bindgen_anon_1.vm_start }
    }

    /// Makes the mapping write-combined; call before mapping any page.
    pub fn set_write_combine(&self) {
        // SAFETY: the VMA is live and being set up under the mmap lock.
        unsafe { bindings::rsdma_helper_vma_set_writecombine(self.as_raw()) };
    }

    /// Maps the buffer `runs` from byte `offset` (page aligned) into the
    /// whole user range, which must lie inside the buffer.  The mapping
    /// keeps a reference to `runs` (and each copy of it, after a fork or a
    /// split, another) until it is unmapped.
    pub fn map_runs(&self, runs: Arc<PageRuns>, offset: usize) -> Result {
        let len = self.len();
        if offset % PAGE_SIZE != 0 || len % PAGE_SIZE != 0 {
            return Err(EINVAL);
        }
        let mut lens = kernel::alloc::KVec::new();
        let mut phys = kernel::alloc::KVec::new();
        for (p, n) in runs.runs() {
            lens.push(n as u64, kernel::alloc::flags::GFP_KERNEL)?;
            phys.push(p, kernel::alloc::flags::GFP_KERNEL)?;
        }
        let pieces = span::pieces(&lens, &lens, offset as u64, len as u64).map_err(|_| EINVAL)?;
        let (v, start) = (self.as_raw(), self.start());
        for p in pieces {
            let at = phys
                .get(p.a.0)
                .and_then(|a| a.checked_add(p.a.1))
                .ok_or(EINVAL)?;
            let user = start.checked_add(p.at - offset as u64).ok_or(EINVAL)?;
            // SAFETY: the VMA is being set up under the mmap lock;
            // `user..user + p.len` lies inside it (the pieces tile
            // `[offset, offset + len)`); `at..at + p.len` is memory of
            // `runs`, kept alive by the reference stored below for as long
            // as the pages are mapped.
            to_result(unsafe {
                bindings::remap_pfn_range(
                    v,
                    user,
                    (at >> bindings::RSDMA_PAGE_SHIFT) as _,
                    p.len,
                    (*v).vm_page_prot,
                )
            })?;
        }
        // SAFETY: the VMA is being set up; from here on the VM calls
        // `vm_open` for every copy and `vm_close` for every removal.
        unsafe {
            (*v).vm_private_data = Arc::into_raw(runs).cast_mut().cast();
            (*v).vm_ops = &VM_OPS;
        }
        Ok(())
    }
}

const VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
    open: Some(vm_open),
    close: Some(vm_close),
    // SAFETY: all-zero is a valid `vm_operations_struct` (no callbacks).
    ..unsafe { core::mem::zeroed() }
};

/// A copy of a mapping `Vma::map_runs` set up: one more reference.
///
/// # Safety
///
/// Called by the VM with a VMA copied from one `map_runs` set up.
unsafe extern "C" fn vm_open(vma: *mut bindings::vm_area_struct) {
    // SAFETY: `vm_private_data` holds a reference taken by `map_runs` (or
    // an earlier `vm_open`) for the VMA this one was copied from, alive
    // while that VMA exists, which it does during the copy.
    let runs =
        unsafe { ArcBorrow::from_raw((*vma).vm_private_data.cast::<PageRuns>().cast_const()) };
    // The copy's own reference, given back by its `vm_close`.
    let _ = Arc::into_raw(Arc::from(runs));
}

/// A mapping goes away: its reference goes with it.
///
/// # Safety
///
/// Called by the VM once per VMA `map_runs` or `vm_open` set up.
unsafe extern "C" fn vm_close(vma: *mut bindings::vm_area_struct) {
    // SAFETY: the reference this VMA held, given back once.
    drop(unsafe { Arc::from_raw((*vma).vm_private_data.cast::<PageRuns>().cast_const()) });
}

/// How a physical range relates to the System RAM the kernel manages
/// (`region_intersects`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ram {
    /// No byte of it is System RAM: device memory, or memory reserved
    /// `no-map` and kept out of the kernel's linear map.
    None,
    /// All of it is System RAM.
    All,
    /// Part of it is.
    Part,
}

/// How `len` bytes at `phys` relate to System RAM.
pub fn system_ram(phys: u64, len: usize) -> Ram {
    // SAFETY: a lookup in the resource tree; any range is a valid argument.
    let r = unsafe {
        bindings::region_intersects(
            phys,
            len,
            bindings::RSDMA_IORESOURCE_SYSTEM_RAM,
            bindings::RSDMA_IORES_DESC_NONE,
        )
    };
    match r {
        bindings::RSDMA_REGION_DISJOINT => Ram::None,
        bindings::RSDMA_REGION_INTERSECTS => Ram::All,
        _ => Ram::Part,
    }
}
