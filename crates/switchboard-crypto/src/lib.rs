//! Sealing credentials at rest with AES-256-GCM.
//!
//! A sealed value is `0x01 | key-id length | key id | 12-byte nonce | ciphertext+tag`. The key
//! id lets old values open after the current key changes (rotation: add a key, make it
//! current, keep the old one until everything is re-sealed). The record's id is the associated
//! data, so a ciphertext copied onto another account does not open.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use zeroize::Zeroizing;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// Why sealing or opening failed. Never carries key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("sealing key {0:?} is not configured")]
    UnknownKey(String),
    #[error("sealing key {0:?} must be 32 bytes of base64")]
    BadKey(String),
    #[error("no current sealing key is configured")]
    NoCurrentKey,
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value does not open (wrong key or record, or tampered)")]
    Open,
}

/// Opens and seals with a set of keys, sealing with the current one.
#[derive(Clone)]
pub struct Sealer {
    keys: BTreeMap<String, Aes256Gcm>,
    /// Per key id, a MAC key derived from it (never the sealing key itself).
    mac_keys: BTreeMap<String, Zeroizing<[u8; 32]>>,
    current: String,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("current", &self.current)
            .finish()
    }
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut block = Zeroizing::new([0u8; 64]);
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.iter().map(|b| b ^ 0x36).collect::<Vec<u8>>());
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(block.iter().map(|b| b ^ 0x5c).collect::<Vec<u8>>());
    outer.update(inner);
    outer.finalize().into()
}

/// A fresh random key, base64 (for `crypto.keys`).
pub fn generate_key() -> String {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(key.as_mut());
    STANDARD.encode(key.as_ref())
}

impl Sealer {
    /// Builds a sealer from `key id → base64 key` and the id of the key new values are sealed
    /// with.
    pub fn new(keys: &BTreeMap<String, String>, current: &str) -> Result<Sealer, CryptoError> {
        let mut ciphers = BTreeMap::new();
        let mut mac_keys = BTreeMap::new();
        for (id, b64) in keys {
            if id.is_empty() || id.len() > 255 {
                return Err(CryptoError::BadKey(id.clone()));
            }
            let raw = Zeroizing::new(
                STANDARD
                    .decode(b64.trim())
                    .map_err(|_| CryptoError::BadKey(id.clone()))?,
            );
            if raw.len() != 32 {
                return Err(CryptoError::BadKey(id.clone()));
            }
            let key = Key::<Aes256Gcm>::from_slice(&raw);
            ciphers.insert(id.clone(), Aes256Gcm::new(key));
            let mut derived = Zeroizing::new([0u8; 32]);
            derived.copy_from_slice(&hmac_sha256(&raw, b"switchboard mac key v1"));
            mac_keys.insert(id.clone(), derived);
        }
        if current.is_empty() {
            return Err(CryptoError::NoCurrentKey);
        }
        if !ciphers.contains_key(current) {
            return Err(CryptoError::UnknownKey(current.to_owned()));
        }
        Ok(Sealer {
            keys: ciphers,
            mac_keys,
            current: current.to_owned(),
        })
    }

    /// HMAC-SHA256 of `message` under the MAC key derived from key `key_id` (the current key
    /// when `None`): the key id used and the tag, or `None` for an unknown key id. Lets the
    /// platform issue tokens it can check later without storing them.
    pub fn mac(&self, key_id: Option<&str>, message: &[u8]) -> Option<(&str, [u8; 32])> {
        let id = key_id.unwrap_or(&self.current);
        let (id, key) = self.mac_keys.get_key_value(id)?;
        Some((id.as_str(), hmac_sha256(key.as_ref(), message)))
    }

    /// Seals `plaintext` for the record `record_id`.
    pub fn seal(&self, plaintext: &[u8], record_id: &str) -> Result<Vec<u8>, CryptoError> {
        let cipher = self
            .keys
            .get(&self.current)
            .ok_or_else(|| CryptoError::UnknownKey(self.current.clone()))?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: record_id.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Open)?;
        let kid = self.current.as_bytes();
        let mut out = Vec::with_capacity(2 + kid.len() + NONCE_LEN + ciphertext.len());
        out.push(VERSION);
        out.push(u8::try_from(kid.len()).map_err(|_| CryptoError::BadKey(self.current.clone()))?);
        out.extend_from_slice(kid);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Opens a value sealed for `record_id`; the plaintext is wiped when dropped.
    pub fn open(&self, sealed: &[u8], record_id: &str) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let (&version, rest) = sealed.split_first().ok_or(CryptoError::Malformed)?;
        if version != VERSION {
            return Err(CryptoError::Malformed);
        }
        let (&kid_len, rest) = rest.split_first().ok_or(CryptoError::Malformed)?;
        let (kid, rest) = rest
            .split_at_checked(usize::from(kid_len))
            .ok_or(CryptoError::Malformed)?;
        let (nonce, ciphertext) = rest
            .split_at_checked(NONCE_LEN)
            .ok_or(CryptoError::Malformed)?;
        let kid = std::str::from_utf8(kid).map_err(|_| CryptoError::Malformed)?;
        let cipher = self
            .keys
            .get(kid)
            .ok_or_else(|| CryptoError::UnknownKey(kid.to_owned()))?;
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: record_id.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Open)
    }
}

#[cfg(test)]
mod hmac_tests {
    #![allow(clippy::unwrap_used)]
    use super::hmac_sha256;

    #[test]
    fn hmac_matches_rfc4231_test_cases() {
        // Test case 2.
        let tag = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            tag.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        let tag = hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            tag.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sealer(keys: &[(&str, &str)], current: &str) -> Sealer {
        let map = keys
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Sealer::new(&map, current).unwrap()
    }

    #[test]
    fn seals_and_opens_for_the_same_record_only() {
        let k = generate_key();
        let s = sealer(&[("k1", &k)], "k1");
        let sealed = s.seal(b"ghp_secret", "ca_1").unwrap();
        assert!(!sealed.windows(10).any(|w| w == b"ghp_secret"));
        assert_eq!(s.open(&sealed, "ca_1").unwrap().as_slice(), b"ghp_secret");
        assert_eq!(s.open(&sealed, "ca_2").unwrap_err(), CryptoError::Open);
    }

    #[test]
    fn tampering_is_detected() {
        let s = sealer(&[("k1", &generate_key())], "k1");
        let mut sealed = s.seal(b"x", "ca_1").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(s.open(&sealed, "ca_1").unwrap_err(), CryptoError::Open);
        assert_eq!(s.open(&[], "ca_1").unwrap_err(), CryptoError::Malformed);
        assert_eq!(
            s.open(&[1, 200, 1], "ca_1").unwrap_err(),
            CryptoError::Malformed
        );
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let (old, new) = (generate_key(), generate_key());
        let before = sealer(&[("k1", &old)], "k1");
        let sealed = before.seal(b"token", "ca_1").unwrap();
        let after = sealer(&[("k1", &old), ("k2", &new)], "k2");
        assert_eq!(after.open(&sealed, "ca_1").unwrap().as_slice(), b"token");
        let resealed = after.seal(b"token", "ca_1").unwrap();
        assert_eq!(
            before.open(&resealed, "ca_1").unwrap_err(),
            CryptoError::UnknownKey("k2".into())
        );
    }

    #[test]
    fn bad_configuration_is_refused() {
        let map = |k: &str, v: &str| [(k.to_string(), v.to_string())].into_iter().collect();
        assert_eq!(
            Sealer::new(&map("k1", "c2hvcnQ="), "k1").unwrap_err(),
            CryptoError::BadKey("k1".into())
        );
        assert_eq!(
            Sealer::new(&map("k1", &generate_key()), "k2").unwrap_err(),
            CryptoError::UnknownKey("k2".into())
        );
        assert_eq!(
            Sealer::new(&BTreeMap::new(), "").unwrap_err(),
            CryptoError::NoCurrentKey
        );
        let debug = format!("{:?}", sealer(&[("k1", &generate_key())], "k1"));
        assert_eq!(debug, "Sealer { key_ids: [\"k1\"], current: \"k1\" }");
    }
}
