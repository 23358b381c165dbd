//! The money of a call: a [`Session`] holds the quota reserved for it until it is settled or
//! refunded (it can outlive the request, as async tasks need), and a [`Meter`] turns an
//! answer's usage into a settled amount and a billing record for the batch writer.

mod cost;
pub mod ledger;

pub(crate) use cost::Fees;

use crate::auth::Caller;
use crate::error::RelayError;
use crate::stream::sse::{SseMeter, Usage};
use crate::tokenizer;
use bytes::Bytes;
use domain::pricing::{Cached, Price};
pub use ledger::{
    Account, Book, Ledger, LedgerError, LedgerFuture, MemoryLedger, Payer, Shortfall, Spendable,
    TokenId, UserId,
};
use persistence::billing::{BillingRecord, BillingWriter};
use std::sync::Arc;
use std::time::Instant;

/// Quota taken from a user (and a limited key) before an upstream call. Dropped without
/// [`Session::settle`], it gives the whole reservation back.
pub struct Session {
    ledger: Arc<dyn Ledger>,
    payer: Payer,
    reserved: i64,
    open: bool,
}

impl Session {
    /// Reserves `amount` from what this instance's book holds (both balances or neither;
    /// [`Ledger::lease`] first fills it). A paid call needs a positive balance even when its
    /// estimate rounds to nothing.
    pub fn reserve(
        ledger: Arc<dyn Ledger>,
        payer: Payer,
        amount: i64,
        paid: bool,
    ) -> Result<Session, Shortfall> {
        ledger.reserve(payer, amount, paid)?;
        Ok(Session {
            ledger,
            payer,
            reserved: amount,
            open: true,
        })
    }

    /// What is reserved.
    pub fn reserved(&self) -> i64 {
        self.reserved
    }

    /// Reserves `amount` more from this instance's book.
    pub fn extend(&mut self, amount: i64) -> Result<(), Shortfall> {
        self.ledger.reserve(self.payer, amount, false)?;
        self.reserved += amount;
        Ok(())
    }

    /// Charges `cost`: what was reserved beyond it goes back; past the reservation only what
    /// the balances still hold is taken. Returns the amount charged.
    pub fn settle(mut self, cost: i64) -> i64 {
        self.open = false;
        self.ledger
            .book()
            .settle(self.payer, self.reserved, cost.max(0))
    }

    /// Gives the whole reservation back.
    pub fn refund(self) {}
}

impl Drop for Session {
    /// A session dropped unsettled (the caller hung up, the call failed) gives its reservation
    /// back to this instance's book: a memory move, no network; a shared ledger's background
    /// work returns unused slices to the shared balance.
    fn drop(&mut self) {
        if self.open {
            self.ledger.book().credit(self.payer, self.reserved);
        }
    }
}

/// Everything needed to bill one successful upstream answer.
pub(crate) struct Meter {
    pub session: Option<Session>,
    pub billing: BillingWriter,
    pub caller: Caller,
    pub channel_id: i32,
    pub model: String,
    pub price: Price,
    /// A per-call price is charged this many times.
    pub count: i64,
    pub prompt_estimate: i64,
    /// The JSON request, kept (shared, not copied) for local counting; empty for uploads.
    pub request: Bytes,
    pub started: Instant,
    pub request_id: String,
    pub ip: String,
    pub stream: bool,
    pub fees: Fees,
    /// The key's tokens-a-minute counter, when it has that limit.
    pub tokens: Option<crate::limits::TokenCount>,
}

impl Meter {
    /// Reserves the price of `tokens` more output tokens, or says which balance is short.
    pub fn extend_output(&mut self, tokens: i64) -> Result<(), RelayError> {
        let tier = self.fees.reserved_tier();
        let price = self
            .fees
            .effective(self.price, &self.model, tier, 0, &mut Vec::new());
        let amount = price.quota(0, tokens);
        let holder = match self.session.as_mut().map(|s| s.extend(amount)) {
            None | Some(Ok(())) => return Ok(()),
            Some(Err(short)) => short.holder().0,
        };
        Err(RelayError::Insufficient {
            holder,
            model: self.model.clone(),
            affordable_output: None,
        })
    }

    /// Settles on `usage` and queues the billing record.
    pub fn bill(mut self, usage: Option<Usage>) {
        self.bill_with(usage, None);
    }

    /// Settles a whole answer: on its usage, else on its prompt and its text counted here (at
    /// least what the request was reserved for when the text cannot tell: images).
    pub fn bill_answer(mut self, body: &[u8]) {
        let usage = crate::stream::sse::usage_of(body);
        if usage.is_none() {
            let counted = tokenizer::answer_tokens(&self.model, body);
            self.fees.unreported_output = self.fees.unreported_output.max(counted);
        }
        self.bill_with(usage, None);
    }

    /// Bills `usage`, or, when the upstream gave none, tokens counted locally: the request's
    /// prompt and what was streamed. Bills once; later calls do nothing.
    pub fn bill_with(&mut self, usage: Option<Usage>, streamed: Option<&SseMeter>) {
        let Some(session) = self.session.take() else {
            return;
        };
        let streamed_tokens = |s: &SseMeter| {
            tokenizer::completion_tokens(&self.model, &s.retained) + s.overflow_events
        };
        let usage = match (usage, streamed) {
            // A stream cut before its final usage (Anthropic's reports the output at the end):
            // the output is at least what was streamed.
            (Some(u), Some(s)) if !s.complete => Usage {
                completion_tokens: u.completion_tokens.max(streamed_tokens(s)),
                ..u
            },
            (Some(u), _) => u,
            (None, _) => {
                let prompt = match self.price {
                    // The text counted here, and the media it carried at what was reserved
                    // for them (their tokens are not in the text).
                    Price::PerToken { .. } if !self.request.is_empty() => {
                        tokenizer::prompt_tokens(&self.model, &self.request)
                            .saturating_add(self.fees.media_prompt)
                    }
                    _ => self.prompt_estimate,
                };
                Usage {
                    prompt_tokens: prompt,
                    completion_tokens: streamed
                        .map_or(self.fees.unreported_output, streamed_tokens),
                    ..Usage::default()
                }
            }
        };
        // Tools a stream showed running count even when its closing report never came.
        let usage = Usage {
            tools: streamed.map_or(usage.tools, |s| usage.tools.max(s.tools_seen)),
            ..usage
        };
        if let Some(count) = &self.tokens {
            count.add(usage.prompt_tokens.saturating_add(usage.completion_tokens));
        }
        let cost = self.fees.cost(self.price, &self.model, &usage, self.count);
        let quota = session.settle(cost.quota);
        let mut content = match self.price {
            Price::PerToken {
                model_ratio,
                completion_ratio,
                group_ratio,
                cache_ratio,
                create_cache_ratio,
            } => {
                let mut text = format!(
                    "模型倍率 {model_ratio}，补全倍率 {completion_ratio}，分组倍率 {group_ratio}"
                );
                let Cached { read, written } = usage.cached;
                if read > 0 {
                    text.push_str(&format!("，缓存读取 {read} tokens（倍率 {cache_ratio}）"));
                }
                if written > 0 {
                    text.push_str(&format!(
                        "，缓存写入 {written} tokens（倍率 {create_cache_ratio}）"
                    ));
                }
                text
            }
            Price::PerCall { usd, group_ratio } => {
                format!("模型价格 {usd}，分组倍率 {group_ratio}")
            }
        };
        for note in &cost.notes {
            content.push('，');
            content.push_str(note);
        }
        if quota < cost.quota {
            content.push_str(&format!(
                "；余额不足，按余额扣费 {quota}（应扣 {}）",
                cost.quota
            ));
        }
        self.record(usage.prompt_tokens, usage.completion_tokens, quota, content);
    }
}

impl Meter {
    /// Queues the billing record of `quota` charged for these tokens.
    pub(crate) fn record(&self, prompt: i64, completion: i64, quota: i64, content: String) {
        crate::telemetry::billed(&self.model, self.channel_id, quota);
        self.billing.submit(BillingRecord {
            user_id: self.caller.user.id,
            username: self.caller.user.username.clone(),
            token_id: self.caller.token.id,
            token_name: self.caller.token.name.clone(),
            token_unlimited: self.caller.token.unlimited,
            channel_id: self.channel_id,
            model_name: self.model.clone(),
            prompt_tokens: i32::try_from(prompt).unwrap_or(i32::MAX),
            completion_tokens: i32::try_from(completion).unwrap_or(i32::MAX),
            quota,
            group: self.caller.group.clone(),
            is_stream: self.stream,
            use_time: i32::try_from(self.started.elapsed().as_secs()).unwrap_or(i32::MAX),
            request_id: self.request_id.clone(),
            ip: self.ip.clone(),
            content,
            created_at: domain::now_ts(),
            task: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sessions_settle_once_or_refund() {
        let db = persistence::connect("sqlite::memory:").await.expect("db");
        let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::new(db));
        let payer = Payer {
            user: UserId(1),
            token: None,
        };
        ledger.book().load(Account::User(UserId(1)), 1000);
        let balance = || ledger.book().user_balance(UserId(1));
        let s = Session::reserve(ledger.clone(), payer, 300, true);
        assert_eq!(balance(), Some(700));
        drop(s);
        assert_eq!(balance(), Some(1000), "dropped: refunded");
        let s = Session::reserve(ledger.clone(), payer, 300, true);
        assert_eq!(s.map(|s| s.settle(120)).ok(), Some(120));
        assert_eq!(balance(), Some(880));
        let s = Session::reserve(ledger.clone(), payer, 100, true);
        assert_eq!(
            s.map(|s| s.settle(5000)).ok(),
            Some(880),
            "capped at the balance"
        );
        assert_eq!(balance(), Some(0));
        assert!(Session::reserve(ledger.clone(), payer, 1, true).is_err());
    }
}
