//! Parse, don't validate: these constructors are the only way to get checked user input.
//!
//! The API's OpenAPI document states each rule as a JSON Schema (lengths in characters, and
//! patterns whose whitespace class is exactly Rust's `char::is_whitespace`), so the rules here
//! are written to be expressible that way: lengths count the value as sent, before any trimming.

use crate::ValidationError;

/// A username: 1-20 characters, no whitespace or control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let count = raw.chars().count();
        if count == 0 || count > 20 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ValidationError::Username);
        }
        Ok(Username(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A plain-text password of 8-20 characters. Its Debug never shows the value.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let count = raw.chars().count();
        if !(8..=20).contains(&count) {
            return Err(ValidationError::PasswordLength);
        }
        Ok(Password(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// An email address: one `@` with something on both sides, a dot inside the domain, no
/// whitespace, at most 50 characters. An empty string means "no email" and is handled by the
/// caller.
pub fn parse_email(raw: &str) -> Result<String, ValidationError> {
    let (local, domain) = raw.split_once('@').ok_or(ValidationError::Email)?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && raw.chars().count() <= 50
        && !raw.chars().any(char::is_whitespace);
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ValidationError::Email)
    }
}

/// A display name: at most 20 characters (empty allowed, then the username is shown).
pub fn parse_display_name(raw: &str) -> Result<String, ValidationError> {
    if raw.chars().count() > 20 {
        return Err(ValidationError::DisplayName);
    }
    Ok(raw.trim().to_owned())
}

/// A required name (token, channel, redemption): 1..=max characters as sent, not only
/// whitespace; kept without surrounding whitespace.
pub fn parse_name(raw: &str, max: usize) -> Result<String, ValidationError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || raw.chars().count() > max {
        return Err(ValidationError::Name { max });
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_bounds() {
        assert!(Username::parse("alice").is_ok());
        assert!(Username::parse(&"a".repeat(20)).is_ok());
        assert_eq!(
            Username::parse(&"a".repeat(21)),
            Err(ValidationError::Username)
        );
        assert_eq!(Username::parse(""), Err(ValidationError::Username));
        assert_eq!(Username::parse("a b"), Err(ValidationError::Username));
        assert!(Username::parse("用户名").is_ok());
    }

    #[test]
    fn password_bounds_count_characters() {
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"x".repeat(20)).is_ok());
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse(&"x".repeat(21)).is_err());
        assert!(Password::parse("密码密码密码密码").is_ok());
    }

    #[test]
    fn password_debug_is_redacted() {
        let p = Password::parse("supersecret").unwrap_or_else(|_| unreachable!());
        assert!(!format!("{p:?}").contains("supersecret"));
    }

    #[test]
    fn emails() {
        assert_eq!(parse_email("a@b.co"), Ok("a@b.co".to_owned()));
        assert!(parse_email(&format!("{}@b.co", "é".repeat(45))).is_ok());
        for bad in [
            "ab.co", "@b.co", "a@b", "a@.b", "a@b.", "a b@c.d", "a@b@c.d", " a@b.co", "a@b.co\n",
        ] {
            assert_eq!(parse_email(bad), Err(ValidationError::Email), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(parse_name("  x ", 5), Ok("x".to_owned()));
        assert!(parse_name("   ", 5).is_err());
        assert!(parse_name("123456", 5).is_err());
        assert!(
            parse_name("12345 ", 5).is_err(),
            "the length counts what was sent"
        );
        assert!(parse_display_name(&"y".repeat(21)).is_err());
    }
}

/// Parses an IP allow-list (IPs or CIDRs, separated by commas, spaces or newlines) into its
/// normalised comma-separated form. Empty means "any address".
pub fn parse_ip_list(raw: &str) -> Result<String, ValidationError> {
    let mut out = Vec::new();
    for item in raw
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let ok = item.parse::<std::net::IpAddr>().is_ok() || item.parse::<ipnet::IpNet>().is_ok();
        if !ok {
            return Err(ValidationError::Field {
                field: "allow_ips",
                reason: format!("{item} is not an IP address or CIDR"),
            });
        }
        out.push(item.to_owned());
    }
    Ok(out.join(","))
}

#[cfg(test)]
mod ip_tests {
    use super::*;

    #[test]
    fn ip_lists() {
        assert_eq!(
            parse_ip_list("1.2.3.4\n10.0.0.0/8, ::1"),
            Ok("1.2.3.4,10.0.0.0/8,::1".to_owned())
        );
        assert_eq!(parse_ip_list(""), Ok(String::new()));
        assert!(parse_ip_list("1.2.3.4, nope").is_err());
    }
}
