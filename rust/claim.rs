// SPDX-License-Identifier: GPL-2.0

//! Serving drivers that know nothing of rsdma: devices named by claim
//! specs (`claim=` at load, the debugfs `claim` file later) are attached
//! when their driver is about to bind, and given back when it has
//! unbound.
//!
//! A bus notifier hears `BUS_NOTIFY_BIND_DRIVER` after the bus has set up
//! the device's DMA (`dma_configure`) and before the driver's probe: rsdma
//! attaches the device there, so the driver's first DMA call already lands
//! in rsdma.  The attach's unbind action (a device-managed action
//! registered before the driver's own) detaches it when the driver
//! unbinds, after the driver's managed DMA buffers are freed; the
//! notifier then drops the module reference that kept rsdma loaded while
//! the device was served.  rsdma-core decides which spec names a device
//! and whether the claim can be honoured (`core/src/claim.rs`).

use crate::attach::{self, Config};
use crate::dev::RsdmaDev;
use crate::kapi::bus::{self, Bus, Event, Listener};
use crate::kapi::device::Device;
use crate::kapi::dma_ops::{self, Installed};
use crate::kapi::module::ModuleRef;
use crate::kapi::{iommu, pci};
use crate::rsdma_core::claim::{self as decide, Facts, Identity, Refusal, WhenBound};
use crate::rsdma_core::claimspec::{self, Command, Spec};
use crate::{dev_err, dev_info, dev_warn};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};
use kernel::types::ARef;

/// Specs rsdma keeps.
pub(crate) const MAX_SPECS: usize = 16;
/// Devices rsdma keeps a record of (served, refused or settling).
pub(crate) const MAX_DEVICES: usize = 32;

/// Where a device named by a spec stands.
pub(crate) enum State {
    /// Attached.  The module reference keeps rsdma loaded while it is.
    Served {
        /// The device's rsdma state, for its stats.
        state: Arc<Installed<RsdmaDev>>,
        _module: ModuleRef,
    },
    /// The claim cannot be honoured: the device keeps its normal DMA path.
    Refused(Refusal),
    /// Attaching failed: the device keeps its normal DMA path.
    Failed(Error),
    /// The driver's probe failed after the device was attached; the
    /// attach's unbind action detaches it under the device lock, right
    /// after the notifier hears of the failure.
    Settling,
}

/// A device named by a spec.
pub(crate) struct Entry {
    pub(crate) dev: ARef<Device>,
    pub(crate) spec: Spec,
    pub(crate) state: State,
}

/// The specs and the devices they named: fixed tables, so that the
/// notifier never allocates.
pub(crate) struct Table {
    pub(crate) specs: KVec<Option<Spec>>,
    pub(crate) devices: KVec<Option<Entry>>,
}

/// rsdma's claims.  Dropped at unload, once no notifier calls it any
/// more: the drop waits for the devices still settling.
#[pin_data(PinnedDrop)]
pub(crate) struct Claims {
    #[pin]
    pub(crate) table: Mutex<Table>,
}

#[pinned_drop]
impl PinnedDrop for Claims {
    fn drop(self: Pin<&mut Self>) {
        self.settle();
    }
}

/// What identifies `dev` on `bus` to the specs.
fn identity(bus: Bus, dev: &Device) -> Option<Identity<'_>> {
    Some(Identity {
        bus: match bus {
            Bus::Pci => decide::Bus::Pci,
            Bus::Platform => decide::Bus::Platform,
        },
        name: dev.name().to_str().ok()?,
        pci_ids: pci::ids(dev),
        compatible: dev.of_compatible(),
    })
}

/// How a device the spec names is attached.
fn config(spec: &Spec) -> Config {
    let o = &spec.options;
    Config {
        lazy: o.lazy,
        flush_ms: o.flush_ms.unwrap_or(0),
        tracker: o.tracker.unwrap_or_else(crate::tracker_default),
        untrusted: o.untrusted,
        noncoherent: false,
        limit: decide::address_limit(o),
    }
}

/// The driver bound to `dev`, for log lines.
fn driver(dev: &Device) -> &str {
    dev.driver_name()
        .and_then(|n| n.to_str().ok())
        .unwrap_or("no driver")
}

impl Table {
    /// The record of `dev`.
    fn find(&mut self, dev: &Device) -> Option<&mut Option<Entry>> {
        self.devices
            .iter_mut()
            .find(|e| e.as_ref().is_some_and(|e| e.dev.as_raw() == dev.as_raw()))
    }

    /// A slot for a new record: a free one, else one that only records a
    /// refusal.
    fn free_slot(&mut self) -> Option<&mut Option<Entry>> {
        let i = self.devices.iter().position(|e| e.is_none()).or_else(|| {
            self.devices.iter().position(|e| {
                matches!(
                    e,
                    Some(Entry {
                        state: State::Refused(_) | State::Failed(_),
                        ..
                    })
                )
            })
        })?;
        self.devices.get_mut(i)
    }

    /// The specs, in the order they were added.
    pub(crate) fn specs(&self) -> impl Iterator<Item = &Spec> {
        self.specs.iter().flatten()
    }
}

impl Claims {
    /// No specs, no devices.
    pub(crate) fn new() -> Result<impl PinInit<Self, Error>> {
        let mut specs = KVec::with_capacity(MAX_SPECS, GFP_KERNEL)?;
        let mut devices = KVec::with_capacity(MAX_DEVICES, GFP_KERNEL)?;
        for _ in 0..MAX_SPECS {
            specs.push(None, GFP_KERNEL)?;
        }
        for _ in 0..MAX_DEVICES {
            devices.push(None, GFP_KERNEL)?;
        }
        Ok(try_pin_init!(Self {
            table <- new_mutex!(Table { specs, devices }, "Claims::table"),
        }? Error))
    }

    /// Runs a line written to the claim file (`claimspec::command`).
    pub(crate) fn command(&self, line: &str) -> Result {
        match claimspec::command(line) {
            Command::Add(text) => {
                let added = self.add(text)?;
                self.take_over_bound(&added);
                Ok(())
            }
            Command::Remove(text) => self.remove(text),
            Command::Clear => {
                for s in self.table.lock().specs.iter_mut() {
                    *s = None;
                }
                pr_info!(
                    "claim specs cleared; served devices stay served until their driver unbinds\n"
                );
                Ok(())
            }
        }
    }

    /// Adds the specs of `text`, all or none; returns them.  A malformed
    /// spec is logged and refused with `EINVAL`, too many with `ENOSPC`.
    pub(crate) fn add(&self, text: &str) -> Result<KVec<Spec>> {
        let mut added = KVec::new();
        for s in claimspec::specs(text) {
            match s {
                Ok(s) => added.push(s, GFP_KERNEL)?,
                Err(e) => {
                    pr_err!("bad claim spec {}\n", e);
                    return Err(EINVAL);
                }
            }
        }
        let mut t = self.table.lock();
        let free = t.specs.iter().filter(|s| s.is_none()).count();
        if added.len() > free {
            pr_err!(
                "rsdma: cannot add {} claim spec(s): room for {} more (at most {})\n",
                added.len(),
                free,
                MAX_SPECS
            );
            return Err(ENOSPC);
        }
        for s in added.iter() {
            if let Some(slot) = t.specs.iter_mut().find(|x| x.is_none()) {
                *slot = Some(*s);
                pr_info!("claiming {}\n", s);
            }
        }
        Ok(added)
    }

    /// Forgets the specs with the targets of `text`'s specs.  Devices they
    /// claimed stay served until their driver unbinds.
    fn remove(&self, text: &str) -> Result {
        let mut gone = KVec::new();
        for s in claimspec::specs(text) {
            match s {
                Ok(s) => gone.push(s.target, GFP_KERNEL)?,
                Err(e) => {
                    pr_err!("bad claim spec {}\n", e);
                    return Err(EINVAL);
                }
            }
        }
        let mut t = self.table.lock();
        let mut n = 0;
        for slot in t.specs.iter_mut() {
            if slot.is_some_and(|s| gone.contains(&s.target)) {
                *slot = None;
                n += 1;
            }
        }
        if n == 0 {
            pr_err!("no claim spec has that target\n");
            return Err(ENOENT);
        }
        pr_info!(
            "{} claim spec(s) forgotten; served devices stay served until their driver unbinds\n",
            n
        );
        Ok(())
    }

    /// The spec `dev` is served by, if rsdma serves it.
    fn serving(&self, dev: &Device) -> Option<Spec> {
        match self.table.lock().find(dev) {
            Some(Some(Entry {
                state: State::Served { .. },
                spec,
                ..
            })) => Some(*spec),
            _ => None,
        }
    }

    /// Deals with the devices `added` names that are bound already: each
    /// is rebound when its spec says `rebind` (unless it is served by the
    /// spec that names it first already), else claimed at its next bind.
    /// Takes the device locks: call it holding no lock.
    pub(crate) fn take_over_bound(&self, added: &[Spec]) {
        let mut found = KVec::new();
        for bus in [Bus::Pci, Bus::Platform] {
            bus.for_each_dev(|dev| {
                if dev.driver_name().is_none() {
                    return;
                }
                let Some(id) = identity(bus, dev) else {
                    return;
                };
                let Some(spec) = decide::find(added.iter(), &id) else {
                    return;
                };
                let first = decide::find(self.table.lock().specs(), &id).copied();
                if found.push((dev.get(), *spec, first), GFP_KERNEL).is_err() {
                    dev_err!(dev, "rsdma: no memory to take this device over");
                }
            });
        }
        for (dev, spec, first) in found.iter() {
            if first.is_some() && self.serving(dev) == *first {
                continue;
            }
            match decide::when_bound(&spec.options) {
                WhenBound::Rebind => {
                    dev_info!(dev, "rsdma: rebinding {} so that {} claims the device", driver(dev), spec);
                    if let Err(e) = dev.reprobe() {
                        dev_err!(dev, "rsdma: rebinding failed: {:?}", e);
                    }
                }
                WhenBound::NextBind => dev_info!(
                    dev,
                    "rsdma: bound to {} already: {} claims it at its next bind (/rebind takes it over now)",
                    driver(dev),
                    spec
                ),
            }
        }
    }

    /// A driver is about to bind `dev`: claims it if a spec names it.
    fn bind(&self, bus: Bus, dev: &Device) {
        let Some(id) = identity(bus, dev) else {
            return;
        };
        let mut t = self.table.lock();
        // Under the device lock: an earlier failed probe is over.
        if let Some(slot) = t.find(dev) {
            match slot {
                Some(Entry {
                    state: State::Served { .. },
                    ..
                }) => {
                    // Bound again without an unbind in between (the driver
                    // core's remove test): still attached, or again.
                    if dma_ops::installed_on::<RsdmaDev>(dev).is_some() {
                        return;
                    }
                    *slot = None;
                }
                _ => *slot = None,
            }
        }
        let Some(spec) = decide::find(t.specs(), &id) else {
            return;
        };
        let spec = *spec;
        let drv = driver(dev);
        let facts = Facts {
            dma_ops: dma_ops::kernel_has_dma_ops(),
            group_devices: iommu::group_size(dev),
        };
        let state = match decide::decide(&spec.options, &facts) {
            Err(why) => {
                dev_warn!(
                    dev,
                    "rsdma: claim {} not honoured: {}; {} keeps the normal DMA path",
                    spec,
                    why,
                    drv
                );
                State::Refused(why)
            }
            Ok(()) => match self.attach(dev, &spec) {
                Ok(s) => {
                    dev_info!(dev, "rsdma: claimed by {} for driver {}", spec, drv);
                    s
                }
                Err(e) => {
                    dev_warn!(dev, "rsdma: claim {} not honoured: attaching failed ({:?}); {} keeps the normal DMA path", spec, e, drv);
                    State::Failed(e)
                }
            },
        };
        match t.free_slot() {
            Some(slot) => {
                *slot = Some(Entry {
                    dev: dev.get(),
                    spec,
                    state,
                })
            }
            None => dev_warn!(
                dev,
                "rsdma: {} device records in use; this one is not listed",
                MAX_DEVICES
            ),
        }
    }

    /// Attaches `dev` as `spec` says, with a module reference.
    fn attach(&self, dev: &Device, spec: &Spec) -> Result<State> {
        let Some(module) = ModuleRef::get() else {
            // rsdma is being unloaded.
            return Err(ENODEV);
        };
        attach::attach(dev, config(spec))?;
        match dma_ops::installed_on::<RsdmaDev>(dev) {
            Some(state) => Ok(State::Served {
                state,
                _module: module,
            }),
            None => Err(EINVAL),
        }
    }
}

impl Listener for Claims {
    fn event(&self, bus: Bus, ev: Event, dev: &Device) {
        match ev {
            Event::BindDriver => self.bind(bus, dev),
            // The probe failed: the unbind action detaches the device once
            // the failed probe's managed resources are released, under the
            // device lock this thread holds; rsdma's unload waits for it.
            Event::DriverNotBound => {
                if let Some(Some(e)) = self.table.lock().find(dev) {
                    if matches!(e.state, State::Served { .. }) {
                        e.state = State::Settling;
                    }
                }
            }
            // The driver is gone, and with it the attachment (its unbind
            // action ran before this): the record and the module
            // reference go.
            Event::UnboundDriver => {
                let entry = self.table.lock().find(dev).and_then(|e| e.take());
                if let Some(e) = entry {
                    if matches!(e.state, State::Served { .. }) {
                        if dma_ops::installed_on::<RsdmaDev>(dev).is_some() {
                            // Something took the unbind action back.
                            let _ = attach::detach(dev);
                        }
                        dev_info!(dev, "rsdma: released by {} (driver unbound)", e.spec);
                    }
                }
            }
            Event::BoundDriver | Event::UnbindDriver | Event::DelDevice => {}
        }
    }
}

/// The notifiers on the buses rsdma claims devices on.
pub(crate) struct Notifiers {
    _pci: Pin<KBox<bus::Notifier<Claims>>>,
    _platform: Pin<KBox<bus::Notifier<Claims>>>,
}

impl Notifiers {
    /// Starts claiming on the PCI and platform buses.
    pub(crate) fn register(claims: &Arc<Claims>) -> Result<Self> {
        Ok(Self {
            _pci: bus::Notifier::register(Bus::Pci, claims.clone())?,
            _platform: bus::Notifier::register(Bus::Platform, claims.clone())?,
        })
    }
}

impl Claims {
    /// Waits for the devices whose failed probe is still releasing them
    /// (rsdma is being unloaded: no notifier runs any more).
    fn settle(&self) {
        loop {
            // One at a time, never holding the table while taking a device
            // lock (the notifier takes them the other way round).
            let dev = self
                .table
                .lock()
                .devices
                .iter_mut()
                .find_map(|slot| match slot.take() {
                    Some(e) if matches!(e.state, State::Settling) => Some(e.dev),
                    _ => None,
                });
            match dev {
                // The driver core holds the device lock from the failed
                // probe to the end of the release of what it left.
                Some(dev) => drop(dev.lock()),
                None => break,
            }
        }
    }
}
