//! A caller's task submit, read once: the fields that price or route it (model, action,
//! duration, mode, size, the task it acts on) are read strictly (a field sent twice, or in
//! another letter case that a case-insensitive upstream would read, is refused), and what is
//! sent upstream is built from what was read, so the upstream runs what was priced.

use crate::error::RelayError;
use crate::upload::Form;
use bytes::Bytes;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

/// Midjourney's submit routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MjAction {
    Imagine,
    Change,
    SimpleChange,
    Describe,
    Blend,
    Action,
    Modal,
}

/// Suno's submit routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SunoAction {
    Music,
    Lyrics,
}

/// Video submits: Kling's two routes, the seed's generic one, OpenAI's `/v1/videos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoAction {
    Text2Video,
    Image2Video,
    /// `/v1/video/generations`: image-to-video when an image is given.
    Generate,
    /// OpenAI's `POST /v1/videos`.
    OpenAi,
}

/// What is submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Midjourney(MjAction),
    Suno(SunoAction),
    Video(VideoAction),
}

/// An uploaded file, passed upstream byte for byte.
#[derive(Debug, Clone)]
pub struct TaskFile {
    pub field: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Bytes,
}

/// A task submit as read.
#[derive(Debug, Clone)]
pub struct TaskRequest {
    pub kind: TaskKind,
    /// The body's fields (a form's text fields as strings).
    pub fields: Map<String, Value>,
    pub files: Vec<TaskFile>,
    /// The stored action: `IMAGINE`, `UPSCALE`, `MUSIC`, `TEXT2VIDEO`, ...
    pub action: String,
    /// The model routed and priced (`mj_imagine`, `suno_music`, `kling-v1`, `sora-2`, ...).
    pub model: String,
    /// Seconds of video asked for (`duration` or `seconds`), when given.
    pub seconds: Option<i64>,
    /// `pro` mode (Kling), priced apart.
    pub pro: bool,
    /// The public id of the caller's earlier task this one acts on.
    pub parent: Option<String>,
    /// For Midjourney changes: the change and the image index (`U2` is upscale 2).
    pub change: Option<(String, i64)>,
}

/// Fields that price or route a submit: refused in another letter case.
const READ: [&str; 13] = [
    "model",
    "model_name",
    "duration",
    "seconds",
    "mode",
    "size",
    "action",
    "index",
    "taskid",
    "task_id",
    "customid",
    "content",
    "image",
];

/// The longest video priced (seconds).
const MAX_SECONDS: i64 = 60;

fn bad(detail: impl Into<String>) -> RelayError {
    RelayError::BadRequest(detail.into())
}

/// A JSON object's entries in order, duplicates kept (serde_json's map would keep one).
struct Entries(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A key as Go's `encoding/json` matches it (Unicode simple case folding of the letters that
/// fold to ASCII: the Kelvin sign is `k`, the long s is `s`).
fn fold(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{212A}' => 'k',
            '\u{017F}' => 's',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// The entries as a map, refusing a name sent twice (in any letter case) and a priced field
/// spelled otherwise than the API does.
fn strict(entries: Vec<(String, Value)>) -> Result<Map<String, Value>, RelayError> {
    let mut map = Map::new();
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in entries {
        let folded = fold(&key);
        if seen.contains(&folded) {
            return Err(bad(format!("the field `{key}` appears twice")));
        }
        if READ.contains(&folded.as_str()) && !is_canonical(&key) {
            return Err(bad(format!(
                "the field `{key}` differs from the API's spelling only by letter case"
            )));
        }
        seen.push(folded);
        map.insert(key, value);
    }
    Ok(map)
}

/// The spellings of the read fields the APIs use.
fn is_canonical(key: &str) -> bool {
    matches!(
        key,
        "model"
            | "model_name"
            | "duration"
            | "seconds"
            | "mode"
            | "size"
            | "action"
            | "index"
            | "taskId"
            | "task_id"
            | "customId"
            | "content"
            | "image"
    )
}

impl TaskRequest {
    /// A JSON submit.
    pub fn json(kind: TaskKind, body: &[u8]) -> Result<TaskRequest, RelayError> {
        let entries: Entries = serde_json::from_slice(body)
            .map_err(|e| bad(format!("the body is not a JSON object: {e}")))?;
        Self::read(kind, strict(entries.0)?, Vec::new())
    }

    /// A `multipart/form-data` submit (video routes): text fields and files.
    pub async fn form(
        kind: TaskKind,
        content_type: &str,
        body: Bytes,
    ) -> Result<TaskRequest, RelayError> {
        if !matches!(kind, TaskKind::Video(_)) {
            return Err(bad("this route takes a JSON body"));
        }
        let form = Form::parse(content_type, body).await?;
        let mut entries = Vec::new();
        let mut files = Vec::new();
        for part in form.parts() {
            if part.filename.is_some() {
                files.push(TaskFile {
                    field: part.name.clone(),
                    filename: part.filename.clone(),
                    content_type: part.content_type.clone(),
                    data: part.data.clone(),
                });
                // Files are checked with the text fields: a name may appear once.
                entries.push((part.name.clone(), Value::Null));
            } else {
                let text = std::str::from_utf8(&part.data)
                    .map_err(|_| bad(format!("`{}` is not UTF-8 text", part.name)))?;
                entries.push((part.name.clone(), Value::String(text.to_owned())));
            }
        }
        let mut fields = strict(entries)?;
        fields.retain(|_, v| !v.is_null());
        Self::read(kind, fields, files)
    }

    fn read(
        kind: TaskKind,
        fields: Map<String, Value>,
        files: Vec<TaskFile>,
    ) -> Result<TaskRequest, RelayError> {
        let mut request = TaskRequest {
            kind,
            fields,
            files,
            action: String::new(),
            model: String::new(),
            seconds: None,
            pro: false,
            parent: None,
            change: None,
        };
        match kind {
            TaskKind::Midjourney(action) => request.read_midjourney(action)?,
            TaskKind::Suno(action) => request.read_suno(action)?,
            TaskKind::Video(action) => request.read_video(action)?,
        }
        Ok(request)
    }

    /// A text field.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }

    /// Whether an image is given (a field or a file).
    pub fn has_image(&self) -> bool {
        self.fields.get("image").is_some_and(|v| !v.is_null())
            || self
                .files
                .iter()
                .any(|f| f.field == "image" || f.field == "input_reference")
    }

    fn required(&self, name: &str) -> Result<String, RelayError> {
        match self.fields.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(bad(format!("`{name}` is required"))),
        }
    }

    fn read_midjourney(&mut self, action: MjAction) -> Result<(), RelayError> {
        // Only the fields midjourney-proxy documents for the route go upstream: an account
        // filter (which account, which speed) or a hook is the operator's to set.
        let allowed = MJ_FIELDS
            .iter()
            .find(|(a, _)| *a == action)
            .map_or(&[][..], |(_, fields)| *fields);
        self.fields.retain(|k, _| allowed.contains(&k.as_str()));
        if let Some(Value::String(prompt)) = self.fields.get_mut("prompt") {
            *prompt = midjourney_prompt(prompt)?;
        }
        let (stored, model) = match action {
            MjAction::Imagine => {
                self.required("prompt")?;
                ("IMAGINE", "mj_imagine")
            }
            MjAction::Describe => {
                self.required("base64")?;
                ("DESCRIBE", "mj_describe")
            }
            MjAction::Blend => {
                let images = self.fields.get("base64Array").and_then(Value::as_array);
                if !images.is_some_and(|a| (2..=5).contains(&a.len())) {
                    return Err(bad("`base64Array` must hold 2 to 5 images"));
                }
                ("BLEND", "mj_blend")
            }
            MjAction::Change | MjAction::SimpleChange => {
                let (parent, change, index) = self.change_of(action)?;
                self.parent = Some(parent);
                let (stored, model) = match change.as_str() {
                    "UPSCALE" => ("UPSCALE", "mj_upscale"),
                    "VARIATION" => ("VARIATION", "mj_variation"),
                    _ => ("REROLL", "mj_reroll"),
                };
                self.change = Some((change, index));
                (stored, model)
            }
            MjAction::Action => {
                self.parent = Some(self.required("taskId")?);
                let custom = self.required("customId")?;
                custom_action(&custom)
                    .ok_or_else(|| bad(format!("the action `{custom}` is not supported")))?
            }
            MjAction::Modal => {
                self.parent = Some(self.required("taskId")?);
                ("MODAL", "mj_modal")
            }
        };
        self.action = stored.into();
        self.model = model.into();
        Ok(())
    }

    /// The task, change and index of `/mj/submit/change` (`action` + `index`, or the seed's
    /// `content` "U1") and of `/mj/submit/simple-change` (`content` "<taskId> U1").
    fn change_of(&self, action: MjAction) -> Result<(String, String, i64), RelayError> {
        let content = self.text("content").map(str::trim);
        let (task, code) = if action == MjAction::SimpleChange {
            let content = content.ok_or_else(|| bad("`content` is required"))?;
            let mut words = content.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some(t), Some(c), None) => (t.to_owned(), Some(c.to_owned())),
                _ => return Err(bad("`content` must be \"<taskId> U1\" and the like")),
            }
        } else {
            (self.required("taskId")?, content.map(str::to_owned))
        };
        let (change, index) = match code {
            Some(code) => parse_change(&code)
                .ok_or_else(|| bad(format!("`{code}` is not U1-U4, V1-V4 or R")))?,
            None => {
                let change = self.required("action")?;
                let change = match change.as_str() {
                    "UPSCALE" | "VARIATION" | "REROLL" => change,
                    other => return Err(bad(format!("the action `{other}` is not supported"))),
                };
                let index = match self.fields.get("index") {
                    Some(v) => v.as_i64().filter(|i| (1..=4).contains(i)),
                    None if change == "REROLL" => Some(0),
                    None => None,
                }
                .ok_or_else(|| bad("`index` must be 1 to 4"))?;
                (change, index)
            }
        };
        if let Some(Value::String(a)) = self.fields.get("action")
            && *a != change
        {
            return Err(bad(format!("`action` {a} disagrees with the content")));
        }
        Ok((task, change, index))
    }

    fn read_suno(&mut self, action: SunoAction) -> Result<(), RelayError> {
        let (stored, model) = match action {
            SunoAction::Music => ("MUSIC", "suno_music"),
            SunoAction::Lyrics => {
                self.required("prompt")?;
                ("LYRICS", "suno_lyrics")
            }
        };
        if let Some(parent) = self.text("task_id").filter(|t| !t.is_empty()) {
            self.parent = Some(parent.to_owned());
        }
        self.action = stored.into();
        self.model = model.into();
        Ok(())
    }

    fn read_video(&mut self, action: VideoAction) -> Result<(), RelayError> {
        let model = match (self.text("model"), self.text("model_name")) {
            (Some(a), Some(b)) if a != b => {
                return Err(bad("`model` and `model_name` name different models"));
            }
            (Some(m), _) | (None, Some(m)) if !m.trim().is_empty() => m.trim().to_owned(),
            _ if self.fields.contains_key("model") || self.fields.contains_key("model_name") => {
                return Err(bad("`model` must be a model name"));
            }
            _ => match action {
                VideoAction::Text2Video | VideoAction::Image2Video => "kling-v1".to_owned(),
                VideoAction::OpenAi => "sora-2".to_owned(),
                VideoAction::Generate => return Err(bad("`model` is required")),
            },
        };
        let seconds = match (
            seconds_of(self.fields.get("duration"))?,
            seconds_of(self.fields.get("seconds"))?,
        ) {
            (Some(a), Some(b)) if a != b => {
                return Err(bad("`duration` and `seconds` disagree"));
            }
            (a, b) => a.or(b),
        };
        self.pro = match self.fields.get("mode") {
            None | Some(Value::Null) => false,
            Some(Value::String(m)) if m == "std" => false,
            Some(Value::String(m)) if m == "pro" => true,
            Some(other) => return Err(bad(format!("`mode` must be std or pro, not {other}"))),
        };
        if self.fields.get("size").is_some_and(|s| !s.is_string()) {
            return Err(bad("`size` must be a text like 720x1280"));
        }
        if self
            .fields
            .get("n")
            .is_some_and(|n| n.as_i64() != Some(1) && n.as_str() != Some("1"))
        {
            return Err(bad("one video is made per task"));
        }
        let image = self.has_image();
        self.action = match action {
            VideoAction::Text2Video if image => {
                return Err(bad("text2video takes no image; use image2video"));
            }
            VideoAction::Image2Video if !image => return Err(bad("`image` is required")),
            VideoAction::Image2Video => "IMAGE2VIDEO",
            VideoAction::Generate | VideoAction::OpenAi if image => "IMAGE2VIDEO",
            _ => "TEXT2VIDEO",
        }
        .into();
        self.required("prompt")
            .or_else(|e| if image { Ok(String::new()) } else { Err(e) })?;
        self.model = model;
        self.seconds = seconds;
        Ok(())
    }
}

/// The fields each Midjourney route passes on (midjourney-proxy's documented ones, less
/// `notifyHook` and `accountFilter`).
const MJ_FIELDS: [(MjAction, &[&str]); 7] = [
    (
        MjAction::Imagine,
        &["prompt", "base64Array", "botType", "state"],
    ),
    (
        MjAction::Change,
        &["taskId", "action", "index", "content", "state"],
    ),
    (MjAction::SimpleChange, &["content", "state"]),
    (MjAction::Describe, &["base64", "botType", "state"]),
    (
        MjAction::Blend,
        &["base64Array", "dimensions", "botType", "state"],
    ),
    (
        MjAction::Action,
        &["taskId", "customId", "state", "chooseSameChannel"],
    ),
    (
        MjAction::Modal,
        &["taskId", "prompt", "maskBase64", "state"],
    ),
];

/// Speed flags: the channel's account sets the speed (as new-api's `MjModeClearEnabled`).
const MJ_SPEED_FLAGS: [&str; 3] = ["--fast", "--turbo", "--relax"];

/// A Midjourney prompt as sent upstream: one job per call (`--repeat`/`--r` and `{a, b}`
/// permutations would run several for one price, `--video` is another product), the speed
/// flags removed.
fn midjourney_prompt(prompt: &str) -> Result<String, RelayError> {
    let words: Vec<&str> = prompt.split_whitespace().collect();
    // Midjourney reads an em dash (as phones type `--`) as the flag's dashes.
    let lower: Vec<String> = words
        .iter()
        .map(|w| match w.strip_prefix('—') {
            Some(rest) => format!("--{}", rest.to_ascii_lowercase()),
            None => w.to_ascii_lowercase(),
        })
        .collect();
    if lower
        .iter()
        .any(|w| matches!(w.as_str(), "--repeat" | "--r" | "--video"))
    {
        return Err(bad(
            "--repeat, --r and --video are not supported: one job per call",
        ));
    }
    if prompt.contains('{') && prompt.contains('}') {
        return Err(bad(
            "permutation prompts ({a, b}) are not supported: one job per call",
        ));
    }
    if !lower.iter().any(|w| MJ_SPEED_FLAGS.contains(&w.as_str())) {
        return Ok(prompt.to_owned());
    }
    Ok(words
        .iter()
        .zip(&lower)
        .filter(|(_, l)| !MJ_SPEED_FLAGS.contains(&l.as_str()))
        .map(|(w, _)| *w)
        .collect::<Vec<_>>()
        .join(" "))
}

/// A Midjourney change code: `U1`-`U4`, `V1`-`V4`, `R`.
fn parse_change(code: &str) -> Option<(String, i64)> {
    let code = code.trim();
    if code.eq_ignore_ascii_case("r") {
        return Some(("REROLL".into(), 0));
    }
    let (kind, index) = code.split_at_checked(1)?;
    let index: i64 = index.parse().ok().filter(|i| (1..=4).contains(i))?;
    match kind {
        "U" | "u" => Some(("UPSCALE".into(), index)),
        "V" | "v" => Some(("VARIATION".into(), index)),
        _ => None,
    }
}

/// The stored action and priced model of a button's `customId`.
fn custom_action(custom: &str) -> Option<(&'static str, &'static str)> {
    const ACTIONS: [(&str, &str, &str); 10] = [
        ("MJ::Inpaint::", "INPAINT", "mj_inpaint"),
        ("MJ::CustomZoom::", "CUSTOM_ZOOM", "mj_custom_zoom"),
        ("MJ::Outpaint::", "ZOOM", "mj_zoom"),
        ("MJ::JOB::upsample::", "UPSCALE", "mj_upscale"),
        ("MJ::JOB::variation::", "VARIATION", "mj_variation"),
        ("MJ::JOB::reroll::", "REROLL", "mj_reroll"),
        (
            "MJ::JOB::low_variation::",
            "LOW_VARIATION",
            "mj_low_variation",
        ),
        (
            "MJ::JOB::high_variation::",
            "HIGH_VARIATION",
            "mj_high_variation",
        ),
        ("MJ::JOB::pan_", "PAN", "mj_pan"),
        ("MJ::JOB::upsample_v", "UPSCALE", "mj_upscale"),
    ];
    ACTIONS
        .iter()
        .find(|(prefix, ..)| custom.starts_with(prefix))
        .map(|(_, action, model)| (*action, *model))
}

/// Seconds of a `duration`/`seconds` field: a whole number from 1 to [`MAX_SECONDS`], as a
/// number or a text.
fn seconds_of(v: Option<&Value>) -> Result<Option<i64>, RelayError> {
    let seconds = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    match seconds {
        Some(s) if (1..=MAX_SECONDS).contains(&s) => Ok(Some(s)),
        _ => Err(bad(format!(
            "the duration must be a whole number of seconds from 1 to {MAX_SECONDS}"
        ))),
    }
}

#[cfg(test)]
mod tests;
