//! Masking of an upstream's error text before a caller sees it: the channel's key, anything
//! that looks like a key (`sk-...`, `Bearer ...`), the channel's host and any IP address are
//! replaced by `***`. The full text goes to the log only.

use crate::routing::ChannelInfo;

const MASK: &str = "***";

/// `message` with the channel's secrets and addresses masked.
pub(crate) fn mask(message: &str, channel: &ChannelInfo) -> String {
    let mut out = message.to_owned();
    for key in channel
        .key
        .split(['\n', ','])
        .map(str::trim)
        .filter(|k| k.len() >= 4)
    {
        out = out.replace(key, MASK);
    }
    if let Some(host) = host_of(&channel.base_url) {
        // The host with its port first, then the bare name.
        out = replace_ignore_case(&out, host);
        let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
        if name.len() >= 3 {
            out = replace_ignore_case(&out, name);
        }
    }
    let out = mask_runs(&out, "sk-", 6);
    let out = mask_after(&out, "bearer ");
    mask_ips(&out)
}

/// The host (and port) of a base URL.
fn host_of(base_url: &str) -> Option<&str> {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host.is_empty()).then_some(host)
}

fn replace_ignore_case(text: &str, needle: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(pos) = lower[at..].find(&needle) {
        out.push_str(&text[at..at + pos]);
        out.push_str(MASK);
        at += pos + needle.len();
    }
    out.push_str(&text[at..]);
    out
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Masks `prefix` followed by at least `min` key characters, prefix included.
fn mask_runs(text: &str, prefix: &str, min: usize) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(prefix) {
        let after = &rest[pos + prefix.len()..];
        let run = after.find(|c| !is_key_char(c)).unwrap_or(after.len());
        out.push_str(&rest[..pos]);
        if run >= min {
            out.push_str(MASK);
        } else {
            out.push_str(&rest[pos..pos + prefix.len() + run]);
        }
        rest = &after[run..];
    }
    out.push_str(rest);
    out
}

/// Masks the word after `scheme` (matched in any case), the scheme included.
fn mask_after(text: &str, scheme: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(pos) = lower[at..].find(scheme) {
        let start = at + pos;
        let after = &text[start + scheme.len()..];
        let word = after.find(char::is_whitespace).unwrap_or(after.len());
        out.push_str(&text[at..start]);
        out.push_str(MASK);
        at = start + scheme.len() + word;
    }
    out.push_str(&text[at..]);
    out
}

/// Masks dotted IPv4 addresses (with a port when one follows) and IPv6 addresses.
fn mask_ips(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        let bare = token.trim_matches(|c| c == '[' || c == ']');
        let host = bare
            .rsplit_once(':')
            .filter(|(h, p)| {
                !p.is_empty()
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && h.parse::<std::net::Ipv4Addr>().is_ok()
            })
            .map_or(bare, |(h, _)| h);
        if host.parse::<std::net::IpAddr>().is_ok() {
            out.push_str(MASK);
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in text.chars() {
        if c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '[' | ']') {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn channel() -> ChannelInfo {
        ChannelInfo {
            id: 1,
            channel_type: 1,
            key: "secret-upstream-key-123".into(),
            base_url: "https://user@api.example.com:8443/v1".into(),
            other: String::new(),
            organization: String::new(),
            model_mapping: HashMap::new(),
            auto_ban: true,
        }
    }

    #[test]
    fn secrets_and_addresses_are_masked() {
        let c = channel();
        let cases = [
            ("bad key secret-upstream-key-123 given", "bad key *** given"),
            (
                "Incorrect API key provided: sk-abcdef123456.",
                "Incorrect API key provided: ***.",
            ),
            (
                "header Authorization: Bearer abc.def-ghi was refused",
                "header Authorization: *** was refused",
            ),
            ("host API.EXAMPLE.COM:8443 said no", "host *** said no"),
            ("api.example.com refused", "*** refused"),
            (
                "from 10.0.0.7 and 192.168.1.1:8080, [::1]",
                "from *** and ***, ***",
            ),
            (
                "model gpt-4o has 128k context, v1.2 is old",
                "model gpt-4o has 128k context, v1.2 is old",
            ),
            ("sk-ab is short", "sk-ab is short"),
        ];
        for (input, want) in cases {
            assert_eq!(mask(input, &c), want, "{input}");
        }
    }
}
