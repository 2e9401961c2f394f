//! Fault injection: which calls of an injection point fail.
//!
//! rsdma's test build places injection points where it allocates or maps
//! (`iommu_map`, IOVA chunk growth, bounce pool growth, ...). Each point
//! has a [`Trigger`]. Armed with an [`Arm`] `{ nth, times }`, a trigger
//! lets `nth - 1` calls pass, fails the next `times` calls ([`FOREVER`]:
//! every call from then on) and is then spent. Its state is one atomic
//! word, so that CPUs hitting a point at once each get one decision and
//! exactly `times` calls fail.
//!
//! [`Command::parse`] reads the commands of the debugfs file that arms
//! the triggers.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// `times` that never runs out: every call fails until disarmed.
pub const FOREVER: u32 = u32::MAX;

/// When a trigger fires: the `nth` call from now (1: the next one) and the
/// `times - 1` calls after it fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arm {
    /// The first failing call, counted from 1.
    pub nth: u32,
    /// How many calls fail from there ([`FOREVER`]: all of them).
    pub times: u32,
}

/// The trigger of one injection point.
///
/// # Invariants
///
/// `state` holds the calls still to let pass in its upper 32 bits and the
/// failures still to inject in its lower 32 bits; no failures left means
/// disarmed.
pub struct Trigger {
    state: AtomicU64,
    calls: AtomicU64,
    injected: AtomicU64,
}

fn join(skip: u32, fail: u32) -> u64 {
    (u64::from(skip) << 32) | u64::from(fail)
}

fn split(state: u64) -> (u32, u32) {
    ((state >> 32) as u32, state as u32)
}

impl Default for Trigger {
    fn default() -> Self {
        Self::new()
    }
}

impl Trigger {
    /// A disarmed trigger with no calls counted.
    pub const fn new() -> Self {
        // INVARIANT: no failures left: disarmed.
        Self {
            state: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            injected: AtomicU64::new(0),
        }
    }

    /// Arms the trigger, replacing any earlier arming. An `nth` of 0 is
    /// taken as 1, `times` of 0 disarms.
    pub fn arm(&self, arm: Arm) {
        let skip = arm.nth.saturating_sub(1);
        let fail = arm.times;
        self.state
            .store(if fail == 0 { 0 } else { join(skip, fail) }, Relaxed);
    }

    /// Disarms the trigger; its counts stay.
    pub fn disarm(&self) {
        self.state.store(0, Relaxed);
    }

    /// Disarms the trigger and zeroes its counts.
    pub fn reset(&self) {
        self.disarm();
        self.calls.store(0, Relaxed);
        self.injected.store(0, Relaxed);
    }

    /// One call of the point: whether it must fail.
    pub fn hit(&self) -> bool {
        self.calls.fetch_add(1, Relaxed);
        let mut cur = self.state.load(Relaxed);
        loop {
            let (skip, fail) = split(cur);
            if fail == 0 {
                return false;
            }
            let (next, fails) = if skip > 0 {
                (join(skip - 1, fail), false)
            } else if fail == FOREVER {
                (cur, true)
            } else {
                (join(0, fail - 1), true)
            };
            if next != cur {
                if let Err(now) = self
                    .state
                    .compare_exchange_weak(cur, next, Relaxed, Relaxed)
                {
                    cur = now;
                    continue;
                }
            }
            if fails {
                self.injected.fetch_add(1, Relaxed);
            }
            return fails;
        }
    }

    /// How the trigger is armed now (`None`: disarmed or spent).
    pub fn armed(&self) -> Option<Arm> {
        match split(self.state.load(Relaxed)) {
            (_, 0) => None,
            (skip, times) => Some(Arm {
                nth: skip.saturating_add(1),
                times,
            }),
        }
    }

    /// Calls of the point since load or the last reset.
    pub fn calls(&self) -> u64 {
        self.calls.load(Relaxed)
    }

    /// Failures injected since load or the last reset.
    pub fn injected(&self) -> u64 {
        self.injected.load(Relaxed)
    }
}

/// A command of the injection file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// `POINT NTH [TIMES|all]`: arms a point (`TIMES` defaults to 1).
    Arm(&'a str, Arm),
    /// `POINT off`: disarms a point.
    Off(&'a str),
    /// `off`: disarms every point.
    AllOff,
    /// `reset`: disarms every point and zeroes the counts.
    Reset,
}

/// Why a command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// No words at all.
    Empty,
    /// `NTH` is not a number from 1 to 2^32 - 1.
    BadNth,
    /// `TIMES` is not a number from 1 to 2^32 - 2, nor `all`.
    BadTimes,
    /// Words after the command.
    TrailingWords,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "an empty command (POINT NTH [TIMES|all], POINT off, off or reset)",
            Self::BadNth => "NTH must be a number from 1 to 4294967295",
            Self::BadTimes => "TIMES must be a number from 1 to 4294967294, or all",
            Self::TrailingWords => "too many words (POINT NTH [TIMES|all])",
        })
    }
}

impl<'a> Command<'a> {
    /// Reads one command; the point's name is checked by the caller.
    pub fn parse(text: &'a str) -> Result<Self, CommandError> {
        let mut words = text.split_ascii_whitespace();
        let first = words.next().ok_or(CommandError::Empty)?;
        let cmd = match (first, words.next()) {
            ("off", None) => Command::AllOff,
            ("reset", None) => Command::Reset,
            (point, Some("off")) => Command::Off(point),
            (point, Some(nth)) => {
                let nth = nth
                    .parse::<u32>()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or(CommandError::BadNth)?;
                let times = match words.next() {
                    None => 1,
                    Some("all") => FOREVER,
                    Some(t) => t
                        .parse::<u32>()
                        .ok()
                        .filter(|&t| t >= 1 && t != FOREVER)
                        .ok_or(CommandError::BadTimes)?,
                };
                Command::Arm(point, Arm { nth, times })
            }
            (_, None) => return Err(CommandError::BadNth),
        };
        match words.next() {
            Some(_) => Err(CommandError::TrailingWords),
            None => Ok(cmd),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn pattern(t: &Trigger, n: usize) -> Vec<bool> {
        (0..n).map(|_| t.hit()).collect()
    }

    #[test]
    fn disarmed_never_fails_and_counts_calls() {
        let t = Trigger::new();
        assert!(pattern(&t, 5).iter().all(|f| !f));
        assert_eq!((t.calls(), t.injected()), (5, 0));
        assert_eq!(t.armed(), None);
    }

    #[test]
    fn nth_then_times_then_spent() {
        let t = Trigger::new();
        t.arm(Arm { nth: 3, times: 2 });
        assert_eq!(t.armed(), Some(Arm { nth: 3, times: 2 }));
        assert_eq!(
            pattern(&t, 7),
            [false, false, true, true, false, false, false]
        );
        assert_eq!((t.calls(), t.injected()), (7, 2));
        assert_eq!(t.armed(), None);
    }

    #[test]
    fn first_call_and_forever() {
        let t = Trigger::new();
        t.arm(Arm {
            nth: 1,
            times: FOREVER,
        });
        assert!(pattern(&t, 100).iter().all(|&f| f));
        assert_eq!(
            t.armed(),
            Some(Arm {
                nth: 1,
                times: FOREVER
            })
        );
        t.disarm();
        assert!(!t.hit());
        assert_eq!(t.injected(), 100);
        t.reset();
        assert_eq!((t.calls(), t.injected()), (0, 0));
    }

    #[test]
    fn rearming_replaces_and_zero_times_disarms() {
        let t = Trigger::new();
        t.arm(Arm { nth: 10, times: 1 });
        t.arm(Arm { nth: 1, times: 1 });
        assert!(t.hit());
        t.arm(Arm { nth: 1, times: 0 });
        assert!(!t.hit());
        t.arm(Arm { nth: 0, times: 1 });
        assert!(t.hit());
    }

    #[test]
    fn concurrent_hits_inject_exactly_what_was_armed() {
        let t = Trigger::new();
        t.arm(Arm {
            nth: 500,
            times: 1000,
        });
        let fails: usize = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..10_000).filter(|_| t.hit()).count()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        assert_eq!(fails, 1000);
        assert_eq!((t.calls(), t.injected()), (40_000, 1000));
    }

    #[test]
    fn commands() {
        let arm = |nth, times| Arm { nth, times };
        assert_eq!(
            Command::parse("iommu_map 3"),
            Ok(Command::Arm("iommu_map", arm(3, 1)))
        );
        assert_eq!(
            Command::parse(" iova_grow 1 5\n"),
            Ok(Command::Arm("iova_grow", arm(1, 5)))
        );
        assert_eq!(
            Command::parse("bounce_grow 2 all"),
            Ok(Command::Arm("bounce_grow", arm(2, FOREVER)))
        );
        assert_eq!(Command::parse("tracker off"), Ok(Command::Off("tracker")));
        assert_eq!(Command::parse("off"), Ok(Command::AllOff));
        assert_eq!(Command::parse("reset\n"), Ok(Command::Reset));
        assert_eq!(Command::parse(" \n"), Err(CommandError::Empty));
        assert_eq!(Command::parse("x"), Err(CommandError::BadNth));
        assert_eq!(Command::parse("x 0"), Err(CommandError::BadNth));
        assert_eq!(Command::parse("x -1"), Err(CommandError::BadNth));
        assert_eq!(Command::parse("x 4294967296"), Err(CommandError::BadNth));
        assert_eq!(Command::parse("x 1 0"), Err(CommandError::BadTimes));
        assert_eq!(
            Command::parse("x 1 4294967295"),
            Err(CommandError::BadTimes)
        );
        assert_eq!(Command::parse("x 1 many"), Err(CommandError::BadTimes));
        assert_eq!(Command::parse("x 1 1 1"), Err(CommandError::TrailingWords));
        assert_eq!(Command::parse("off now"), Err(CommandError::BadNth));
    }
}
