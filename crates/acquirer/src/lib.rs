//! The acquirer host: terminals send it ISO 8583 authorizations; it checks the terminal belongs
//! to one of its merchants, adds the merchant's data (DE 18 MCC, DE 42, DE 43), routes the
//! request to the card network, journals the answer and returns it to the terminal.
#![forbid(unsafe_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use iso8583::{Message, Mti, ResponseCode};
use iso8583_net::{Client, IsoCodec, ServeReport};
use store::{AcquirerTxnRow, Store};
use tokio::net::TcpListener;

/// The wall clock, as Unix seconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The acquirer host.
pub struct Acquirer {
    store: Store,
    network: Client<IsoCodec>,
    timeout: Duration,
    clock: Clock,
}

fn response(req: &Message, code: ResponseCode) -> Message {
    req.response_to(code)
}

impl Acquirer {
    /// An acquirer on `store` routing to the network through `network`.
    pub fn new(store: Store, network: Client<IsoCodec>, timeout: Duration, clock: Clock) -> Self {
        Self {
            store,
            network,
            timeout,
            clock,
        }
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
        let answer = match self
            .network
            .request_with_timeout(msg.clone(), self.timeout)
            .await
        {
            Ok(rsp) => rsp,
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
        if let Err(e) = self.store.record_acquirer_txn(&journal).await {
            tracing::error!(error = %e, "acquirer journal write failed");
        }
        answer
    }
}

/// Serves terminals on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    acquirer: Arc<Acquirer>,
    shutdown: impl Future<Output = ()> + Send,
) -> ServeReport {
    let handler = iso8583_net::handler_fn(move |msg: Message| {
        let acquirer = Arc::clone(&acquirer);
        async move { acquirer.handle(msg).await }
    });
    iso8583_net::serve(listener, IsoCodec, handler, shutdown).await
}
