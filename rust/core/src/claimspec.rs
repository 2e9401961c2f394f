//! Claim specs: which devices rsdma takes over when their driver binds,
//! and how (`rsdma.claim=` and the debugfs `claim` file).
//!
//! ```text
//! list   := spec { sep spec }            sep: ',' ';' or white space
//! spec   := target { '/' option }
//! target := "pci:" [domain ':'] bus ':' slot '.' function   (hex)
//!         | "pci:" vendor ':' device                        (hex; device may be '*')
//!         | "platform:" device-name
//!         | "of:" compatible
//! option := "lazy" | "strict" | "untrusted" | "tracker" | "notracker"
//!         | "rebind" | "iommu" | "dma_bits=" N | "flush_ms=" N
//! ```
//!
//! A device-tree compatible holds a comma (`of:virtio,mmio`), which is also
//! the list separator: after an `of:` target without options, a piece that
//! does not start a target (`pci:`, `platform:`, `of:`) continues the
//! compatible.  Parsing never allocates and never panics: any input gives
//! specs or a [`ParseError`] that names the piece it could not read.

use core::fmt;

/// Longest device name or compatible a spec holds, in bytes.
pub const NAME_MAX: usize = 48;

/// Narrowest and widest DMA address limit a spec may ask for, in bits.
pub const DMA_BITS_MIN: u8 = 20;
/// See [`DMA_BITS_MIN`].
pub const DMA_BITS_MAX: u8 = 64;

/// Longest lazy deferral a spec may ask for, in ms.
pub const FLUSH_MS_MAX: u32 = 10_000;

/// A short printable ASCII string held in place.
///
/// # Invariants
///
/// `bytes[..len]` is printable ASCII (`'!'..='~'`), so it is valid UTF-8.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Name {
    bytes: [u8; NAME_MAX],
    len: u8,
}

impl Name {
    /// `s` as a name; `None` when it is empty, longer than [`NAME_MAX`]
    /// or holds anything but printable ASCII.
    pub fn new(s: &str) -> Option<Self> {
        if s.is_empty() || s.len() > NAME_MAX || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        let mut bytes = [0u8; NAME_MAX];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        // INVARIANT: checked above.
        Some(Self {
            bytes,
            len: s.len() as u8,
        })
    }

    /// The first [`NAME_MAX`] bytes of `s`, with anything but printable
    /// ASCII replaced by `?` (for error messages).
    fn lossy(s: &str) -> Self {
        let mut bytes = [0u8; NAME_MAX];
        let mut len = 0;
        for (d, &b) in bytes.iter_mut().zip(s.as_bytes()) {
            *d = if b.is_ascii_graphic() { b } else { b'?' };
            len += 1;
        }
        // INVARIANT: every byte is printable ASCII.
        Self {
            bytes,
            len: len as u8,
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        let b = &self.bytes[..usize::from(self.len).min(NAME_MAX)];
        // Printable ASCII is UTF-8 (type invariant); the fallback is never
        // taken.
        core::str::from_utf8(b).unwrap_or("")
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PCI function's address: `domain:bus:slot.function`, as the kernel
/// names PCI devices (`0000:00:03.0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciAddr {
    /// The PCI domain (segment).
    pub domain: u16,
    /// The bus number.
    pub bus: u8,
    /// The slot (device number, 0 to 31).
    pub slot: u8,
    /// The function (0 to 7).
    pub function: u8,
}

impl PciAddr {
    /// Parses `[domain:]bus:slot.function` in hex; `None` when it is not
    /// one.
    pub fn parse(s: &str) -> Option<Self> {
        let (head, function) = s.rsplit_once('.')?;
        let mut parts = head.rsplit(':');
        let slot = parts.next()?;
        let bus = parts.next()?;
        let domain = parts.next();
        if parts.next().is_some() {
            return None;
        }
        let slot = hex(slot, 2)?;
        let function = hex(function, 1)?;
        if slot > 0x1f || function > 7 {
            return None;
        }
        Some(Self {
            domain: match domain {
                Some(d) => hex(d, 4)? as u16,
                None => 0,
            },
            bus: hex(bus, 2)? as u8,
            slot: slot as u8,
            function: function as u8,
        })
    }
}

impl fmt::Display for PciAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.slot, self.function
        )
    }
}

/// 1 to `digits` hex digits, nothing else.
fn hex(s: &str, digits: usize) -> Option<u32> {
    if s.is_empty() || s.len() > digits || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// 1 to 9 decimal digits, nothing else.
fn decimal(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Which device(s) a spec names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// One PCI function, by address.
    PciAddr(PciAddr),
    /// PCI functions by vendor and device ID (`None`: any device of the
    /// vendor).
    PciId {
        /// The vendor ID.
        vendor: u16,
        /// The device ID, or any.
        device: Option<u16>,
    },
    /// A platform device, by its device name (`a003e00.virtio_mmio`).
    Platform(Name),
    /// Devices whose firmware node lists this compatible (`virtio,mmio`).
    Of(Name),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PciAddr(a) => write!(f, "pci:{}", a),
            Self::PciId {
                vendor,
                device: Some(d),
            } => write!(f, "pci:{:04x}:{:04x}", vendor, d),
            Self::PciId {
                vendor,
                device: None,
            } => write!(f, "pci:{:04x}:*", vendor),
            Self::Platform(n) => write!(f, "platform:{}", n),
            Self::Of(c) => write!(f, "of:{}", c),
        }
    }
}

/// How a claimed device is served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Lazy IOTLB invalidation (`lazy`; `strict` is the default).
    pub lazy: bool,
    /// Longest lazy deferral in ms (`flush_ms=N`; `None`: rsdma's default).
    pub flush_ms: Option<u32>,
    /// Bounce mappings that do not fill whole IOMMU granules (`untrusted`).
    pub untrusted: bool,
    /// The mapping tracker on or off (`tracker`, `notracker`; `None`:
    /// rsdma's default).
    pub tracker: Option<bool>,
    /// Unbind and bind the driver of a device that is bound already, so
    /// that it is claimed now (`rebind`).
    pub rebind: bool,
    /// Claim the device only when an IOMMU translates it (`iommu`).
    pub need_iommu: bool,
    /// Treat the device as able to drive only this many address bits,
    /// whatever mask its driver sets (`dma_bits=N`).
    pub dma_bits: Option<u8>,
}

impl fmt::Display for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lazy {
            f.write_str("/lazy")?;
        }
        if let Some(ms) = self.flush_ms {
            write!(f, "/flush_ms={}", ms)?;
        }
        if self.untrusted {
            f.write_str("/untrusted")?;
        }
        match self.tracker {
            Some(true) => f.write_str("/tracker")?,
            Some(false) => f.write_str("/notracker")?,
            None => {}
        }
        if self.rebind {
            f.write_str("/rebind")?;
        }
        if self.need_iommu {
            f.write_str("/iommu")?;
        }
        if let Some(b) = self.dma_bits {
            write!(f, "/dma_bits={}", b)?;
        }
        Ok(())
    }
}

/// A device (or devices) to claim, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Which devices.
    pub target: Target,
    /// How they are served.
    pub options: Options,
}

impl fmt::Display for Spec {
    /// The canonical text of the spec, which parses back to it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.target, self.options)
    }
}

/// What is wrong with a spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The target starts with none of `pci:`, `platform:`, `of:`.
    UnknownBus,
    /// `pci:` followed by neither an address nor `vendor:device`.
    BadPci,
    /// A device name or compatible that is empty, too long, or not
    /// printable ASCII.
    BadName,
    /// An option rsdma does not know.
    UnknownOption,
    /// An option value that is not a number in its range.
    BadValue,
    /// Two options that contradict each other (`lazy` and `strict`,
    /// `tracker` and `notracker`), or one given twice.
    Conflict,
    /// `flush_ms=` without `lazy`.
    FlushWithoutLazy,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownBus => "a spec starts with pci:, platform: or of:",
            Self::BadPci => {
                "pci: takes an address ([domain:]bus:slot.fn) or vendor:device (hex)"
            }
            Self::BadName => "a device name or compatible is 1 to 48 printable characters",
            Self::UnknownOption => {
                "options are lazy, strict, untrusted, tracker, notracker, rebind, iommu, dma_bits=N, flush_ms=N"
            }
            Self::BadValue => "dma_bits is 20 to 64 and flush_ms 1 to 10000",
            Self::Conflict => "an option contradicts or repeats another",
            Self::FlushWithoutLazy => "flush_ms applies only with lazy",
        })
    }
}

/// A spec rsdma could not read: what is wrong, and the spec (cut to
/// [`NAME_MAX`] bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// What is wrong.
    pub kind: ErrorKind,
    /// The spec's text.
    pub spec: Name,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}': {}", self.spec, self.kind)
    }
}

/// The prefixes that start a target.
const BUSES: [&str; 3] = ["pci:", "platform:", "of:"];

/// Whether `s` starts a new spec.
fn starts_target(s: &str) -> bool {
    BUSES.iter().any(|b| s.starts_with(b))
}

/// Parses one spec (`target{/option}`).
pub fn parse(s: &str) -> Result<Spec, ParseError> {
    let err = |kind| ParseError {
        kind,
        spec: Name::lossy(s),
    };
    let mut pieces = s.split('/');
    let target = pieces.next().unwrap_or("");
    let target = if let Some(rest) = target.strip_prefix("pci:") {
        if rest.contains('.') {
            Target::PciAddr(PciAddr::parse(rest).ok_or(err(ErrorKind::BadPci))?)
        } else {
            let (v, d) = rest.split_once(':').ok_or(err(ErrorKind::BadPci))?;
            Target::PciId {
                vendor: hex(v, 4).ok_or(err(ErrorKind::BadPci))? as u16,
                device: match d {
                    "*" => None,
                    d => Some(hex(d, 4).ok_or(err(ErrorKind::BadPci))? as u16),
                },
            }
        }
    } else if let Some(rest) = target.strip_prefix("platform:") {
        if rest.contains([',', ';']) {
            return Err(err(ErrorKind::BadName));
        }
        Target::Platform(Name::new(rest).ok_or(err(ErrorKind::BadName))?)
    } else if let Some(rest) = target.strip_prefix("of:") {
        // A piece that starts a target would be a spec of its own in a
        // list.
        if rest.contains(';') || rest.split(',').any(|p| p.is_empty() || starts_target(p)) {
            return Err(err(ErrorKind::BadName));
        }
        Target::Of(Name::new(rest).ok_or(err(ErrorKind::BadName))?)
    } else {
        return Err(err(ErrorKind::UnknownBus));
    };
    let mut o = Options::default();
    let mut strict = false;
    for opt in pieces {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (opt, None),
        };
        let flag = |seen: &mut bool| {
            if *seen {
                Err(err(ErrorKind::Conflict))
            } else {
                *seen = true;
                Ok(())
            }
        };
        match (key, value) {
            ("lazy", None) => flag(&mut o.lazy)?,
            ("strict", None) => flag(&mut strict)?,
            ("untrusted", None) => flag(&mut o.untrusted)?,
            ("rebind", None) => flag(&mut o.rebind)?,
            ("iommu", None) => flag(&mut o.need_iommu)?,
            ("tracker" | "notracker", None) => {
                if o.tracker.is_some() {
                    return Err(err(ErrorKind::Conflict));
                }
                o.tracker = Some(key == "tracker");
            }
            ("dma_bits", Some(v)) => {
                let bits = decimal(v)
                    .filter(|b| (u32::from(DMA_BITS_MIN)..=u32::from(DMA_BITS_MAX)).contains(b))
                    .ok_or(err(ErrorKind::BadValue))?;
                if o.dma_bits.replace(bits as u8).is_some() {
                    return Err(err(ErrorKind::Conflict));
                }
            }
            ("flush_ms", Some(v)) => {
                let ms = decimal(v)
                    .filter(|m| (1..=FLUSH_MS_MAX).contains(m))
                    .ok_or(err(ErrorKind::BadValue))?;
                if o.flush_ms.replace(ms).is_some() {
                    return Err(err(ErrorKind::Conflict));
                }
            }
            _ => return Err(err(ErrorKind::UnknownOption)),
        }
    }
    if strict && o.lazy {
        return Err(err(ErrorKind::Conflict));
    }
    if o.flush_ms.is_some() && !o.lazy {
        return Err(err(ErrorKind::FlushWithoutLazy));
    }
    Ok(Spec { target, options: o })
}

/// The specs of a list, in order (see the module documentation).
#[derive(Clone, Debug)]
pub struct Specs<'a> {
    rest: &'a str,
}

/// Reads the spec list `s`.
pub fn specs(s: &str) -> Specs<'_> {
    Specs { rest: s }
}

/// Whether `c` separates specs.
fn is_sep(c: char) -> bool {
    c == ',' || c == ';' || c.is_ascii_whitespace()
}

impl<'a> Iterator for Specs<'a> {
    type Item = Result<Spec, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let s = self.rest.trim_start_matches(is_sep);
        if s.is_empty() {
            self.rest = s;
            return None;
        }
        let mut end = s.find(is_sep).unwrap_or(s.len());
        // A compatible's commas: join the pieces that start no target.
        if s.starts_with("of:") && !s[..end].contains('/') {
            while s[end..].starts_with(',') {
                let next = &s[end + 1..];
                let len = next.find(is_sep).unwrap_or(next.len());
                if len == 0 || starts_target(next) {
                    break;
                }
                end += 1 + len;
                if next[..len].contains('/') {
                    break;
                }
            }
        }
        self.rest = &s[end..];
        Some(parse(&s[..end]))
    }
}

/// A line written to the claim file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// Claim by these specs too (a spec list).
    Add(&'a str),
    /// Forget the specs with these targets (`-` and a spec list).
    Remove(&'a str),
    /// Forget every spec (`clear`).
    Clear,
}

/// Reads a line written to the claim file.
pub fn command(line: &str) -> Command<'_> {
    let line = line.trim();
    if line == "clear" {
        Command::Clear
    } else if let Some(rest) = line.strip_prefix('-') {
        Command::Remove(rest)
    } else {
        Command::Add(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::{String, ToString};
    use std::vec::Vec;

    fn all(s: &str) -> Result<Vec<Spec>, ParseError> {
        specs(s).collect()
    }

    fn name(s: &str) -> Name {
        Name::new(s).unwrap_or(Name::lossy("?"))
    }

    #[test]
    fn the_issue_examples_parse() {
        let got = all("pci:0000:00:03.0,pci:1b36:0010,of:virtio,mmio").unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0].target,
            Target::PciAddr(PciAddr {
                domain: 0,
                bus: 0,
                slot: 3,
                function: 0
            })
        );
        assert_eq!(
            got[1].target,
            Target::PciId {
                vendor: 0x1b36,
                device: Some(0x10)
            }
        );
        assert_eq!(got[2].target, Target::Of(name("virtio,mmio")));
    }

    #[test]
    fn options_parse_and_print_back() {
        let s = "pci:1af4:*/lazy/flush_ms=5/untrusted/notracker/rebind/iommu/dma_bits=32";
        let spec = parse(s).unwrap();
        assert_eq!(
            spec.options,
            Options {
                lazy: true,
                flush_ms: Some(5),
                untrusted: true,
                tracker: Some(false),
                rebind: true,
                need_iommu: true,
                dma_bits: Some(32),
            }
        );
        assert_eq!(spec.to_string(), s);
        assert_eq!(
            parse("pci:00:1f.7").unwrap().to_string(),
            "pci:0000:00:1f.7"
        );
    }

    #[test]
    fn a_compatible_keeps_its_commas() {
        let got =
            all("of:virtio,mmio/lazy,platform:a000000.virtio_mmio;of:arm,pl330 of:a,b,c").unwrap();
        let targets: Vec<String> = got.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            targets,
            [
                "of:virtio,mmio/lazy",
                "platform:a000000.virtio_mmio",
                "of:arm,pl330",
                "of:a,b,c"
            ]
        );
        // Options end the compatible; the next piece must start a target.
        assert_eq!(
            all("of:virtio,mmio/lazy,mmio").unwrap_err().kind,
            ErrorKind::UnknownBus
        );
    }

    #[test]
    fn malformed_specs_name_the_problem() {
        let cases = [
            ("usb:1-1", ErrorKind::UnknownBus),
            ("pci:", ErrorKind::BadPci),
            ("pci:1b36", ErrorKind::BadPci),
            ("pci:1b360:0010", ErrorKind::BadPci),
            ("pci:0000:00:20.0", ErrorKind::BadPci),
            ("pci:0000:00:03.8", ErrorKind::BadPci),
            ("pci:0:0:0:03.0", ErrorKind::BadPci),
            ("pci:1b36:0010/lazy/strict", ErrorKind::Conflict),
            ("pci:1b36:0010/lazy/lazy", ErrorKind::Conflict),
            ("pci:1b36:0010/tracker/notracker", ErrorKind::Conflict),
            ("pci:1b36:0010/dma_bits=19", ErrorKind::BadValue),
            ("pci:1b36:0010/dma_bits=65", ErrorKind::BadValue),
            ("pci:1b36:0010/dma_bits=", ErrorKind::BadValue),
            ("pci:1b36:0010/dma_bits=+32", ErrorKind::BadValue),
            ("pci:1b36:0010/flush_ms=0/lazy", ErrorKind::BadValue),
            ("pci:1b36:0010/flush_ms=5", ErrorKind::FlushWithoutLazy),
            ("pci:1b36:0010/", ErrorKind::UnknownOption),
            ("pci:1b36:0010/fast", ErrorKind::UnknownOption),
            ("pci:1b36:0010/lazy=1", ErrorKind::UnknownOption),
            ("platform:", ErrorKind::BadName),
            ("of:", ErrorKind::BadName),
        ];
        for (s, kind) in cases {
            let e = all(s).unwrap_err();
            assert_eq!(e.kind, kind, "{}", s);
            assert!(e.to_string().contains(s), "{}", e);
        }
        let long = "platform:".to_string() + &"x".repeat(NAME_MAX + 1);
        assert_eq!(parse(&long).unwrap_err().kind, ErrorKind::BadName);
    }

    #[test]
    fn separators_alone_are_an_empty_list() {
        assert_eq!(all("").unwrap(), []);
        assert_eq!(all(" ,;\n\t").unwrap(), []);
    }

    #[test]
    fn commands() {
        assert_eq!(command("clear\n"), Command::Clear);
        assert_eq!(command("-pci:1b36:0010"), Command::Remove("pci:1b36:0010"));
        assert_eq!(command(" pci:1b36:0010 "), Command::Add("pci:1b36:0010"));
    }

    fn any_name() -> impl Strategy<Value = String> {
        "[a-z0-9_.:-]{1,20}"
    }

    prop_compose! {
        fn any_options()(
            lazy in any::<bool>(), flush in proptest::option::of(1u32..=FLUSH_MS_MAX),
            untrusted in any::<bool>(), tracker in proptest::option::of(any::<bool>()),
            rebind in any::<bool>(), need_iommu in any::<bool>(),
            dma_bits in proptest::option::of(DMA_BITS_MIN..=DMA_BITS_MAX),
        ) -> Options {
            Options {
                lazy, flush_ms: if lazy { flush } else { None }, untrusted, tracker,
                rebind, need_iommu, dma_bits,
            }
        }
    }

    fn any_target() -> impl Strategy<Value = Target> {
        prop_oneof![
            (any::<u16>(), any::<u8>(), 0u8..32, 0u8..8).prop_map(
                |(domain, bus, slot, function)| {
                    Target::PciAddr(PciAddr {
                        domain,
                        bus,
                        slot,
                        function,
                    })
                }
            ),
            (any::<u16>(), proptest::option::of(any::<u16>()))
                .prop_map(|(vendor, device)| Target::PciId { vendor, device }),
            any_name().prop_map(|n| Target::Platform(name(&n))),
            (any_name(), proptest::option::of(any_name())).prop_map(|(a, b)| match b {
                Some(b) => Target::Of(name(&(a + "," + &b))),
                None => Target::Of(name(&a)),
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// No input panics; whatever parses prints back to text that parses
        /// to the same specs.
        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            if let Ok(v) = all(&s) {
                let text: Vec<String> = v.iter().map(|x| x.to_string()).collect();
                prop_assert_eq!(all(&text.join(",")), Ok(v));
            }
            let _ = command(&s);
        }

        /// The same on inputs made of the grammar's own pieces.
        #[test]
        fn never_panics_near_the_grammar(
            parts in proptest::collection::vec(
                proptest::sample::select(&[
                    "pci:", "platform:", "of:", ",", "/", ":", ".", "=", ";", " ", "lazy",
                    "dma_bits", "flush_ms", "1b36", "0", "*", "99999999999", "virtio",
                ][..]),
                0..24,
            )
        ) {
            let s: String = parts.concat();
            let _ = all(&s);
        }

        /// Every spec prints to text that parses back to it, alone or in a
        /// list.
        #[test]
        fn round_trip(v in proptest::collection::vec((any_target(), any_options()), 1..5)) {
            let v: Vec<Spec> = v.into_iter().map(|(target, options)| Spec { target, options }).collect();
            for s in &v {
                prop_assert_eq!(parse(&s.to_string()), Ok(*s));
            }
            let text: Vec<String> = v.iter().map(|x| x.to_string()).collect();
            prop_assert_eq!(all(&text.join(",")), Ok(v));
        }
    }
}
