//! PEM (RFC 7468) encoding and decoding of the few labels Tollgate reads and
//! writes. Hand-rolled on purpose: it is small, it never panics, and it only
//! accepts the strict textual encoding (§3) plus surrounding text.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::JoseError;

/// Refuse absurd inputs before decoding: no key or certificate we accept
/// comes close (an RSA-8192 PKCS#8 key is under 7 KiB of PEM).
const MAX_PEM: usize = 256 * 1024;

/// One decoded PEM block: its label and DER contents.
pub(crate) struct Block {
    pub label: String,
    pub der: Vec<u8>,
}

/// Every block in `text`, in order. Text outside the blocks (comments,
/// "Bag Attributes" written by openssl) is ignored, as RFC 7468 §2 allows.
pub(crate) fn decode_all(text: &str) -> Result<Vec<Block>, JoseError> {
    if text.len() > MAX_PEM {
        return Err(JoseError::Pem("the PEM text is too large".into()));
    }
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for l in lines.by_ref() {
            if l == end {
                closed = true;
                break;
            }
            if l.starts_with("-----") {
                break;
            }
            body.push_str(l);
        }
        if !closed {
            return Err(JoseError::Pem(format!("the {label} block is not closed")));
        }
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|_| JoseError::Pem(format!("the {label} block is not valid base64")))?;
        blocks.push(Block {
            label: label.to_owned(),
            der,
        });
    }
    if blocks.is_empty() {
        return Err(JoseError::Pem("no PEM block found".into()));
    }
    Ok(blocks)
}

/// The first block, which must be the only one carrying key material.
pub(crate) fn decode_one(text: &str) -> Result<Block, JoseError> {
    let mut blocks = decode_all(text)?;
    // Certificate files may carry a chain; the first one is the leaf.
    Ok(blocks.remove(0))
}

/// RFC 7468 §3: base64 lines of 64 characters between the boundaries.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let der: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let pem = encode("PRIVATE KEY", &der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        let b = decode_one(&format!("junk before\n{pem}junk after")).unwrap();
        assert_eq!(b.label, "PRIVATE KEY");
        assert_eq!(b.der, der);
    }

    #[test]
    fn refuses_broken_blocks() {
        assert!(decode_all("no pem here").is_err());
        assert!(decode_all("-----BEGIN X-----\nAAAA\n").is_err());
        assert!(decode_all("-----BEGIN X-----\n!!!!\n-----END X-----\n").is_err());
        assert!(decode_all("-----BEGIN X-----\nAAAA\n-----END Y-----\n").is_err());
    }
}
