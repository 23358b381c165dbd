//! What upstreams charge beyond prompt and output tokens (docs/decisions.md, "Fees beyond
//! tokens"): server-side tools per call, service tiers, the long-context premium, image tokens
//! priced apart, and images priced by quality and size. Each has a built-in default from the
//! provider's price list and an option to set it (0 disables a per-call fee).

use super::defaults::{DEFAULT_IMAGE_PRICES, IMAGE_OUTPUT_TOKENS};

/// A server-side tool an upstream runs on the caller's say-so and bills per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// OpenAI Responses `web_search` and Anthropic's web search (10 USD per 1 000).
    WebSearch,
    /// OpenAI Responses `web_search_preview` (25 USD per 1 000 on non-reasoning models).
    WebSearchPreview,
    /// OpenAI Responses `file_search` (2.50 USD per 1 000).
    FileSearch,
    /// OpenAI Responses `code_interpreter`: per container (0.03 USD).
    CodeInterpreter,
    /// OpenAI Responses `image_generation`: per image, at gpt-image-1's highest price.
    ImageGeneration,
    /// Gemini 2.x grounding with Google Search: per grounded prompt (35 USD per 1 000).
    GoogleSearch,
    /// Gemini 3 grounding: per search query (14 USD per 1 000).
    GoogleSearchQuery,
    /// Anthropic's code execution: a container's five-minute minimum (0.05 USD an hour).
    CodeExecution,
    /// Chat `web_search_options` (the search-preview models): per call, medium context.
    SearchModel,
}

/// Every tool, with its option key and built-in USD per call.
pub const TOOLS: [(Tool, &str, f64); 9] = [
    (Tool::WebSearch, "web_search", 0.01),
    (Tool::WebSearchPreview, "web_search_preview", 0.025),
    (Tool::FileSearch, "file_search", 0.0025),
    (Tool::CodeInterpreter, "code_interpreter", 0.03),
    (Tool::ImageGeneration, "image_generation", 0.25),
    (Tool::GoogleSearch, "google_search", 0.035),
    (Tool::GoogleSearchQuery, "google_search_query", 0.014),
    (Tool::CodeExecution, "code_execution", 0.05 / 12.0),
    (Tool::SearchModel, "web_search_options", 0.035),
];

impl Tool {
    fn index(self) -> usize {
        TOOLS.iter().position(|(t, ..)| *t == self).unwrap_or(0)
    }

    /// The option key of the tool's price.
    pub fn key(self) -> &'static str {
        TOOLS[self.index()].1
    }

    pub(super) fn default_usd(self) -> f64 {
        TOOLS[self.index()].2
    }
}

/// Calls of each server-side tool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ToolCalls([i64; TOOLS.len()]);

impl ToolCalls {
    pub fn get(&self, tool: Tool) -> i64 {
        self.0[tool.index()]
    }

    pub fn add(&mut self, tool: Tool, calls: i64) {
        let slot = &mut self.0[tool.index()];
        *slot = slot.saturating_add(calls.max(0));
    }

    /// Each count the larger of the two (usage reported in parts over a stream).
    pub fn max(self, other: ToolCalls) -> ToolCalls {
        let mut out = self;
        for (o, n) in out.0.iter_mut().zip(other.0) {
            *o = (*o).max(n);
        }
        out
    }

    /// Whether no tool was called.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|n| *n == 0)
    }

    /// The calls as `model`'s provider bills them: Gemini 3 by search query and earlier Gemini
    /// by grounded prompt; a Responses web search under a `web_search_preview` tool (`named`,
    /// not `web_search`) at the preview's price, but on reasoning models at the search price.
    pub fn billed_for(self, model: &str, named: ToolCalls) -> ToolCalls {
        let mut out = self;
        let drop = if model.starts_with("gemini-3") {
            Tool::GoogleSearch
        } else {
            Tool::GoogleSearchQuery
        };
        out.0[drop.index()] = 0;
        let reasoning = ["o1", "o3", "o4", "gpt-5"]
            .iter()
            .any(|p| model.starts_with(p));
        let (from, to) = if reasoning {
            (Tool::WebSearchPreview, Tool::WebSearch)
        } else if named.get(Tool::WebSearchPreview) > 0 {
            // A search under either tool of a request naming the preview one: the dearer.
            (Tool::WebSearch, Tool::WebSearchPreview)
        } else {
            return out;
        };
        let moved = std::mem::take(&mut out.0[from.index()]);
        out.add(to, moved);
        out
    }

    /// What is reserved for the tools a request names: five calls of a per-call tool (the
    /// rest is settled from the answer, at most what the balance holds), one container,
    /// grounded prompt, code-execution minimum or search-model call.
    pub fn reserve_for(named: ToolCalls) -> ToolCalls {
        let mut out = ToolCalls::default();
        // Grounding is billed per prompt or per query by model: reserve both, the settle
        // keeps the one that applies.
        let mut named = named;
        if named.get(Tool::GoogleSearch) > 0 {
            named.add(Tool::GoogleSearchQuery, 1);
        }
        for (tool, _) in named.iter() {
            let calls = match tool {
                Tool::WebSearch
                | Tool::WebSearchPreview
                | Tool::FileSearch
                | Tool::ImageGeneration
                | Tool::GoogleSearchQuery => 5,
                _ => 1,
            };
            out.add(tool, calls);
        }
        out
    }

    /// The tools called, with their counts.
    pub fn iter(&self) -> impl Iterator<Item = (Tool, i64)> + '_ {
        TOOLS
            .iter()
            .map(|(t, ..)| (*t, self.get(*t)))
            .filter(|(_, n)| *n > 0)
    }
}

/// Whether `model` searches the web on every call (OpenAI's search models), whatever the
/// request says.
pub fn searches_always(model: &str) -> bool {
    model.starts_with("gpt-4o") && model.contains("-search")
}

/// An OpenAI service tier, as a request asks for it or an answer reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Tier {
    /// `default`, `auto`, `scale` or one the gateway does not know: the standard price.
    #[default]
    Standard,
    Flex,
    Priority,
}

impl Tier {
    pub fn parse(name: &str) -> Tier {
        match name {
            "flex" => Tier::Flex,
            "priority" => Tier::Priority,
            _ => Tier::Standard,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Standard => "default",
            Tier::Flex => "flex",
            Tier::Priority => "priority",
        }
    }
}

/// Output tokens one image of a gpt-image model costs at `quality` and `size`; a value the
/// table does not list (`auto`, none) is the largest it could be.
pub fn image_output_tokens(quality: Option<&str>, size: Option<&str>) -> i64 {
    IMAGE_OUTPUT_TOKENS
        .iter()
        .filter(|(q, s, _)| quality.is_none_or(|x| x == *q) && size.is_none_or(|x| x == *s))
        .map(|(.., t)| *t)
        .max()
        .or_else(|| {
            // One of the two is not in the table: the worst of the other, else of all.
            IMAGE_OUTPUT_TOKENS
                .iter()
                .filter(|(q, s, _)| quality == Some(*q) || size == Some(*s))
                .map(|(.., t)| *t)
                .max()
        })
        .unwrap_or_else(|| {
            IMAGE_OUTPUT_TOKENS
                .iter()
                .map(|(.., t)| *t)
                .max()
                .unwrap_or(0)
        })
}

/// The quality and size an image call asks for, as its model's price list names them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageAsk {
    pub quality: Option<String>,
    pub size: Option<String>,
}

impl ImageAsk {
    /// The key of this image in the `ImagePrice` option and the built-in table:
    /// `"model quality size"`, with the model's defaults filled in (DALL-E 2 has one quality).
    pub fn key(&self, model: &str) -> String {
        let quality = match model {
            "dall-e-2" => "standard",
            _ => self.quality.as_deref().unwrap_or("standard"),
        };
        let size = self.size.as_deref().unwrap_or("1024x1024");
        format!("{model} {quality} {size}")
    }
}

/// The built-in USD of one image named by `key`, or the model's dearest when the key is not
/// listed (a quality or size the table does not know is priced at the worst).
pub(super) fn default_image_usd(model: &str, key: &str) -> Option<f64> {
    let listed = || {
        DEFAULT_IMAGE_PRICES
            .iter()
            .filter(move |(k, _)| k.split(' ').next() == Some(model))
    };
    listed()
        .find(|(k, _)| *k == key)
        .or_else(|| listed().max_by(|a, b| a.1.total_cmp(&b.1)))
        .map(|(_, usd)| *usd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tokens_by_quality_and_size() {
        assert_eq!(image_output_tokens(Some("low"), Some("1024x1024")), 272);
        assert_eq!(image_output_tokens(Some("high"), Some("1536x1024")), 6208);
        assert_eq!(image_output_tokens(Some("medium"), None), 1584);
        assert_eq!(image_output_tokens(Some("auto"), Some("1024x1024")), 4160);
        assert_eq!(image_output_tokens(None, Some("auto")), 6240);
        assert_eq!(image_output_tokens(Some("weird"), Some("odd")), 6240);
    }

    #[test]
    fn image_prices_by_key_or_the_dearest() {
        let ask = |q: Option<&str>, s: Option<&str>| ImageAsk {
            quality: q.map(str::to_owned),
            size: s.map(str::to_owned),
        };
        let key = ask(Some("hd"), Some("1792x1024")).key("dall-e-3");
        assert_eq!(default_image_usd("dall-e-3", &key), Some(0.12));
        let key = ask(None, None).key("dall-e-3");
        assert_eq!(default_image_usd("dall-e-3", &key), Some(0.04));
        let key = ask(Some("hd"), None).key("dall-e-2");
        assert_eq!(key, "dall-e-2 standard 1024x1024");
        assert_eq!(default_image_usd("dall-e-2", &key), Some(0.02));
        let key = ask(None, Some("256x256")).key("dall-e-2");
        assert_eq!(default_image_usd("dall-e-2", &key), Some(0.016));
        let key = ask(Some("ultra"), Some("4096x4096")).key("dall-e-3");
        assert_eq!(default_image_usd("dall-e-3", &key), Some(0.12));
        assert_eq!(
            default_image_usd("gpt-4o", "gpt-4o standard 1024x1024"),
            None
        );
    }

    #[test]
    fn tool_calls_add_and_merge() {
        let mut a = ToolCalls::default();
        assert!(a.is_empty());
        a.add(Tool::WebSearch, 3);
        a.add(Tool::WebSearch, -9);
        let mut b = ToolCalls::default();
        b.add(Tool::WebSearch, 1);
        b.add(Tool::FileSearch, 2);
        let m = a.max(b);
        assert_eq!((m.get(Tool::WebSearch), m.get(Tool::FileSearch)), (3, 2));
        assert_eq!(m.iter().count(), 2);
        assert_eq!(Tool::CodeInterpreter.key(), "code_interpreter");
    }

    #[test]
    fn calls_are_billed_as_the_provider_bills_them() {
        let mut grounded = ToolCalls::default();
        grounded.add(Tool::GoogleSearch, 1);
        grounded.add(Tool::GoogleSearchQuery, 4);
        let none = ToolCalls::default();
        let g3 = grounded.billed_for("gemini-3-pro-preview", none);
        assert_eq!(
            (g3.get(Tool::GoogleSearch), g3.get(Tool::GoogleSearchQuery)),
            (0, 4)
        );
        let g25 = grounded.billed_for("gemini-2.5-flash", none);
        assert_eq!(
            (
                g25.get(Tool::GoogleSearch),
                g25.get(Tool::GoogleSearchQuery)
            ),
            (1, 0)
        );
        let mut searched = ToolCalls::default();
        searched.add(Tool::WebSearch, 2);
        let mut preview = ToolCalls::default();
        preview.add(Tool::WebSearchPreview, 1);
        let b = searched.billed_for("gpt-4o", preview);
        assert_eq!(
            (b.get(Tool::WebSearch), b.get(Tool::WebSearchPreview)),
            (0, 2)
        );
        let b = searched.billed_for("o3", preview);
        assert_eq!(
            (b.get(Tool::WebSearch), b.get(Tool::WebSearchPreview)),
            (2, 0)
        );
        let r = ToolCalls::reserve_for(preview);
        assert_eq!(r.get(Tool::WebSearchPreview), 5);
    }
}
