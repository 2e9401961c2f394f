// SPDX-License-Identifier: GPL-2.0

//! The live attachments of every exported buffer, for debugfs: which
//! device imports which buffer, how it is mapped, and what was synced on
//! each attachment.

use crate::dmabuf::importer::Importer;
use core::fmt::Write;
use core::sync::atomic::Ordering::Relaxed;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// Most attachments listed (the counts cover all of them).
const SHOWN: usize = 64;

/// Every live attachment of rsdma's buffers.
#[pin_data]
pub(crate) struct Registry {
    /// A slot is `None` once its attachment went.
    #[pin]
    importers: Mutex<KVec<Option<Arc<Importer>>>>,
}

impl Registry {
    /// An empty registry.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            importers <- new_mutex!(KVec::new(), "Registry::importers"),
        })
    }

    /// Lists `imp` until [`Registry::remove`].
    pub(crate) fn add(&self, imp: Arc<Importer>) -> Result {
        let mut list = self.importers.lock();
        match list.iter_mut().find(|s| s.is_none()) {
            Some(slot) => *slot = Some(imp),
            None => list.push(Some(imp), GFP_KERNEL)?,
        }
        Ok(())
    }

    /// Forgets `imp`.
    pub(crate) fn remove(&self, imp: &Arc<Importer>) {
        let mut list = self.importers.lock();
        if let Some(slot) = list
            .iter_mut()
            .find(|s| s.as_ref().is_some_and(|x| Arc::ptr_eq(x, imp)))
        {
            *slot = None;
        }
    }

    /// Writes one line per attachment: the buffer, the device, the
    /// mapping's direction, the bytes synced for CPU accesses, and the
    /// importer's own range syncs and their bytes.
    pub(crate) fn show(&self, out: &mut dyn Write) {
        let list = self.importers.lock();
        let live = list.iter().flatten().count();
        for imp in list.iter().flatten().take(SHOWN) {
            let dir = imp.mapping.lock().direction();
            let _ = writeln!(
                out,
                "attachment: buffer {} device {} mapped {} access_bytes {} own_syncs {} own_bytes {}",
                imp.buf,
                imp.dev.name(),
                dir.map_or("no", |d| d.name()),
                imp.synced_bytes.load(Relaxed),
                imp.own_syncs.load(Relaxed),
                imp.own_bytes.load(Relaxed),
            );
        }
        if live > SHOWN {
            let _ = writeln!(out, "attachments not listed: {}", live - SHOWN);
        }
    }
}
