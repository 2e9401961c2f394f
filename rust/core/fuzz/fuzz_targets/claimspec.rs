//! Fuzz the claim-spec parser: never panics, and whatever parses prints
//! back to text that parses to the same specs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rsdma_core::claimspec::{command, specs, Spec};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = core::str::from_utf8(data) else {
        return;
    };
    let _ = command(s);
    if let Ok(v) = specs(s).collect::<Result<Vec<Spec>, _>>() {
        let text: Vec<String> = v.iter().map(|x| x.to_string()).collect();
        let again: Vec<Spec> = specs(&text.join(",")).collect::<Result<_, _>>().unwrap();
        assert_eq!(v, again);
    }
});
