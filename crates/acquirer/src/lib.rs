//! The acquirer host: terminals send it ISO 8583 authorizations; it checks the terminal belongs
//! to one of its merchants, adds the merchant's data (DE 18 MCC, DE 42, DE 43), routes the
//! request to the card network, journals the answer and returns it to the terminal.
//!
//! When the network does not answer in time the terminal is told 91, but the authorization may
//! still have been approved further down the line, holding the cardholder's funds for a sale
//! that did not happen. So the acquirer journals the 91 together with a reversal (0400, DE 90
//! naming the original) in one transaction, and a courier delivers queued reversals until the
//! network acknowledges them ([`Acquirer::deliver_reversals`], run every
//! [`REVERSAL_RETRY_INTERVAL`] by [`run`] unless [`Acquirer::with_reversal_interval`] says
//! otherwise). The issuer releases a hold once per reversal, and a
//! reversal that overtakes its original makes the issuer refuse the original when it arrives.
#![forbid(unsafe_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use iso8583::{Message, Mti, ResponseCode, fields, spec::ASCII87};
use iso8583_net::{Client, IsoCodec, ServeReport};
use store::{AcquirerTxnRow, Queue, Store};
use tokio::net::TcpListener;

/// The wall clock, as Unix seconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The acquirer host.
pub struct Acquirer {
    store: Store,
    network: Client<IsoCodec>,
    timeout: Duration,
    clock: Clock,
    /// How often [`run`] retries queued reversals.
    reversal_interval: Duration,
}

fn response(req: &Message, code: ResponseCode) -> Message {
    req.response_to(code)
}

/// How often [`run`] retries queued reversals by default.
pub const REVERSAL_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// DE 39 in a reversal: why it is sent ("68": the response came too late or not at all).
const REVERSAL_REASON_NO_RESPONSE: ResponseCode = ResponseCode(*b"68");

/// The reversal (0400) of an authorization request `original`, as sent to the network: the
/// same identity (DE 11, 37, 41, 42), card, amount and currency, DE 39 "68", and DE 90 with
/// the original's MTI, STAN and transmission time. The chip data is not repeated.
pub fn reversal_of(original: &Message) -> Message {
    let mut reversal = original.clone();
    reversal.mti = Mti::REVERSAL_REQUEST;
    reversal.remove_field(fields::ICC_DATA);
    reversal.remove_field(fields::TRACK2);
    reversal.set_response_code(REVERSAL_REASON_NO_RESPONSE);
    let original_data = format!(
        "{}{:06}{:0>10}{:0>22}",
        original.mti,
        original.stan().unwrap_or(0),
        original.transmission_date_time().unwrap_or_default(),
        "",
    );
    reversal.set_text(fields::ORIGINAL_DATA_ELEMENTS, &original_data);
    reversal
}

impl Acquirer {
    /// An acquirer on `store` routing to the network through `network`.
    pub fn new(store: Store, network: Client<IsoCodec>, timeout: Duration, clock: Clock) -> Self {
        Self {
            store,
            network,
            timeout,
            clock,
            reversal_interval: REVERSAL_RETRY_INTERVAL,
        }
    }

    /// Retries queued reversals every `interval` instead of [`REVERSAL_RETRY_INTERVAL`].
    #[must_use]
    pub fn with_reversal_interval(mut self, interval: Duration) -> Self {
        self.reversal_interval = interval;
        self
    }

    /// Answers one message from a terminal.
    pub async fn handle(&self, msg: Message) -> Option<Message> {
        match msg.mti {
            Mti::AUTHORIZATION_REQUEST | Mti::REVERSAL_REQUEST | Mti::REVERSAL_ADVICE => {
                Some(self.route(msg).await)
            }
            Mti::NETWORK_MANAGEMENT_REQUEST => Some(msg.network_management_response()),
            other if other.is_request() => Some(response(&msg, ResponseCode::FORMAT_ERROR)),
            _ => None,
        }
    }

    async fn route(&self, mut msg: Message) -> Message {
        let Some(terminal) = msg.terminal_id().map(str::to_owned) else {
            return response(&msg, ResponseCode::FORMAT_ERROR);
        };
        let merchant = match self.store.terminal_with_merchant(terminal.trim_end()).await {
            Ok(Some((_, merchant))) => merchant,
            Ok(None) => return response(&msg, ResponseCode::NOT_PERMITTED_TO_TERMINAL),
            Err(e) => {
                tracing::error!(error = %e, "acquirer store failed; answered 96");
                return response(&msg, ResponseCode::SYSTEM_MALFUNCTION);
            }
        };
        msg.set_merchant_type(&merchant.mcc);
        msg.set_merchant_id(&merchant.merchant_id);
        msg.set_merchant_name_location(&merchant.name_location);
        let mut reversal = None;
        let answer = match self
            .network
            .request_with_timeout(msg.clone(), self.timeout)
            .await
        {
            Ok(rsp) => rsp,
            Err(e) if msg.mti == Mti::AUTHORIZATION_REQUEST => {
                tracing::warn!(error = %e, "network did not answer; answered 91, reversal queued");
                reversal = reversal_of(&msg).pack(&ASCII87).ok();
                response(&msg, ResponseCode::ISSUER_OR_SWITCH_INOPERATIVE)
            }
            Err(e) => {
                tracing::warn!(error = %e, "network did not answer; answered 91");
                response(&msg, ResponseCode::ISSUER_OR_SWITCH_INOPERATIVE)
            }
        };
        let journal = AcquirerTxnRow {
            terminal_id: terminal,
            stan: msg.stan().map(|s| format!("{s:06}")).unwrap_or_default(),
            rrn: msg.rrn().unwrap_or_default().to_owned(),
            amount_minor: msg
                .amount_minor()
                .and_then(|a| i64::try_from(a).ok())
                .unwrap_or(0),
            currency_numeric: msg
                .currency_code()
                .and_then(|c| c.parse().ok())
                .unwrap_or(0),
            response_code: answer
                .response_code()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            auth_code: answer.auth_code().map(str::to_owned),
            at_unix: (self.clock)(),
        };
        if let Err(e) = self
            .store
            .record_acquirer_txn(&journal, reversal.as_deref())
            .await
        {
            tracing::error!(error = %e, "acquirer journal write failed");
        }
        answer
    }

    /// Sends queued reversals to the network, oldest first; returns how many it acknowledged.
    /// A reversal stays queued (its attempt counted) until the network answers it with 00.
    pub async fn deliver_reversals(&self) -> usize {
        let pending = match self
            .store
            .pending_advices(Queue::AcquirerReversals, 100)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "acquirer could not read its reversal queue");
                return 0;
            }
        };
        let mut delivered = 0;
        for queued in pending {
            let Ok(reversal) = Message::unpack(&queued.payload, &ASCII87) else {
                // Written by this host with the same spec: unreadable means corrupted.
                tracing::error!(id = queued.id, "queued reversal does not decode; dropped");
                let _ = self.store.mark_advice_delivered(queued.id).await;
                continue;
            };
            match self
                .network
                .request_with_timeout(reversal, self.timeout)
                .await
            {
                Ok(rsp) if rsp.response_code().is_some_and(ResponseCode::is_approval) => {
                    if self
                        .store
                        .mark_advice_delivered(queued.id)
                        .await
                        .unwrap_or(false)
                    {
                        delivered += 1;
                    }
                }
                Ok(_) | Err(_) => {
                    let _ = self.store.bump_advice_attempt(queued.id).await;
                }
            }
        }
        delivered
    }
}

/// Serves terminals on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    acquirer: Arc<Acquirer>,
    shutdown: impl Future<Output = ()> + Send,
) -> ServeReport {
    let courier = Arc::clone(&acquirer);
    let reversals = tokio::spawn(async move {
        let mut tick = tokio::time::interval(courier.reversal_interval);
        loop {
            tick.tick().await;
            courier.deliver_reversals().await;
        }
    });
    let handler = iso8583_net::handler_fn(move |msg: Message| {
        let acquirer = Arc::clone(&acquirer);
        async move { acquirer.handle(msg).await }
    });
    let report = iso8583_net::serve(listener, IsoCodec, handler, shutdown).await;
    reversals.abort();
    report
}
