//! The gateway's own key (LiteLLM's `general_settings.master_key`): clients present it as
//! `Authorization: Bearer KEY` or `x-api-key: KEY`. The filter knows only a salted digest,
//! HMAC-SHA-256(key = salt, message = the master key), and compares in constant time.
//!
//! The salt is random per `render` and per `serve` process, so a config dump matches no
//! precomputed table and two gateways with one key publish different digests. It does not stop
//! a dictionary attack on a weak key by someone who holds the dump (the salt is next to the
//! digest): the defence is a long random key, which `validate` asks for.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::RequestError;

/// Shortest salt the filter accepts (bytes).
pub const MIN_SALT_BYTES: usize = 16;

/// What the filter holds of the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterKeyDigest {
    pub salt: Vec<u8>,
    pub hmac_sha256: [u8; 32],
}

impl MasterKeyDigest {
    /// The digest of `key` under `salt` (what the control plane publishes).
    pub fn of(salt: &[u8], key: &str) -> MasterKeyDigest {
        MasterKeyDigest { salt: salt.to_vec(), hmac_sha256: hmac_sha256(salt, key) }
    }

    /// Whether `presented` is the key, in time that does not depend on where it differs.
    pub fn matches(&self, presented: &str) -> bool {
        // HMAC accepts a key (here: the salt) of any length.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.salt) else { return false };
        mac.update(presented.as_bytes());
        mac.verify_slice(&self.hmac_sha256).is_ok()
    }
}

/// HMAC-SHA-256 of `key` with `salt` as the HMAC key.
pub fn hmac_sha256(salt: &[u8], key: &str) -> [u8; 32] {
    match Hmac::<Sha256>::new_from_slice(salt) {
        Ok(mut mac) => {
            mac.update(key.as_bytes());
            mac.finalize().into_bytes().into()
        }
        // Unreachable (HMAC takes keys of any length); an all-zero digest matches no key.
        Err(_) => [0; 32],
    }
}

/// Checks the presented credentials against the key's digest.
pub fn check(
    expected: &MasterKeyDigest,
    authorization: Option<&str>,
    x_api_key: Option<&str>,
) -> Result<(), RequestError> {
    let bearer = authorization.and_then(|v| {
        let v = v.trim();
        v.get(..7).filter(|p| p.eq_ignore_ascii_case("bearer ")).map(|_| v[7..].trim())
    });
    let presented = [bearer, x_api_key.map(str::trim)];
    if presented.iter().flatten().any(|key| expected.matches(key)) {
        return Ok(());
    }
    let message = if presented.iter().all(Option::is_none) {
        "this gateway needs a key: send Authorization: Bearer KEY or x-api-key: KEY"
    } else {
        "the key presented is not valid for this gateway"
    };
    Err(RequestError {
        status: 401,
        kind: "authentication_error",
        code: "invalid_api_key",
        message: message.into(),
        param: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    const SALT: &[u8; 16] = b"0123456789abcdef";

    fn digest(key: &str) -> MasterKeyDigest {
        MasterKeyDigest::of(SALT, key)
    }

    #[test]
    fn bearer_or_x_api_key_is_accepted() {
        let d = digest("sk-gateway");
        assert!(check(&d, Some("Bearer sk-gateway"), None).is_ok());
        assert!(check(&d, Some("bearer   sk-gateway "), None).is_ok());
        assert!(check(&d, None, Some("sk-gateway")).is_ok());
        assert!(check(&d, Some("Bearer wrong"), Some("sk-gateway")).is_ok());
    }

    #[test]
    fn missing_or_wrong_keys_are_401() {
        let d = digest("sk-gateway");
        for (auth, key) in [
            (None, None),
            (Some("Bearer nope"), None),
            (Some("sk-gateway"), None),
            (Some("Basic c2s="), None),
            (None, Some("")),
        ] {
            let e = check(&d, auth, key).unwrap_err();
            assert_eq!((e.status, e.code), (401, "invalid_api_key"));
            assert!(!e.message.contains("sk-gateway"));
        }
    }

    #[test]
    fn the_digest_is_salted_hmac_not_plain_sha256() {
        let d = digest("sk-gateway");
        let plain: [u8; 32] = Sha256::digest(b"sk-gateway").into();
        assert_ne!(d.hmac_sha256, plain, "an unsalted SHA-256 would be a dictionary lookup away");
        // RFC 4231 test case 2: HMAC-SHA-256(key "Jefe", "what do ya want for nothing?").
        let rfc = hmac_sha256(b"Jefe", "what do ya want for nothing?");
        let hex: String = rfc.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let other_salt = MasterKeyDigest::of(b"fedcba9876543210", "sk-gateway");
        assert_ne!(other_salt.hmac_sha256, d.hmac_sha256, "each salt gives its own digest");
        assert!(!other_salt.matches("sk-gateway ") && other_salt.matches("sk-gateway"));
    }
}
