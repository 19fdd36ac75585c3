//! Any bytes as a capture file: the pcap/pcapng reader must end in frames or
//! an error, never a panic or an endless loop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orbital_capture::Capture;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Capture::from_bytes(data.to_vec()) {
        let _ = c.linktype();
        for f in c.frames() {
            if let Ok(f) = f {
                assert!(f.data.len() <= data.len());
            }
        }
    }
});
