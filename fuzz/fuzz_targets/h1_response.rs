//! The direct client's HTTP/1.1 response framing (a model server's bytes
//! are untrusted input): the head, then the body decoded in pieces of a
//! size the first byte picks, as reads would deliver it. Checks that the
//! decoder never takes more than it was given, never yields more body
//! than arrived, and that a finished `Content-Length` body is that long.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simba_run::lm::openai::h1::{BodyDecoder, Framing, parse_head};

fuzz_target!(|data: &[u8]| {
    let Some((&step, bytes)) = data.split_first() else {
        return;
    };
    let Ok(Some((head, used))) = parse_head(bytes) else {
        return;
    };
    assert!(used <= bytes.len());
    let body = &bytes[used..];
    let mut decoder = BodyDecoder::new(head.framing);
    let mut out = 0usize;
    let mut pending: Vec<u8> = Vec::new();
    for piece in body.chunks(usize::from(step).max(1)) {
        pending.extend_from_slice(piece);
        let Ok(took) = decoder.decode(&pending, &mut |b| {
            out += b.len();
            true
        }) else {
            return;
        };
        assert!(took <= pending.len());
        pending.drain(..took);
        if decoder.is_done() {
            break;
        }
    }
    assert!(out <= body.len());
    if let (Framing::Length(n), true) = (head.framing, decoder.is_done()) {
        assert_eq!(out as u64, n);
    }
    let _ = decoder.finish_at_close();
});
