//! The gateway's own key (LiteLLM's `general_settings.master_key`): clients present it as
//! `Authorization: Bearer KEY` or `x-api-key: KEY`. The filter only knows its SHA-256, and
//! compares digests in constant time.

use sha2::{Digest, Sha256};

use crate::RequestError;

/// Checks the presented credentials against the key's digest.
pub fn check(
    expected_sha256: &[u8; 32],
    authorization: Option<&str>,
    x_api_key: Option<&str>,
) -> Result<(), RequestError> {
    let bearer = authorization.and_then(|v| {
        let v = v.trim();
        v.get(..7).filter(|p| p.eq_ignore_ascii_case("bearer ")).map(|_| v[7..].trim())
    });
    let presented = [bearer, x_api_key.map(str::trim)];
    if presented.iter().flatten().any(|key| constant_time_eq(&Sha256::digest(key.as_bytes()).into(), expected_sha256)) {
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

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(key: &str) -> [u8; 32] {
        Sha256::digest(key.as_bytes()).into()
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
}
