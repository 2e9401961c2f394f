//! Claiming decisions: which spec a device matches, whether rsdma can
//! honour the claim, and what to do with a device that is bound already.
//!
//! | check (in order)                          | outcome                        |
//! |-------------------------------------------|--------------------------------|
//! | no spec matches                           | not claimed                    |
//! | kernel without per-device DMA ops         | [`Refusal::NoDmaOps`]          |
//! | IOMMU group with other devices            | [`Refusal::SharedGroup`]       |
//! | no IOMMU, spec demands one (`iommu`)      | [`Refusal::NoIommu`]           |
//! | otherwise                                 | claimed                        |
//!
//! A refused device keeps its normal DMA path.  A spec added while a
//! matching device is bound takes it over at its next bind, or at once by
//! unbinding and binding its driver when the spec says `rebind`.

use core::fmt;

use super::claimspec::{Options, PciAddr, Spec, Target};

/// What identifies a device to the specs.
#[derive(Clone, Copy, Debug)]
pub struct Identity<'a> {
    /// The device's bus.
    pub bus: Bus,
    /// The device's name (`0000:00:03.0`, `a003e00.virtio_mmio`).
    pub name: &'a str,
    /// A PCI device's vendor and device ID.
    pub pci_ids: Option<(u16, u16)>,
    /// The `compatible` property of the device's firmware node: strings,
    /// each ended by a NUL (empty without a node).
    pub compatible: &'a [u8],
}

/// The buses rsdma claims devices on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bus {
    /// PCI.
    Pci,
    /// The platform bus (devices described by firmware).
    Platform,
}

impl Target {
    /// Whether the target names the device.
    pub fn matches(&self, id: &Identity<'_>) -> bool {
        match *self {
            Target::PciAddr(a) => id.bus == Bus::Pci && PciAddr::parse(id.name) == Some(a),
            Target::PciId { vendor, device } => match id.pci_ids {
                Some((v, d)) => v == vendor && device.map_or(true, |want| want == d),
                None => false,
            },
            Target::Platform(n) => id.bus == Bus::Platform && id.name == n.as_str(),
            Target::Of(c) => id
                .compatible
                .split(|&b| b == 0)
                .any(|s| !s.is_empty() && s == c.as_str().as_bytes()),
        }
    }
}

/// The first of `specs` that names the device.
pub fn find<'s>(specs: impl IntoIterator<Item = &'s Spec>, id: &Identity<'_>) -> Option<&'s Spec> {
    specs.into_iter().find(|s| s.target.matches(id))
}

/// What the kernel and the device offer, for [`decide`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The kernel has per-device DMA ops (`CONFIG_ARCH_HAS_DMA_OPS`).
    pub dma_ops: bool,
    /// Devices in the device's IOMMU group; 0 when no IOMMU translates it.
    pub group_devices: usize,
}

/// Why a claim cannot be honoured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The kernel has no per-device DMA ops.
    NoDmaOps,
    /// The device shares its IOMMU group with this many devices in all.
    SharedGroup(usize),
    /// The spec demands an IOMMU and none translates the device.
    NoIommu,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoDmaOps => f.write_str(
                "this kernel has no per-device DMA ops (CONFIG_ARCH_HAS_DMA_OPS; on arm64 it comes with CONFIG_XEN)",
            ),
            Self::SharedGroup(n) => write!(
                f,
                "its IOMMU group holds {} devices; rsdma needs it alone",
                n
            ),
            Self::NoIommu => f.write_str("the spec demands an IOMMU and none translates the device"),
        }
    }
}

/// Whether rsdma can claim a device the spec with `opts` names.
pub fn decide(opts: &Options, facts: &Facts) -> Result<(), Refusal> {
    if !facts.dma_ops {
        return Err(Refusal::NoDmaOps);
    }
    match facts.group_devices {
        0 if opts.need_iommu => Err(Refusal::NoIommu),
        0 | 1 => Ok(()),
        n => Err(Refusal::SharedGroup(n)),
    }
}

/// What to do with a matching device that is bound already when a spec is
/// added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenBound {
    /// Unbind and bind its driver now, so that it is claimed.
    Rebind,
    /// Leave it; it is claimed at its next bind.
    NextBind,
}

/// See [`WhenBound`].
pub fn when_bound(opts: &Options) -> WhenBound {
    if opts.rebind {
        WhenBound::Rebind
    } else {
        WhenBound::NextBind
    }
}

/// The highest address a device claimed with `opts` may be given, on top
/// of its driver's mask (`dma_bits`): `u64::MAX` without a limit.
pub fn address_limit(opts: &Options) -> u64 {
    match opts.dma_bits {
        Some(b) if b < 64 => (1u64 << b) - 1,
        _ => u64::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::super::claimspec::{parse, specs};
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn pci<'a>(name: &'a str, ids: (u16, u16)) -> Identity<'a> {
        Identity {
            bus: Bus::Pci,
            name,
            pci_ids: Some(ids),
            compatible: b"",
        }
    }

    fn platform<'a>(name: &'a str, compatible: &'a [u8]) -> Identity<'a> {
        Identity {
            bus: Bus::Platform,
            name,
            pci_ids: None,
            compatible,
        }
    }

    fn matches(spec: &str, id: &Identity<'_>) -> bool {
        parse(spec).map(|s| s.target.matches(id)).unwrap_or(false)
    }

    #[test]
    fn targets_match_their_devices_only() {
        let nvme = pci("0000:00:03.0", (0x1b36, 0x0010));
        let vmmio = platform("a003e00.virtio_mmio", b"virtio,mmio\0");
        assert!(matches("pci:0000:00:03.0", &nvme));
        assert!(matches("pci:00:03.0", &nvme));
        assert!(!matches("pci:0000:00:03.1", &nvme));
        assert!(!matches("pci:0001:00:03.0", &nvme));
        assert!(matches("pci:1b36:0010", &nvme));
        assert!(matches("pci:1b36:*", &nvme));
        assert!(!matches("pci:1b36:0011", &nvme));
        assert!(!matches("pci:1af4:*", &nvme));
        assert!(!matches("platform:0000:00:03.0", &nvme));
        assert!(matches("platform:a003e00.virtio_mmio", &vmmio));
        assert!(!matches("platform:a003e00", &vmmio));
        assert!(matches("of:virtio,mmio", &vmmio));
        assert!(!matches("of:virtio", &vmmio));
        assert!(!matches("pci:0000:00:03.0", &vmmio));
        // A PCI address on another bus is not that device.
        let odd = platform("0000:00:03.0", b"");
        assert!(!matches("pci:0000:00:03.0", &odd));
    }

    #[test]
    fn every_compatible_string_counts() {
        let id = platform("x", b"vendor,board-dma\0vendor,generic-dma\0");
        assert!(matches("of:vendor,generic-dma", &id));
        assert!(matches("of:vendor,board-dma", &id));
        assert!(!matches("of:vendor", &id));
        // Without a final NUL, and with empty strings.
        let id = platform("x", b"\0\0a,b");
        assert!(matches("of:a,b", &id));
    }

    #[test]
    fn the_first_matching_spec_wins() {
        let list: Vec<Spec> = specs("pci:1af4:*/lazy,pci:1b36:0010,pci:1b36:*/untrusted")
            .collect::<Result<_, _>>()
            .unwrap();
        let nvme = pci("0000:00:03.0", (0x1b36, 0x0010));
        let found = find(&list, &nvme).unwrap();
        assert!(!found.options.untrusted && !found.options.lazy);
        assert!(find(&list, &pci("0000:00:04.0", (0x8086, 1))).is_none());
    }

    #[test]
    fn refusals_in_order() {
        let any = Options::default();
        let need = Options {
            need_iommu: true,
            ..any
        };
        let f = |dma_ops, group_devices| Facts {
            dma_ops,
            group_devices,
        };
        assert_eq!(decide(&any, &f(false, 1)), Err(Refusal::NoDmaOps));
        assert_eq!(decide(&need, &f(false, 0)), Err(Refusal::NoDmaOps));
        assert_eq!(decide(&any, &f(true, 2)), Err(Refusal::SharedGroup(2)));
        assert_eq!(decide(&need, &f(true, 0)), Err(Refusal::NoIommu));
        assert_eq!(decide(&any, &f(true, 0)), Ok(()));
        assert_eq!(decide(&need, &f(true, 1)), Ok(()));
    }

    #[test]
    fn limits_and_rebinding() {
        let o = |dma_bits| Options {
            dma_bits,
            ..Options::default()
        };
        assert_eq!(address_limit(&o(None)), u64::MAX);
        assert_eq!(address_limit(&o(Some(32))), 0xffff_ffff);
        assert_eq!(address_limit(&o(Some(64))), u64::MAX);
        assert_eq!(when_bound(&o(None)), WhenBound::NextBind);
        let r = Options {
            rebind: true,
            ..Options::default()
        };
        assert_eq!(when_bound(&r), WhenBound::Rebind);
    }

    proptest! {
        /// No identity makes matching panic, and a PCI address spec
        /// matches exactly the device of that name.
        #[test]
        fn matching_never_panics(
            name in "\\PC{0,24}", compat in proptest::collection::vec(any::<u8>(), 0..40),
            spec in "\\PC{0,40}", ids in any::<(u16, u16)>(), on_pci in any::<bool>(),
        ) {
            let id = Identity {
                bus: if on_pci { Bus::Pci } else { Bus::Platform },
                name: &name,
                pci_ids: on_pci.then_some(ids),
                compatible: &compat,
            };
            if let Ok(s) = parse(&spec) {
                let _ = s.target.matches(&id);
            }
            if let Some(a) = PciAddr::parse(&name) {
                let s = parse(&std::format!("pci:{}", a));
                prop_assert_eq!(s.map(|s| s.target.matches(&id)), Ok(on_pci));
            }
        }

        /// Every refusal holds exactly when its condition does.
        #[test]
        fn decide_matches_the_table(dma_ops in any::<bool>(), n in 0usize..5, need in any::<bool>()) {
            let o = Options { need_iommu: need, ..Options::default() };
            let r = decide(&o, &Facts { dma_ops, group_devices: n });
            let want = if !dma_ops {
                Err(Refusal::NoDmaOps)
            } else if n > 1 {
                Err(Refusal::SharedGroup(n))
            } else if n == 0 && need {
                Err(Refusal::NoIommu)
            } else {
                Ok(())
            };
            prop_assert_eq!(r, want);
        }

        /// The limit is the all-ones value of the asked bits.
        #[test]
        fn limit_has_the_asked_bits(bits in 20u8..=64) {
            let o = Options { dma_bits: Some(bits), ..Options::default() };
            prop_assert_eq!(address_limit(&o).count_ones(), u32::from(bits));
            prop_assert_eq!(address_limit(&o).leading_zeros(), 64 - u32::from(bits));
        }
    }
}
