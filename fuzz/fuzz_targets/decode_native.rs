//! Native decode never panics, and whatever decodes re-encodes to exactly
//! the bytes it came from (so encode accepts every frame decode returns).

#![no_main]

use libfuzzer_sys::fuzz_target;
use simplep2p::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = wire::decode(data) {
        let bytes = frame.to_vec().expect("a decoded frame encodes");
        assert_eq!(bytes, data, "{frame:?} re-encodes to other bytes");
    }
});
