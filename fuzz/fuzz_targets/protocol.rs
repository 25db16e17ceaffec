//! The wire-protocol decoder (`quill_protocol::protocol::decode`), fed
//! arbitrary bytes as either end of a daemon connection would read them:
//! it never panics; `Ok(None)` consumes nothing; every frame it returns
//! consumed bytes, and encodes back to one frame that decodes to itself.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use quill_protocol::protocol::{decode, encode};

fuzz_target!(|data: &[u8]| {
    let mut src = BytesMut::from(data);
    loop {
        let before = src.len();
        match decode(&mut src) {
            Ok(Some(frame)) => {
                assert!(src.len() < before, "a frame that consumed nothing");
                let mut again = BytesMut::new();
                encode(&frame, &mut again);
                let round = decode(&mut again)
                    .expect("a re-encoded frame decodes")
                    .expect("a re-encoded frame is whole");
                assert_eq!(round, frame);
                assert!(again.is_empty(), "one frame encodes to one frame");
            }
            Ok(None) => {
                assert_eq!(src.len(), before, "an incomplete frame consumed bytes");
                break;
            }
            Err(_) => break,
        }
    }
});
