//! Masking of an upstream's error text before a caller sees it: the channel's key, anything
//! that looks like a key (`sk-...`, `Bearer ...`), the channel's host, any IP address, internal
//! host names (`*.internal`, `*.local`, `*.svc.cluster.local`, `localhost`, any `name:port`)
//! and file paths (`/var/...`, `/home/...`, `C:\...`) are replaced by `***`. The full text goes
//! to the log only.

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
    let out = mask_ips(&out);
    let out = mask_paths(&out);
    mask_hosts(&out)
}

/// Name suffixes of hosts only reachable inside a network.
const INTERNAL_SUFFIXES: &[&str] = &[
    ".internal",
    ".local",
    ".localdomain",
    ".lan",
    ".intranet",
    ".corp",
    ".home.arpa",
    ".svc",
    ".cluster.local",
];

/// Whether `name` (a word of letters, digits, `-`, `_` and `.`) is a host name that must not
/// reach a caller: an internal name, or any name followed by a port.
fn is_internal_host(word: &str) -> bool {
    let (name, port) = match word.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (word, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let starts_with_letter = name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic());
    if !starts_with_letter || !name.split('.').all(label_ok) {
        return false;
    }
    if let Some(port) = port {
        return !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| p > 0 && p <= 65_535);
    }
    let lower = name.to_ascii_lowercase();
    lower == "localhost"
        || INTERNAL_SUFFIXES
            .iter()
            .any(|s| lower.len() > s.len() && lower.ends_with(s))
}

/// Masks internal host names and `name:port` pairs (see [`is_internal_host`]).
fn mask_hosts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        // A sentence's full stop or a colon after the name is not part of it.
        let core = word.trim_end_matches(['.', ':']);
        if is_internal_host(core) {
            out.push_str(MASK);
            out.push_str(&word[core.len()..]);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':') {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Roots of absolute Unix paths that name a server's files (API paths such as `/v1/...` are
/// not among them).
const PATH_ROOTS: &[&str] = &[
    "/var/",
    "/home/",
    "/etc/",
    "/usr/",
    "/opt/",
    "/srv/",
    "/tmp/",
    "/root/",
    "/app/",
    "/mnt/",
    "/data/",
    "/proc/",
    "/run/",
    "/Users/",
    "/workspace/",
    "/code/",
];

/// Masks file paths: absolute Unix paths under [`PATH_ROOTS`], `file://` URLs, Windows paths
/// (`C:\...`, `\\server\share`), each up to the next space, quote or bracket.
fn mask_paths(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0 || !is_path_char(char::from(bytes[i - 1])) || bytes[i - 1] == b'/';
        if boundary && path_starts(&text[i..]) {
            out.push_str(&text[at..i]);
            out.push_str(MASK);
            let len = text[i..]
                .find(|c: char| c.is_whitespace() || "\"'`()[]{}<>,;".contains(c))
                .unwrap_or(text.len() - i);
            // A colon or full stop that ends the path ends the sentence's clause, not the name.
            let len = text[i..i + len].trim_end_matches([':', '.']).len();
            i += len.max(1);
            at = i;
        } else {
            i += 1;
        }
        while i < bytes.len() && !text.is_char_boundary(i) {
            i += 1;
        }
    }
    out.push_str(&text[at..]);
    out
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~' | ':')
}

/// Whether a file path starts at the start of `rest`.
fn path_starts(rest: &str) -> bool {
    let b = rest.as_bytes();
    let windows = b.len() >= 3
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && (b[2] == b'\\' || b[2] == b'/')
        && b.get(3)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
    let unc = b.len() > 2 && b[0] == b'\\' && b[1] == b'\\' && b[2].is_ascii_alphanumeric();
    windows
        || unc
        || rest
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("file://"))
        || PATH_ROOTS.iter().any(|r| rest.starts_with(r))
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

/// A character of a key, or of the redacted form OpenAI repeats (`sk-proj-****abcd`).
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '*'
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

/// A channel whose key and host the tests look for.
#[cfg(test)]
pub(crate) fn test_channel() -> ChannelInfo {
    ChannelInfo {
        id: 1,
        channel_type: 1,
        key: "secret-upstream-key-123".into(),
        base_url: "https://user@api.example.com:8443/v1".into(),
        other: String::new(),
        organization: String::new(),
        model_mapping: std::collections::HashMap::new(),
        auto_ban: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_channel as channel;

    #[test]
    fn secrets_and_addresses_are_masked() {
        let c = channel();
        let cases = [
            ("bad key secret-upstream-key-123 given", "bad key *** given"),
            (
                "Incorrect API key provided: sk-proj-********************abcd.",
                "Incorrect API key provided: ***.",
            ),
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
            (
                "dial tcp: lookup vllm-0.vllm.svc.cluster.local: no such host",
                "dial tcp: lookup ***: no such host",
            ),
            (
                "proxy to http://backend.internal:8080/v1/chat failed",
                "proxy to http://***/v1/chat failed",
            ),
            (
                "ECONNREFUSED redis-master:6379, gpu-box.local and localhost",
                "ECONNREFUSED ***, *** and ***",
            ),
            (
                "open /var/lib/models/llama.bin: denied; see '/home/ops/run.sh'",
                "open ***: denied; see '***'",
            ),
            (
                r"File C:\Users\admin\app\main.py, line 3 and \\fileserver\share\x",
                "File ***, line 3 and ***",
            ),
            ("read file:///etc/passwd", "read ***"),
            (
                "Invalid URL (POST /v1/chat/completions) for model ft:gpt-4o:org:x, llama3:70b.",
                "Invalid URL (POST /v1/chat/completions) for model ft:gpt-4o:org:x, llama3:70b.",
            ),
            (
                "Error: bad request. Use json_schema. See https://platform.openai.com/docs",
                "Error: bad request. Use json_schema. See https://platform.openai.com/docs",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(mask(input, &c), want, "{input}");
        }
    }
}
