//! Secrets the gateway hands out: API keys, access tokens, redemption codes, invitation codes.
//! API keys and access tokens are stored only as SHA-256 digests.

use rand::RngExt;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

/// `len` characters of [0-9A-Za-z] from the thread-local CSPRNG.
pub fn random_alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Lowercase hex SHA-256 of `secret`: what the database stores for keys and access tokens.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A freshly generated API key. Its Debug never shows the secret.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub const PREFIX: &'static str = "sk-";
    pub const BODY_LEN: usize = 48;

    pub fn generate() -> Self {
        ApiKey(format!(
            "{}{}",
            Self::PREFIX,
            random_alphanumeric(Self::BODY_LEN)
        ))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> String {
        digest(&self.0)
    }

    /// Display form: `sk-abcd...wxyz`.
    pub fn mask(&self) -> String {
        mask_key(&self.0)
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey({})", self.mask())
    }
}

/// Masks a key for display: the prefix, four characters, `...`, the last four.
pub fn mask_key(key: &str) -> String {
    let body = key.strip_prefix(ApiKey::PREFIX).unwrap_or(key);
    let chars: Vec<char> = body.chars().collect();
    if chars.len() <= 8 {
        return format!("{}{}", ApiKey::PREFIX, "*".repeat(chars.len()));
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{}{head}...{tail}", ApiKey::PREFIX)
}

/// A 32-character access token for the management API.
pub fn generate_access_token() -> String {
    random_alphanumeric(32)
}

/// A 32-character redemption code.
pub fn generate_redemption_key() -> String {
    random_alphanumeric(32)
}

/// A 6-character invitation (affiliate) code.
pub fn generate_aff_code() -> String {
    random_alphanumeric(6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_shape() {
        let key = ApiKey::generate();
        let s = key.expose();
        assert!(s.starts_with("sk-"));
        assert_eq!(s.len(), 51);
        assert!(s[3..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(ApiKey::generate().expose(), s);
    }

    #[test]
    fn api_key_debug_and_mask_hide_secret() {
        let key = ApiKey::generate();
        let body = &key.expose()[3..];
        let mask = key.mask();
        assert!(mask.starts_with(&format!("sk-{}...", &body[..4])));
        assert!(mask.ends_with(&body[body.len() - 4..]));
        assert!(!format!("{key:?}").contains(body));
        assert!(!mask.contains(&body[4..44]));
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn other_secrets_lengths() {
        assert_eq!(generate_access_token().len(), 32);
        assert_eq!(generate_redemption_key().len(), 32);
        assert_eq!(generate_aff_code().len(), 6);
    }
}
