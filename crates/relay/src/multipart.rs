//! Just enough of multipart/form-data to route an upload: the boundary, and small text fields
//! (`model`, `n`) found in the part of the body read so far. The body itself is never parsed
//! or held whole.

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("boundary")).then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The value of the text field `name`, when the whole field is within `prefix`.
pub fn text_field(prefix: &[u8], boundary: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    let mut from = 0;
    while let Some(at) = find(prefix, needle.as_bytes(), from) {
        from = at + needle.len();
        let header_end = find(prefix, b"\r\n\r\n", from)?;
        let header = &prefix[from..header_end];
        // A file part with this name is not a text field.
        if find(header, b"filename=", 0).is_some() {
            continue;
        }
        let start = header_end + 4;
        let end = find(prefix, format!("\r\n--{boundary}").as_bytes(), start)?;
        return std::str::from_utf8(&prefix[start..end])
            .ok()
            .map(str::to_owned);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n2\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\nContent-Type: audio/mpeg\r\n\r\nBINARY";

    #[test]
    fn boundaries() {
        assert_eq!(
            boundary("multipart/form-data; boundary=XyZ").as_deref(),
            Some("XyZ")
        );
        assert_eq!(
            boundary("multipart/form-data; charset=utf-8; boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary("application/json"), None);
    }

    #[test]
    fn fields_in_the_prefix() {
        assert_eq!(
            text_field(BODY, "XyZ", "model").as_deref(),
            Some("whisper-1")
        );
        assert_eq!(text_field(BODY, "XyZ", "n").as_deref(), Some("2"));
        assert_eq!(
            text_field(BODY, "XyZ", "file"),
            None,
            "a file is not a text field"
        );
        assert_eq!(text_field(BODY, "XyZ", "size"), None);
        // A field cut off by the end of the prefix is not known yet.
        assert_eq!(text_field(&BODY[..60], "XyZ", "model"), None);
    }
}
