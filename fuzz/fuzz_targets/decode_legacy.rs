//! Legacy decode never panics, and whatever decodes re-encodes, to text
//! that decodes to the same datagram (not always to the input's bytes:
//! legacy text takes any run of whitespace and either case of hex). A
//! decoded message can be answered.

#![no_main]

use libfuzzer_sys::fuzz_target;
use simplep2p::wire::legacy::{self, Legacy};

fuzz_target!(|data: &[u8]| {
    if let Ok(datagram) = legacy::decode(data) {
        let bytes = legacy::try_encode(&datagram).expect("a decoded datagram encodes");
        assert_eq!(legacy::decode(&bytes), Ok(datagram));
        if let Legacy::Message { sender, text } = datagram {
            let answer = Legacy::Response { sender, peer: sender, text };
            legacy::try_encode(&answer).expect("a decoded message can be answered");
        }
    }
});
