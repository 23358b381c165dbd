//! Multipart uploads (image edits and variations, audio transcriptions and translations),
//! parsed whole with `multer`: the fields that price a call are read wherever they stand in the
//! form, and the form sent upstream is encoded afresh from the parsed parts, so the upstream
//! receives exactly what was priced (a caller's boundary tricks, duplicate or case-variant
//! fields cannot reach it).

use crate::error::RelayError;
use bytes::{BufMut, Bytes, BytesMut};

/// One part of a form.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Bytes,
}

/// A parsed `multipart/form-data` body.
#[derive(Debug, Clone)]
pub struct Form {
    parts: Vec<Part>,
}

fn bad(detail: impl std::fmt::Display) -> RelayError {
    RelayError::BadRequest(format!(
        "the form is not valid multipart/form-data: {detail}"
    ))
}

impl Form {
    /// Parses a whole upload.
    pub async fn parse(content_type: &str, body: Bytes) -> Result<Form, RelayError> {
        let boundary = multer::parse_boundary(content_type).map_err(bad)?;
        let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        let mut parts = Vec::new();
        while let Some(field) = multipart.next_field().await.map_err(bad)? {
            let name = field
                .name()
                .filter(|n| !n.is_empty())
                .ok_or_else(|| bad("a part has no name"))?
                .to_owned();
            let filename = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(ToString::to_string);
            let data = field.bytes().await.map_err(bad)?;
            parts.push(Part {
                name,
                filename,
                content_type,
                data,
            });
        }
        Ok(Form { parts })
    }

    /// The one part named `name`: refused when the form names it twice or in another letter
    /// case (which of them the upstream would read is not ours to guess).
    fn one(&self, name: &str) -> Result<Option<&Part>, RelayError> {
        let mut found = self
            .parts
            .iter()
            .filter(|p| p.name.eq_ignore_ascii_case(name));
        let Some(part) = found.next() else {
            return Ok(None);
        };
        if found.next().is_some() {
            return Err(bad(format!("the field `{name}` appears more than once")));
        }
        if part.name != name {
            return Err(bad(format!(
                "the field `{}` differs from `{name}` only by letter case",
                part.name
            )));
        }
        Ok(Some(part))
    }

    /// The file part named `name`: its bytes and file name.
    pub(crate) fn file(&self, name: &str) -> Result<Option<(Bytes, Option<&str>)>, RelayError> {
        Ok(self
            .one(name)?
            .map(|part| (part.data.clone(), part.filename.as_deref())))
    }

    /// Every part, in the order sent.
    pub(crate) fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// How many file parts the form holds (images to edit, a mask).
    pub(crate) fn files(&self) -> i64 {
        self.parts.iter().filter(|p| p.filename.is_some()).count() as i64
    }

    /// The text field `name`: refused when it is sent twice, in another letter case, or as a
    /// file.
    pub(crate) fn text(&self, name: &str) -> Result<Option<&str>, RelayError> {
        let Some(part) = self.one(name)? else {
            return Ok(None);
        };
        if part.filename.is_some() {
            return Err(bad(format!("`{name}` must be a text field, not a file")));
        }
        std::str::from_utf8(&part.data)
            .map(Some)
            .map_err(|_| bad(format!("`{name}` is not UTF-8 text")))
    }

    /// The form to send upstream, with `model` set to `model`: its content type and body.
    pub(crate) fn encode(&self, model: &str) -> (String, Bytes) {
        let model = Part {
            name: "model".into(),
            filename: None,
            content_type: None,
            data: Bytes::copy_from_slice(model.as_bytes()),
        };
        let rest = self.parts.iter().filter(|p| p.name != "model");
        encode(std::iter::once(&model).chain(rest))
    }
}

/// A form of these parts: its content type (with a boundary none of them contains) and body.
pub(crate) fn encode<'a>(parts: impl Iterator<Item = &'a Part> + Clone) -> (String, Bytes) {
    let boundary = loop {
        let b = format!("gateway-{}", domain::keys::random_alphanumeric(24));
        if !parts.clone().any(|p| contains(&p.data, b.as_bytes())) {
            break b;
        }
    };
    let size: usize = parts.clone().map(|p| p.data.len() + 128).sum();
    let mut out = BytesMut::with_capacity(size + 256);
    for p in parts {
        out.put_slice(b"--");
        out.put_slice(boundary.as_bytes());
        out.put_slice(b"\r\nContent-Disposition: form-data; name=\"");
        out.put_slice(quoted(&p.name).as_bytes());
        out.put_slice(b"\"");
        if let Some(f) = &p.filename {
            out.put_slice(b"; filename=\"");
            out.put_slice(quoted(f).as_bytes());
            out.put_slice(b"\"");
        }
        if let Some(ct) = &p.content_type {
            out.put_slice(b"\r\nContent-Type: ");
            out.put_slice(quoted(ct).as_bytes());
        }
        out.put_slice(b"\r\n\r\n");
        out.put_slice(&p.data);
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"--");
    out.put_slice(boundary.as_bytes());
    out.put_slice(b"--\r\n");
    (
        format!("multipart/form-data; boundary={boundary}"),
        out.freeze(),
    )
}

/// A header value with the characters that would end it percent-encoded, as browsers do.
fn quoted(value: &str) -> String {
    value
        .replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/form-data; boundary=XyZ";

    fn body(parts: &[(&str, &str)]) -> Bytes {
        let mut b = String::new();
        for (header, value) in parts {
            b.push_str(&format!(
                "--XyZ\r\nContent-Disposition: form-data; {header}\r\n\r\n{value}\r\n"
            ));
        }
        b.push_str("--XyZ--\r\n");
        Bytes::from(b)
    }

    async fn parse(parts: &[(&str, &str)]) -> Result<Form, RelayError> {
        Form::parse(CT, body(parts)).await
    }

    #[tokio::test]
    async fn fields_are_found_anywhere_and_only_once() {
        let form = parse(&[
            (
                "name=\"image\"; filename=\"model\"",
                "name=\"model\"\r\n\r\ndall-e-2",
            ),
            ("name=\"model\"", "dall-e-3"),
            ("name=\"n\"", "3"),
        ])
        .await;
        let form = form.ok();
        let text = |name| form.as_ref().and_then(|f| f.text(name).ok().flatten());
        assert_eq!(text("model"), Some("dall-e-3"));
        assert_eq!(text("n"), Some("3"));
        assert_eq!(text("size"), None);
        for parts in [
            vec![("name=\"model\"", "a"), ("name=\"model\"", "b")],
            vec![("name=\"model\"", "a"), ("name=\"MODEL\"", "b")],
            vec![("name=\"Model\"", "a")],
            vec![("name=\"model\"; filename=\"m\"", "a")],
        ] {
            let form = parse(&parts).await.ok();
            assert!(form.is_some_and(|f| f.text("model").is_err()), "{parts:?}");
        }
        assert!(Form::parse("application/json", Bytes::new()).await.is_err());
    }

    #[tokio::test]
    async fn encoding_sends_what_was_read() {
        let form = parse(&[
            ("name=\"file\"; filename=\"a.png\"", "PNG--XyZ data"),
            ("name=\"model\"", "dall-e-2"),
            ("name=\"prompt\"", "a hat"),
        ])
        .await
        .ok();
        let Some((ct, encoded)) = form.map(|f| f.encode("mapped-model")) else {
            panic!("parse failed");
        };
        let again = Form::parse(&ct, encoded).await.ok();
        let text = |name| again.as_ref().and_then(|f| f.text(name).ok().flatten());
        assert_eq!(text("model"), Some("mapped-model"));
        assert_eq!(text("prompt"), Some("a hat"));
        let file = again
            .as_ref()
            .and_then(|f| f.parts.iter().find(|p| p.name == "file"));
        assert_eq!(file.map(|p| p.data.as_ref()), Some(&b"PNG--XyZ data"[..]));
        assert_eq!(file.and_then(|p| p.filename.as_deref()), Some("a.png"));
        assert_eq!(quoted("a\"b\r\nc"), "a%22b%0D%0Ac");
    }
}
