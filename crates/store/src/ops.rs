//! The SQL, written once and compiled once per backend.
//!
//! [`backend!`] expands to a module of concrete functions over one sqlx database type, so each
//! backend gets statically typed code (no `Any` driver) from one text. The two dialects differ
//! only in the row-lock suffix the macro is given (`FOR UPDATE` on PostgreSQL; SQLite's write
//! transaction already excludes other writers). Parameters are `$n`, which both engines accept.
//!
//! Reads take a pool. Writes take a connection that is already inside a write transaction and
//! never begin or commit one themselves: the caller ([`crate::Store`]) owns the transaction, a
//! plain one on PostgreSQL and a savepoint inside a group-committed batch on SQLite
//! ([`crate::group`]). A write that returns `Err` is rolled back whole.

macro_rules! backend {
    (db = $db:ty, lock = $lock:literal) => {
        use crate::StoreError;
        use crate::rows::{self, Get as _};
        use crate::{
            AccountRow, AcquirerTxnRow, AuthDecision, AuthOutcome, AuthRequestRow, AuthState,
            AuthStatus, IssuerCardRow, MerchantRow, NewAccount, PendingAdvice, ReverseOutcome,
            Queue, StoredAuth, TerminalRow, TokenRow,
        };

        type Pool = sqlx::Pool<$db>;
        type Conn = <$db as sqlx::Database>::Connection;

        // ---- issuer -------------------------------------------------------------------------

        pub(crate) async fn create_account(conn: &mut Conn, a: &NewAccount) -> Result<i64, StoreError> {
            const OP: &str = "create_account";
            let row = sqlx::query(
                "INSERT INTO accounts (kind, limit_minor, balance_minor, holds_minor, \
                 currency_numeric, is_open) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(&a.kind)
            .bind(a.limit_minor)
            .bind(a.balance_minor)
            .bind(a.holds_minor)
            .bind(a.currency_numeric)
            .bind(a.open)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::db(OP))?;
            row.i64("id")
        }

        pub(crate) async fn account(pool: &Pool, id: i64) -> Result<Option<AccountRow>, StoreError> {
            let row = sqlx::query(
                "SELECT id, kind, limit_minor, balance_minor, holds_minor, currency_numeric, \
                 is_open FROM accounts WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::db("account"))?;
            row.as_ref().map(rows::account).transpose()
        }

        pub(crate) async fn create_card(conn: &mut Conn, c: &IssuerCardRow) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO issuer_cards (pan_hash, last4, expiry_yymm, psn, status, account_id) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&c.pan_hash[..])
            .bind(&c.last4)
            .bind(&c.expiry_yymm)
            .bind(i32::from(c.psn))
            .bind(&c.status)
            .bind(c.account_id)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db("create_card"))?;
            Ok(())
        }

        pub(crate) async fn card(
            pool: &Pool,
            pan_hash: &[u8; 32],
        ) -> Result<Option<IssuerCardRow>, StoreError> {
            let row = sqlx::query(
                "SELECT pan_hash, last4, expiry_yymm, psn, status, account_id FROM issuer_cards \
                 WHERE pan_hash = $1",
            )
            .bind(&pan_hash[..])
            .fetch_optional(pool)
            .await
            .map_err(StoreError::db("card"))?;
            row.as_ref().map(rows::card).transpose()
        }

        pub(crate) async fn set_card_status(
            conn: &mut Conn,
            pan_hash: &[u8; 32],
            status: &str,
        ) -> Result<bool, StoreError> {
            let done = sqlx::query("UPDATE issuer_cards SET status = $2 WHERE pan_hash = $1")
                .bind(&pan_hash[..])
                .bind(status)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::db("set_card_status"))?;
            Ok(done.rows_affected() > 0)
        }

        pub(crate) async fn issuer_auth(
            pool: &Pool,
            dedup_key: &str,
        ) -> Result<Option<StoredAuth>, StoreError> {
            let mut conn = pool.acquire().await.map_err(StoreError::db("issuer_auth"))?;
            auth_by_key(&mut conn, dedup_key, false, "issuer_auth").await
        }

        async fn auth_by_key(
            conn: &mut Conn,
            dedup_key: &str,
            lock: bool,
            op: &'static str,
        ) -> Result<Option<StoredAuth>, StoreError> {
            let sql = if lock {
                concat!(
                    "SELECT id, dedup_key, pan_hash, kind, amount_minor, currency_numeric, \
                     at_unix, status, response_code, auth_code, hold_minor, account_id, \
                     response_blob FROM issuer_auths WHERE dedup_key = $1",
                    $lock
                )
            } else {
                "SELECT id, dedup_key, pan_hash, kind, amount_minor, currency_numeric, at_unix, \
                 status, response_code, auth_code, hold_minor, account_id, response_blob \
                 FROM issuer_auths WHERE dedup_key = $1"
            };
            let row = sqlx::query(sql)
                .bind(dedup_key)
                .fetch_optional(&mut *conn)
                .await
                .map_err(StoreError::db(op))?;
            row.as_ref().map(rows::stored_auth).transpose()
        }

        const EMPTY: &[u8] = &[];

        /// Claims the dedup key with a `pending` row; `None` when it is already taken (on
        /// PostgreSQL this waits for a concurrent claimant to commit or roll back).
        async fn claim(
            conn: &mut Conn,
            req: &AuthRequestRow,
            kind: &str,
            op: &'static str,
        ) -> Result<Option<u64>, StoreError> {
            let row = sqlx::query(
                "INSERT INTO issuer_auths (dedup_key, pan_hash, kind, amount_minor, \
                 currency_numeric, at_unix, status, response_code, hold_minor, response_blob) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', '', 0, $7) \
                 ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
            )
            .bind(&req.dedup_key)
            .bind(&req.pan_hash[..])
            .bind(kind)
            .bind(req.amount_minor)
            .bind(req.currency_numeric)
            .bind(req.at_unix)
            .bind(EMPTY)
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::db(op))?;
            match row {
                None => Ok(None),
                Some(row) => u64::try_from(row.i64("id")?)
                    .map(Some)
                    .map_err(|_| StoreError::Corrupt { column: "id" }),
            }
        }

        /// The card and its account (one statement), locked until the transaction ends. The
        /// schema guarantees a card's account exists.
        async fn card_and_account(
            conn: &mut Conn,
            pan_hash: &[u8; 32],
            op: &'static str,
        ) -> Result<(Option<IssuerCardRow>, Option<AccountRow>), StoreError> {
            let row = sqlx::query(concat!(
                "SELECT c.pan_hash, c.last4, c.expiry_yymm, c.psn, c.status, c.account_id, \
                 a.id, a.kind, a.limit_minor, a.balance_minor, a.holds_minor, \
                 a.currency_numeric, a.is_open \
                 FROM issuer_cards c JOIN accounts a ON a.id = c.account_id \
                 WHERE c.pan_hash = $1",
                $lock
            ))
            .bind(&pan_hash[..])
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::db(op))?;
            match row {
                None => Ok((None, None)),
                Some(row) => Ok((Some(rows::card(&row)?), Some(rows::account(&row)?))),
            }
        }

        async fn velocity(
            conn: &mut Conn,
            pan_hash: &[u8; 32],
            after_unix: i64,
            op: &'static str,
        ) -> Result<(u32, i64), StoreError> {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(hold_minor), 0) AS BIGINT) AS total \
                 FROM issuer_auths WHERE pan_hash = $1 AND at_unix > $2 AND status = 'held'",
            )
            .bind(&pan_hash[..])
            .bind(after_unix)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::db(op))?;
            let count = u32::try_from(row.i64("n")?).unwrap_or(u32::MAX);
            Ok((count, row.i64("total")?))
        }

        /// Writes the outcome into the claimed row and posts the hold.
        async fn settle(
            conn: &mut Conn,
            stored: &StoredAuth,
            op: &'static str,
        ) -> Result<(), StoreError> {
            let id = i64::try_from(stored.sequence)
                .map_err(|_| StoreError::Corrupt { column: "id" })?;
            sqlx::query(
                "UPDATE issuer_auths SET kind = $2, status = $3, response_code = $4, \
                 auth_code = $5, hold_minor = $6, account_id = $7, response_blob = $8 \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(&stored.kind)
            .bind(stored.status.as_str())
            .bind(&stored.response_code)
            .bind(stored.auth_code.as_deref())
            .bind(stored.hold_minor)
            .bind(stored.account_id)
            .bind(&stored.response_blob)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db(op))?;
            if stored.status == AuthStatus::Held {
                let Some(account_id) = stored.account_id else {
                    return Err(StoreError::InvalidDecision {
                        reason: "a hold needs an account",
                    });
                };
                adjust_holds(conn, account_id, stored.hold_minor, op).await?;
            }
            Ok(())
        }

        async fn adjust_holds(
            conn: &mut Conn,
            account_id: i64,
            delta_minor: i64,
            op: &'static str,
        ) -> Result<(), StoreError> {
            sqlx::query("UPDATE accounts SET holds_minor = holds_minor + $2 WHERE id = $1")
                .bind(account_id)
                .bind(delta_minor)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::db(op))?;
            Ok(())
        }

        fn fresh_record(
            sequence: u64,
            req: &AuthRequestRow,
            kind: &str,
            status: AuthStatus,
            account_id: Option<i64>,
            decision: AuthDecision,
        ) -> StoredAuth {
            StoredAuth {
                sequence,
                dedup_key: req.dedup_key.clone(),
                pan_hash: req.pan_hash,
                kind: kind.to_owned(),
                amount_minor: req.amount_minor,
                currency_numeric: req.currency_numeric,
                at_unix: req.at_unix,
                status,
                response_code: decision.response_code,
                auth_code: decision.auth_code,
                hold_minor: decision.hold_minor,
                account_id,
                response_blob: decision.response_blob,
            }
        }

        pub(crate) async fn issuer_authorize<F>(
            conn: &mut Conn,
            req: &AuthRequestRow,
            window_secs: i64,
            decide: F,
        ) -> Result<AuthOutcome, StoreError>
        where
            F: FnOnce(AuthState) -> AuthDecision,
        {
            const OP: &str = "issuer_authorize";
            let Some(sequence) = claim(conn, req, &req.kind, OP).await? else {
                let original = auth_by_key(conn, &req.dedup_key, false, OP)
                    .await?
                    .ok_or(StoreError::Corrupt { column: "dedup_key" })?;
                return Ok(AuthOutcome::Duplicate(original));
            };
            let (card, account) = card_and_account(conn, &req.pan_hash, OP).await?;
            let after_unix = req.at_unix.saturating_sub(window_secs);
            let (velocity_count, velocity_amount_minor) =
                velocity(conn, &req.pan_hash, after_unix, OP).await?;
            let account_id = account.as_ref().map(|a| a.id);
            let decision = decide(AuthState {
                sequence,
                card,
                account,
                velocity_count,
                velocity_amount_minor,
            });
            if decision.hold_minor < 0 {
                return Err(StoreError::InvalidDecision {
                    reason: "negative hold",
                });
            }
            let status = if decision.hold_minor > 0 {
                AuthStatus::Held
            } else {
                AuthStatus::Declined
            };
            let stored = fresh_record(sequence, req, &req.kind, status, account_id, decision);
            settle(conn, &stored, OP).await?;
            Ok(AuthOutcome::Fresh(stored))
        }

        pub(crate) async fn issuer_advice(
            conn: &mut Conn,
            req: &AuthRequestRow,
            auth_code: Option<String>,
            response_blob: Vec<u8>,
        ) -> Result<AuthOutcome, StoreError> {
            const OP: &str = "issuer_advice";
            if req.amount_minor <= 0 {
                return Err(StoreError::InvalidDecision {
                    reason: "an advice must carry a positive amount",
                });
            }
            let (sequence, upgraded) = match claim(conn, req, "advice", OP).await? {
                Some(sequence) => (sequence, None),
                None => {
                    let original = auth_by_key(conn, &req.dedup_key, true, OP)
                        .await?
                        .ok_or(StoreError::Corrupt { column: "dedup_key" })?;
                    if original.status != AuthStatus::Declined {
                        return Ok(AuthOutcome::Duplicate(original));
                    }
                    // The issuer declined (late) what the network approved in stand-in: the
                    // network's approval binds, so the advice's approval replaces the decline.
                    (original.sequence, Some(original))
                }
            };
            let (_, account) = card_and_account(conn, &req.pan_hash, OP).await?;
            let account_id = account.as_ref().map(|a| a.id);
            let (status, hold_minor) = match account_id {
                Some(_) => (AuthStatus::Held, req.amount_minor),
                None => (AuthStatus::Unmatched, 0),
            };
            let decision = AuthDecision {
                response_code: "00".to_owned(),
                auth_code,
                hold_minor,
                response_blob,
            };
            let mut stored = fresh_record(sequence, req, "advice", status, account_id, decision);
            if let Some(original) = upgraded {
                // The request's facts stay those first recorded.
                stored.amount_minor = original.amount_minor;
                stored.currency_numeric = original.currency_numeric;
                stored.at_unix = original.at_unix;
            }
            settle(conn, &stored, OP).await?;
            Ok(AuthOutcome::Fresh(stored))
        }

        pub(crate) async fn issuer_reverse(
            conn: &mut Conn,
            req: &AuthRequestRow,
        ) -> Result<ReverseOutcome, StoreError> {
            const OP: &str = "issuer_reverse";
            let Some(original) = auth_by_key(conn, &req.dedup_key, true, OP).await? else {
                // The reversal overtook its original (or the original never arrived): keep the
                // key as reversed, so a late original is refused instead of held.
                let Some(sequence) = claim(conn, req, "reversal", OP).await? else {
                    return Err(StoreError::Corrupt { column: "dedup_key" });
                };
                let id = i64::try_from(sequence).map_err(|_| StoreError::Corrupt { column: "id" })?;
                sqlx::query("UPDATE issuer_auths SET status = 'reversed' WHERE id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .map_err(StoreError::db(OP))?;
                return Ok(ReverseOutcome::RecordedAhead);
            };
            let outcome = match (original.status, original.account_id) {
                (AuthStatus::Held, Some(account_id)) => {
                    let id = i64::try_from(original.sequence)
                        .map_err(|_| StoreError::Corrupt { column: "id" })?;
                    sqlx::query("UPDATE issuer_auths SET status = 'reversed' WHERE id = $1")
                        .bind(id)
                        .execute(&mut *conn)
                        .await
                        .map_err(StoreError::db(OP))?;
                    adjust_holds(conn, account_id, -original.hold_minor, OP).await?;
                    ReverseOutcome::Released {
                        amount_minor: original.hold_minor,
                    }
                }
                (AuthStatus::Held, None) => {
                    return Err(StoreError::Corrupt {
                        column: "account_id",
                    });
                }
                (AuthStatus::Reversed, _) => ReverseOutcome::AlreadyReversed,
                (AuthStatus::Declined | AuthStatus::Unmatched, _) => ReverseOutcome::NothingHeld,
            };
            Ok(outcome)
        }

        // ---- network: token vault and advice outbox ----------------------------------------

        pub(crate) async fn insert_token(conn: &mut Conn, t: &TokenRow) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO tokens (dpan_hash, dpan_last4, fpan_envelope, token_expiry_yymm, \
                 status, token_requestor_id, channels, device_id, psn, tur, par, atc_window, \
                 standin_count, created_at_unix, credential) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(&t.dpan_hash[..])
            .bind(&t.dpan_last4)
            .bind(&t.fpan_envelope)
            .bind(&t.token_expiry_yymm)
            .bind(&t.status)
            .bind(&t.token_requestor_id)
            .bind(t.channels)
            .bind(t.device_id.as_deref())
            .bind(i32::from(t.psn))
            .bind(&t.tur)
            .bind(&t.par)
            .bind(&t.atc_window)
            .bind(t.standin_count)
            .bind(t.created_at_unix)
            .bind(&t.credential)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db("insert_token"))?;
            Ok(())
        }

        pub(crate) async fn token(
            pool: &Pool,
            dpan_hash: &[u8; 32],
        ) -> Result<Option<TokenRow>, StoreError> {
            let row = sqlx::query(
                "SELECT dpan_hash, dpan_last4, fpan_envelope, token_expiry_yymm, status, \
                 token_requestor_id, channels, device_id, psn, tur, par, atc_window, \
                 standin_count, created_at_unix, credential FROM tokens WHERE dpan_hash = $1",
            )
            .bind(&dpan_hash[..])
            .fetch_optional(pool)
            .await
            .map_err(StoreError::db("token"))?;
            row.as_ref().map(rows::token).transpose()
        }

        pub(crate) async fn token_by_tur(
            pool: &Pool,
            tur: &str,
        ) -> Result<Option<TokenRow>, StoreError> {
            let row = sqlx::query(
                "SELECT dpan_hash, dpan_last4, fpan_envelope, token_expiry_yymm, status, \
                 token_requestor_id, channels, device_id, psn, tur, par, atc_window, \
                 standin_count, created_at_unix, credential FROM tokens WHERE tur = $1",
            )
            .bind(tur)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::db("token_by_tur"))?;
            row.as_ref().map(rows::token).transpose()
        }

        pub(crate) async fn tokens_by_par(
            pool: &Pool,
            par: &str,
        ) -> Result<Vec<TokenRow>, StoreError> {
            let found = sqlx::query(
                "SELECT dpan_hash, dpan_last4, fpan_envelope, token_expiry_yymm, status, \
                 token_requestor_id, channels, device_id, psn, tur, par, atc_window, \
                 standin_count, created_at_unix, credential FROM tokens WHERE par = $1 \
                 ORDER BY created_at_unix, tur",
            )
            .bind(par)
            .fetch_all(pool)
            .await
            .map_err(StoreError::db("tokens_by_par"))?;
            found.iter().map(rows::token).collect()
        }

        pub(crate) async fn set_token_status(
            conn: &mut Conn,
            tur: &str,
            status: &str,
        ) -> Result<bool, StoreError> {
            const OP: &str = "set_token_status";
            let done = sqlx::query("UPDATE tokens SET status = $2 WHERE tur = $1")
                .bind(tur)
                .bind(status)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::db(OP))?;
            if status == "deleted" {
                // A deleted token's limited-use keys die with it, in the same write.
                sqlx::query(
                    "UPDATE token_limited_use_keys SET revoked = TRUE \
                     WHERE tur = $1 AND revoked = FALSE",
                )
                .bind(tur)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::db(OP))?;
            }
            Ok(done.rows_affected() > 0)
        }

        /// The token locked, `f` on it and on its `atc_uses`, then the mutable fields written
        /// back when `f` changed any, and the advice `f` returned queued.
        pub(crate) async fn token_update<T, F>(
            conn: &mut Conn,
            dpan_hash: &[u8; 32],
            f: F,
        ) -> Result<Option<(T, Option<i64>)>, StoreError>
        where
            F: FnOnce(&mut TokenRow, &mut Vec<u8>) -> (T, Option<Vec<u8>>),
        {
            const OP: &str = "token_update";
            let row = sqlx::query(concat!(
                "SELECT dpan_hash, dpan_last4, fpan_envelope, token_expiry_yymm, status, \
                 token_requestor_id, channels, device_id, psn, tur, par, atc_window, \
                 standin_count, created_at_unix, credential, atc_uses FROM tokens WHERE dpan_hash = $1",
                $lock
            ))
            .bind(&dpan_hash[..])
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::db(OP))?;
            let Some(row) = row else {
                return Ok(None);
            };
            let before = rows::token(&row)?;
            let uses_before = row.bytes("atc_uses")?;
            let mut after = before.clone();
            let mut uses = uses_before.clone();
            let (out, advice) = f(&mut after, &mut uses);
            if after.status != before.status
                || after.atc_window != before.atc_window
                || after.standin_count != before.standin_count
                || uses != uses_before
            {
                sqlx::query(
                    "UPDATE tokens SET status = $2, atc_window = $3, standin_count = $4, \
                     atc_uses = $5 WHERE dpan_hash = $1",
                )
                .bind(&dpan_hash[..])
                .bind(&after.status)
                .bind(&after.atc_window)
                .bind(after.standin_count)
                .bind(&uses)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::db(OP))?;
            }
            let advice_id = match advice {
                Some(payload) => Some(enqueue(conn, Queue::NetworkAdvices, &payload, OP).await?),
                None => None,
            };
            Ok(Some((out, advice_id)))
        }

        async fn enqueue(
            conn: &mut Conn,
            queue: Queue,
            payload: &[u8],
            op: &'static str,
        ) -> Result<i64, StoreError> {
            let row = sqlx::query(
                "INSERT INTO advice_outbox (queue, payload, attempts, delivered) \
                 VALUES ($1, $2, 0, FALSE) RETURNING id",
            )
            .bind(queue.as_str())
            .bind(payload)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::db(op))?;
            row.i64("id")
        }

        pub(crate) async fn enqueue_advice(
            conn: &mut Conn,
            queue: Queue,
            payload: &[u8],
        ) -> Result<i64, StoreError> {
            const OP: &str = "enqueue_advice";
            enqueue(conn, queue, payload, OP).await
        }

        pub(crate) async fn pending_advices(
            pool: &Pool,
            queue: Queue,
            limit: u32,
        ) -> Result<Vec<PendingAdvice>, StoreError> {
            let found = sqlx::query(
                "SELECT id, payload, attempts FROM advice_outbox \
                 WHERE queue = $1 AND delivered = FALSE ORDER BY id LIMIT $2",
            )
            .bind(queue.as_str())
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(StoreError::db("pending_advices"))?;
            found.iter().map(rows::pending_advice).collect()
        }

        pub(crate) async fn mark_advice_delivered(conn: &mut Conn, id: i64) -> Result<bool, StoreError> {
            let done = sqlx::query(
                "UPDATE advice_outbox SET delivered = TRUE WHERE id = $1 AND delivered = FALSE",
            )
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db("mark_advice_delivered"))?;
            Ok(done.rows_affected() > 0)
        }

        pub(crate) async fn bump_advice_attempt(
            conn: &mut Conn,
            id: i64,
        ) -> Result<Option<i32>, StoreError> {
            let row = sqlx::query(
                "UPDATE advice_outbox SET attempts = attempts + 1 \
                 WHERE id = $1 AND delivered = FALSE RETURNING attempts",
            )
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::db("bump_advice_attempt"))?;
            row.map(|r| r.i32("attempts")).transpose()
        }

        // ---- acquirer -----------------------------------------------------------------------

        pub(crate) async fn insert_merchant(conn: &mut Conn, m: &MerchantRow) -> Result<(), StoreError> {
            sqlx::query("INSERT INTO merchants (merchant_id, name_location, mcc) VALUES ($1, $2, $3)")
                .bind(&m.merchant_id)
                .bind(&m.name_location)
                .bind(&m.mcc)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::db("insert_merchant"))?;
            Ok(())
        }

        pub(crate) async fn insert_terminal(conn: &mut Conn, t: &TerminalRow) -> Result<(), StoreError> {
            sqlx::query("INSERT INTO terminals (terminal_id, merchant_id) VALUES ($1, $2)")
                .bind(&t.terminal_id)
                .bind(&t.merchant_id)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::db("insert_terminal"))?;
            Ok(())
        }

        pub(crate) async fn terminal_with_merchant(
            pool: &Pool,
            terminal_id: &str,
        ) -> Result<Option<(TerminalRow, MerchantRow)>, StoreError> {
            let row = sqlx::query(
                "SELECT t.terminal_id, m.merchant_id, m.name_location, m.mcc \
                 FROM terminals t JOIN merchants m ON m.merchant_id = t.merchant_id \
                 WHERE t.terminal_id = $1",
            )
            .bind(terminal_id)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::db("terminal_with_merchant"))?;
            let Some(row) = row else { return Ok(None) };
            let merchant = rows::merchant(&row)?;
            let terminal = TerminalRow {
                terminal_id: row.text("terminal_id")?,
                merchant_id: merchant.merchant_id.clone(),
            };
            Ok(Some((terminal, merchant)))
        }

        pub(crate) async fn record_acquirer_txn(
            conn: &mut Conn,
            t: &AcquirerTxnRow,
            reversal: Option<&[u8]>,
        ) -> Result<i64, StoreError> {
            const OP: &str = "record_acquirer_txn";
            let row = sqlx::query(
                "INSERT INTO acquirer_txns (terminal_id, stan, rrn, amount_minor, \
                 currency_numeric, response_code, auth_code, at_unix) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(&t.terminal_id)
            .bind(&t.stan)
            .bind(&t.rrn)
            .bind(t.amount_minor)
            .bind(t.currency_numeric)
            .bind(&t.response_code)
            .bind(t.auth_code.as_deref())
            .bind(t.at_unix)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::db(OP))?;
            let id = row.i64("id")?;
            if let Some(payload) = reversal {
                enqueue(conn, Queue::AcquirerReversals, payload, OP).await?;
            }
            Ok(id)
        }

        pub(crate) async fn acquirer_journal(
            pool: &Pool,
            terminal_id: &str,
            limit: u32,
        ) -> Result<Vec<AcquirerTxnRow>, StoreError> {
            let found = sqlx::query(
                "SELECT terminal_id, stan, rrn, amount_minor, currency_numeric, response_code, \
                 auth_code, at_unix FROM acquirer_txns WHERE terminal_id = $1 \
                 ORDER BY id DESC LIMIT $2",
            )
            .bind(terminal_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(StoreError::db("acquirer_journal"))?;
            found.iter().map(rows::acquirer_txn).collect()
        }

        // ---- seeding ------------------------------------------------------------------------

        pub(crate) async fn seeded(pool: &Pool) -> Result<bool, StoreError> {
            let row = sqlx::query("SELECT value FROM meta WHERE name = 'seeded'")
                .fetch_optional(pool)
                .await
                .map_err(StoreError::db("seeded"))?;
            Ok(row.is_some())
        }

        pub(crate) async fn mark_seeded(conn: &mut Conn) -> Result<bool, StoreError> {
            let done = sqlx::query(
                "INSERT INTO meta (name, value) VALUES ('seeded', '1') \
                 ON CONFLICT (name) DO NOTHING",
            )
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db("mark_seeded"))?;
            Ok(done.rows_affected() > 0)
        }
    };
}

/// SQLite: `BEGIN IMMEDIATE` takes the database's write lock when the transaction starts, so
/// the reads inside it see the state the writes apply to; no row locks are needed.
pub(crate) mod lite {
    backend!(db = sqlx::Sqlite, lock = "");
}

/// PostgreSQL (READ COMMITTED): the dedup key's unique index serializes identical requests, and
/// `SELECT ... FOR UPDATE` locks the card, account, authorization or token rows the
/// transaction reads before it writes them.
pub(crate) mod pg {
    backend!(db = sqlx::Postgres, lock = " FOR UPDATE");
}
