//! Pricing a call and reserving its worst case before any upstream sees it.

use crate::auth::Caller;
use crate::billing::{Fees, Session, Shortfall};
use crate::convert::Conversion;
use crate::dialect::{CallSpec, Endpoint};
use crate::error::{Refusal, RelayError};
use crate::relay::Relay;
use crate::routing::Snapshot;
use domain::options as opt;
use domain::pricing::{ImageAsk, Price, PriceTable, Tool, ToolCalls, searches_always};

/// A priced call with its quota reserved.
pub(crate) struct Priced {
    pub price: Price,
    pub session: Session,
    /// Output tokens reserved, when priced per token.
    pub allowance: Option<i64>,
    pub fees: Fees,
    /// A per-call price is charged this many times (images: `n`; audio: its seconds).
    pub count: i64,
}

impl Relay {
    /// Prices the call and reserves its worst case; refuses before any upstream call when the
    /// model is not allowed, not served, not priced, or the balance cannot cover it.
    pub(crate) async fn reserve(
        &self,
        snapshot: &Snapshot,
        caller: &Caller,
        spec: &CallSpec,
    ) -> Result<Priced, RelayError> {
        let model = &spec.model;
        let prices = self.prices();
        let by_second = spec
            .seconds
            .and_then(|s| Some((prices.second_price(model, &caller.group)?, s)));
        let (price, count) = match (&spec.image, by_second) {
            (Some(ask), _) => (self.price_image(snapshot, caller, model, ask)?, spec.count),
            (None, Some((price, seconds))) => {
                (self.priced_apart(snapshot, caller, model, price)?, seconds)
            }
            (None, None) => (self.price_of(snapshot, caller, model)?, spec.count),
        };
        let output_tokens = spec.output.map_or(0, |o| {
            o.limit
                .unwrap_or_else(|| prices.max_output(model))
                .saturating_mul(o.choices)
        });
        let prompt = spec
            .prompt_estimate
            .saturating_add(prices.media_tokens(spec.media));
        let fees = Fees {
            table: prices.clone(),
            tier: spec.tier,
            named: spec.tools,
            per_second: by_second.is_some(),
            media_prompt: spec
                .images
                .saturating_mul(crate::dialect::IMAGE_TOKENS)
                .saturating_add(prices.media_tokens(spec.media)),
            ..Fees::default()
        };
        let mut tools = ToolCalls::reserve_for(spec.tools);
        if searches_always(model) {
            tools.add(Tool::SearchModel, 1);
        }
        let worst = fees.worst(price, model, prompt, output_tokens, count, tools);
        let session = self
            .hold(caller, price, worst, |short| {
                let (holder, available) = short.holder();
                RelayError::Insufficient {
                    holder,
                    model: model.clone(),
                    affordable_output: spec
                        .output
                        .and_then(|_| price.affordable_output(available, prompt)),
                }
            })
            .await?;
        let per_token = matches!(price, Price::PerToken { .. });
        Ok(Priced {
            price,
            session,
            allowance: (per_token && spec.output.is_some()).then_some(output_tokens),
            fees,
            count,
        })
    }

    /// The price of an image of `model` for `caller`: per image by its quality and size when
    /// the model is priced so, else its price (the gpt-image models: by tokens).
    fn price_image(
        &self,
        snapshot: &Snapshot,
        caller: &Caller,
        model: &str,
        ask: &ImageAsk,
    ) -> Result<Price, RelayError> {
        match self.prices().image_price(model, ask, &caller.group) {
            Some(price) => self.priced_apart(snapshot, caller, model, price),
            None => self.price_of(snapshot, caller, model),
        }
    }

    /// `price`, for a model priced apart from the ratios (per image, per second): the caller
    /// must still be allowed it and a channel serve it.
    fn priced_apart(
        &self,
        snapshot: &Snapshot,
        caller: &Caller,
        model: &str,
        price: Price,
    ) -> Result<Price, RelayError> {
        match self.price_of(snapshot, caller, model) {
            Ok(_) | Err(RelayError::NoPrice(_)) => Ok(price),
            Err(e) => Err(e),
        }
    }

    /// The price of `model` for `caller`; refused when the key may not use the model, no
    /// channel of the caller's group serves it, or it has no price.
    pub(crate) fn price_of(
        &self,
        snapshot: &Snapshot,
        caller: &Caller,
        model: &str,
    ) -> Result<Price, RelayError> {
        if !caller.token.allows_model(model) {
            return Err(RelayError::Refused(Refusal::ModelNotAllowed(
                model.to_owned(),
            )));
        }
        // A model no channel of the group lists does not exist for this caller (OpenAI's 404);
        // 503 is left for a served model whose channels all failed or are busy.
        if caller.pinned.is_none() && !snapshot.serves(&caller.group, model) {
            return Err(RelayError::ModelNotFound(model.to_owned()));
        }
        match self.prices().price(model, &caller.group) {
            Some(p) => Ok(p),
            None if self.s.options.get_bool(opt::SELF_USE_MODE_ENABLED) => Ok(PriceTable::free()),
            None => Err(RelayError::NoPrice(model.to_owned())),
        }
    }

    /// Reserves `amount` of the caller's balances (and its key's, when limited); a paid price
    /// needs a positive balance even when the amount rounds to nothing. The ledger first
    /// makes sure this instance holds enough; `short` says what a shortfall is to the caller.
    pub(crate) async fn hold(
        &self,
        caller: &Caller,
        price: Price,
        amount: i64,
        short: impl FnOnce(Shortfall) -> RelayError,
    ) -> Result<Session, RelayError> {
        let ledger = &self.s.ledger;
        let payer = caller.payer();
        // A shared ledger's slice can be spent by a concurrent call between the lease and
        // the reservation: one more lease settles that race.
        for _ in 0..2 {
            ledger.lease(payer, amount.max(1)).await?;
            if let Ok(session) = self.hold_now(caller, price, amount) {
                return Ok(session);
            }
        }
        self.hold_now(caller, price, amount).map_err(short)
    }

    /// Reserves `amount` from what this instance's book holds now, without waiting.
    pub(crate) fn hold_now(
        &self,
        caller: &Caller,
        price: Price,
        amount: i64,
    ) -> Result<Session, Shortfall> {
        let paid = price.quota(1_000_000, 1_000_000) > 0;
        Session::reserve(self.s.ledger.clone(), caller.payer(), amount, paid)
    }
}

/// The tool calls a request makes whatever its answer shows: a chat call's
/// `web_search_options` (the search models search once a call) and Anthropic's code execution
/// (a container's minimum), when the call reaches its own family unconverted.
pub(crate) fn requested_tools(
    spec: &CallSpec,
    endpoint: Endpoint,
    conversion: Option<Conversion>,
) -> ToolCalls {
    let mut tools = ToolCalls::default();
    // A search model searches on every call, whoever calls it and however.
    if searches_always(&spec.model) {
        tools.add(Tool::SearchModel, 1);
    }
    if conversion.is_some() {
        return tools;
    }
    let own = match endpoint {
        Endpoint::ChatCompletions => Tool::SearchModel,
        Endpoint::Messages => Tool::CodeExecution,
        _ => return tools,
    };
    let mut asked = ToolCalls::default();
    asked.add(own, spec.tools.get(own).min(1));
    tools.max(asked)
}
