//! A probed response's body as blackbox_exporter reads it: decompressed where the module
//! names a `compression`, and no longer than its `body_size_limit`. What was read before a
//! failure still counts toward `probe_http_uncompressed_body_length`.

use std::io::Read;

use hyper::body::Bytes;

use super::config::Compression;
use super::outcome::ProbeError;

/// The decompressed body never grows past this without a `body_size_limit`: a probe checks
/// health, and a small compressed answer can unpack to gigabytes.
pub const MAX_BODY: usize = 10 << 20;

/// The body of `raw` as the module reads it, and why reading it failed, if it did.
pub fn read(
    raw: Bytes,
    compression: Option<Compression>,
    limit: Option<usize>,
) -> (Bytes, Option<ProbeError>) {
    let cap = limit.unwrap_or(MAX_BODY);
    let too_large = || match limit {
        Some(limit) => ProbeError::BodyTooLarge(limit),
        None => ProbeError::Body(format!("longer than {MAX_BODY} bytes")),
    };
    let decoder: Box<dyn Read + '_> = match compression {
        None | Some(Compression::Identity) => {
            return if raw.len() > cap {
                (raw.slice(..cap), Some(too_large()))
            } else {
                (raw, None)
            };
        }
        Some(Compression::Gzip) => Box::new(flate2::read::GzDecoder::new(&raw[..])),
        Some(Compression::Deflate) => Box::new(flate2::read::DeflateDecoder::new(&raw[..])),
        Some(Compression::Br) => Box::new(brotli_decompressor::Decompressor::new(&raw[..], 4096)),
    };
    let mut body = Vec::new();
    // One byte past the cap tells a body at the cap from a longer one.
    let result = decoder.take(cap as u64 + 1).read_to_end(&mut body);
    let error = match result {
        Err(e) => Some(ProbeError::Body(format!(
            "not {} compressed: {e}",
            compression.map_or("", Compression::name)
        ))),
        Ok(_) if body.len() > cap => {
            body.truncate(cap);
            Some(too_large())
        }
        Ok(_) => None,
    };
    (Bytes::from(body), error)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Bytes {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        Bytes::from(encoder.finish().unwrap())
    }

    #[test]
    fn a_compressed_body_is_read_decompressed_within_its_limit() {
        let text = b"status: healthy\n".repeat(100);
        let (body, error) = read(gzip(&text), Some(Compression::Gzip), None);
        assert_eq!((body.as_ref(), error.is_none()), (&text[..], true));

        let (body, error) = read(gzip(&text), Some(Compression::Gzip), Some(1000));
        assert_eq!(body.len(), 1000);
        assert!(
            matches!(error, Some(ProbeError::BodyTooLarge(1000))),
            "{error:?}"
        );
        // Exactly at the limit is within it.
        let (body, error) = read(gzip(&text), Some(Compression::Gzip), Some(text.len()));
        assert_eq!((body.len(), error.is_none()), (text.len(), true));
    }

    #[test]
    fn a_body_not_compressed_as_named_fails_and_a_plain_one_is_cut_at_its_limit() {
        let plain = Bytes::from_static(b"status: healthy\n");
        let (_, error) = read(plain.clone(), Some(Compression::Gzip), None);
        assert!(
            error.is_some_and(|e| e.to_string().contains("not gzip compressed")),
            "a plain body read as gzip"
        );
        let (body, error) = read(plain.clone(), None, Some(6));
        assert_eq!(body.as_ref(), b"status");
        assert!(matches!(error, Some(ProbeError::BodyTooLarge(6))));
        let (body, error) = read(plain.clone(), Some(Compression::Identity), None);
        assert_eq!((body, error.is_none()), (plain, true));
    }

    #[test]
    fn a_compression_bomb_stops_at_the_cap() {
        let zeros = vec![0u8; MAX_BODY + 4096];
        let (body, error) = read(gzip(&zeros), Some(Compression::Gzip), None);
        assert_eq!(body.len(), MAX_BODY);
        assert!(error.is_some());
    }
}
