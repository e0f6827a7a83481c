//! The wallet backend's SQL, written once and compiled once per backend, in the same way as the
//! hosts' (`crate::ops`): a macro expands to a module of concrete functions over one sqlx
//! database type, given the statement that opens a write transaction and the row-lock suffix.

macro_rules! wallet_backend {
    (db = $db:ty, begin = $begin:literal, lock = $lock:literal) => {
        use crate::StoreError;
        use crate::wallet::rows::{self, Col as _};
        use crate::wallet::{
            Cursor, DeviceCursor, DeviceRow, DeviceStatusChange, IdempotencyBegin,
            IdempotencyClaim, NewSession, NewUser, ProvisionedTokenRow, RefreshOutcome,
            SessionRow, SetDefault, TokenUpdate, TransactionRow, UserRow, WebhookEvent,
            WebhookOutcome, normalize_email,
        };

        type Pool = sqlx::Pool<$db>;
        type Conn = <$db as sqlx::Database>::Connection;
        type Tx = sqlx::Transaction<'static, $db>;

        async fn begin(pool: &Pool, op: &'static str) -> Result<Tx, StoreError> {
            pool.begin_with($begin).await.map_err(StoreError::db(op))
        }

        async fn commit(tx: Tx, op: &'static str) -> Result<(), StoreError> {
            tx.commit().await.map_err(StoreError::db(op))
        }

        const SESSION_COLUMNS: &str =
            "s.id, s.user_id, s.created_at, s.expires_at, s.revoked_at, s.revoked_reason";
        const DEVICE_COLUMNS: &str = "id, user_id, name, platform, se_public_jwk, \
             se_key_thumbprint, status, created_at, status_changed_at";
        const TOKEN_COLUMNS: &str = "id, user_id, device_id, tur, network, fpan_last4, status, \
             suspended_by, decline_reason, product_name, card_art, verification_methods, \
             otp_method, is_default, tsp_updated_at, created_at, updated_at, credential";
        const TRANSACTION_COLUMNS: &str = "id, user_id, token_id, event_id, amount_minor, \
             currency, approved, response_code, merchant_name, merchant_city, merchant_country, \
             category, mcc, occurred_at, received_at";

        pub(crate) async fn ping(pool: &Pool) -> Result<(), StoreError> {
            sqlx::query("SELECT 1")
                .execute(pool)
                .await
                .map_err(StoreError::db("ping"))?;
            Ok(())
        }

        // ---- users ----------------------------------------------------------------------------

        pub(crate) async fn create_user(pool: &Pool, u: &NewUser) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO users (id, email, email_normalized, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&u.id)
            .bind(&u.email)
            .bind(normalize_email(&u.email))
            .bind(&u.password_hash)
            .bind(u.created_at_unix)
            .execute(pool)
            .await
            .map_err(StoreError::db("create_user"))?;
            Ok(())
        }

        pub(crate) async fn user_by_email(
            pool: &Pool,
            email: &str,
        ) -> Result<Option<UserRow>, StoreError> {
            let row = sqlx::query(
                "SELECT id, email, password_hash, created_at FROM users \
                 WHERE email_normalized = $1",
            )
            .bind(normalize_email(email))
            .fetch_optional(pool)
            .await
            .map_err(StoreError::db("user_by_email"))?;
            row.as_ref().map(rows::user).transpose()
        }

        pub(crate) async fn user(pool: &Pool, id: &str) -> Result<Option<UserRow>, StoreError> {
            let row = sqlx::query(
                "SELECT id, email, password_hash, created_at FROM users WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::db("user"))?;
            row.as_ref().map(rows::user).transpose()
        }

        // ---- sessions -------------------------------------------------------------------------

        pub(crate) async fn create_session(pool: &Pool, s: &NewSession) -> Result<(), StoreError> {
            const OP: &str = "create_session";
            let mut tx = begin(pool, OP).await?;
            let conn: &mut Conn = &mut tx;
            sqlx::query(
                "INSERT INTO sessions (id, user_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&s.id)
            .bind(&s.user_id)
            .bind(s.created_at_unix)
            .bind(s.expires_at_unix)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db(OP))?;
            insert_refresh(conn, &s.id, &s.refresh_hash, s.created_at_unix, OP).await?;
            commit(tx, OP).await
        }

        async fn insert_refresh(
            conn: &mut Conn,
            session_id: &str,
            hash: &[u8; 32],
            now_unix: i64,
            op: &'static str,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) \
                 VALUES ($1, $2, $3)",
            )
            .bind(&hash[..])
            .bind(session_id)
            .bind(now_unix)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db(op))?;
            Ok(())
        }

        pub(crate) async fn session(pool: &Pool, id: &str) -> Result<Option<SessionRow>, StoreError> {
            let row = sqlx::query(
                "SELECT s.id, s.user_id, s.created_at, s.expires_at, s.revoked_at, \
                 s.revoked_reason FROM sessions s WHERE s.id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::db("session"))?;
            row.as_ref().map(rows::session).transpose()
        }

        async fn revoke(
            conn: &mut Conn,
            id: &str,
            reason: &str,
            now_unix: i64,
            op: &'static str,
        ) -> Result<bool, StoreError> {
            let done = sqlx::query(
                "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
                 WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(now_unix)
            .bind(reason)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db(op))?;
            Ok(done.rows_affected() > 0)
        }

        pub(crate) async fn revoke_session(
            pool: &Pool,
            id: &str,
            reason: &str,
            now_unix: i64,
        ) -> Result<bool, StoreError> {
            const OP: &str = "revoke_session";
            let mut conn = pool.acquire().await.map_err(StoreError::db(OP))?;
            revoke(&mut conn, id, reason, now_unix, OP).await
        }

        pub(crate) async fn rotate_refresh_token(
            pool: &Pool,
            presented: &[u8; 32],
            next: &[u8; 32],
            now_unix: i64,
        ) -> Result<RefreshOutcome, StoreError> {
            const OP: &str = "rotate_refresh_token";
            let mut tx = begin(pool, OP).await?;
            let conn: &mut Conn = &mut tx;
            // Locks the token and its session: concurrent uses of one token, and a logout
            // racing a refresh, run one after the other.
            let sql = format!(
                "SELECT {SESSION_COLUMNS}, r.rotated_at FROM refresh_tokens r \
                 JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = $1{}",
                $lock
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&presented[..])
                .fetch_optional(&mut *conn)
                .await
                .map_err(StoreError::db(OP))?;
            let Some(row) = row else {
                commit(tx, OP).await?;
                return Ok(RefreshOutcome::Invalid);
            };
            let session = rows::session(&row)?;
            let rotated_at = row.opt_i64("rotated_at")?;
            if !session.is_active(now_unix) {
                commit(tx, OP).await?;
                return Ok(RefreshOutcome::Invalid);
            }
            if rotated_at.is_some() {
                revoke(conn, &session.id, "refresh_reuse", now_unix, OP).await?;
                commit(tx, OP).await?;
                return Ok(RefreshOutcome::Reused {
                    session_id: session.id,
                    user_id: session.user_id,
                });
            }
            sqlx::query("UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1")
                .bind(&presented[..])
                .bind(now_unix)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::db(OP))?;
            insert_refresh(conn, &session.id, next, now_unix, OP).await?;
            commit(tx, OP).await?;
            Ok(RefreshOutcome::Rotated(session))
        }

        // ---- devices --------------------------------------------------------------------------

        pub(crate) async fn create_device(pool: &Pool, d: &DeviceRow) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO devices (id, user_id, name, platform, se_public_jwk, \
                 se_key_thumbprint, status, created_at, status_changed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&d.id)
            .bind(&d.user_id)
            .bind(&d.name)
            .bind(&d.platform)
            .bind(&d.se_public_jwk)
            .bind(&d.se_key_thumbprint)
            .bind(&d.status)
            .bind(d.created_at_unix)
            .bind(d.status_changed_at_unix)
            .execute(pool)
            .await
            .map_err(StoreError::db("create_device"))?;
            Ok(())
        }

        pub(crate) async fn device(
            pool: &Pool,
            user_id: &str,
            id: &str,
        ) -> Result<Option<DeviceRow>, StoreError> {
            let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1 AND user_id = $2");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(user_id)
                .fetch_optional(pool)
                .await
                .map_err(StoreError::db("device"))?;
            row.as_ref().map(rows::device).transpose()
        }

        pub(crate) async fn devices_of_user(
            pool: &Pool,
            user_id: &str,
            after: Option<&DeviceCursor>,
            limit: u32,
        ) -> Result<Vec<DeviceRow>, StoreError> {
            const OP: &str = "devices_of_user";
            let found = match after {
                None => {
                    let sql = format!(
                        "SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = $1 \
                         ORDER BY created_at, id LIMIT $2"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(user_id)
                        .bind(i64::from(limit))
                        .fetch_all(pool)
                        .await
                }
                Some(c) => {
                    let sql = format!(
                        "SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = $1 \
                         AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
                         ORDER BY created_at, id LIMIT $4"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(user_id)
                        .bind(c.created_at_unix)
                        .bind(&c.id)
                        .bind(i64::from(limit))
                        .fetch_all(pool)
                        .await
                }
            }
            .map_err(StoreError::db(OP))?;
            found.iter().map(rows::device).collect()
        }

        pub(crate) async fn set_device_status(
            pool: &Pool,
            user_id: &str,
            id: &str,
            status: &str,
            now_unix: i64,
        ) -> Result<Option<DeviceStatusChange>, StoreError> {
            const OP: &str = "set_device_status";
            let mut tx = begin(pool, OP).await?;
            let conn: &mut Conn = &mut tx;
            let sql = format!(
                "SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1 AND user_id = $2{}",
                $lock
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(user_id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(StoreError::db(OP))?;
            let Some(mut device) = row.as_ref().map(rows::device).transpose()? else {
                commit(tx, OP).await?;
                return Ok(None);
            };
            let changed = device.status != status;
            if changed {
                sqlx::query("UPDATE devices SET status = $2, status_changed_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(status)
                    .bind(now_unix)
                    .execute(&mut *conn)
                    .await
                    .map_err(StoreError::db(OP))?;
                status.clone_into(&mut device.status);
                device.status_changed_at_unix = now_unix;
            }
            commit(tx, OP).await?;
            Ok(Some(DeviceStatusChange { device, changed }))
        }

        // ---- cards (provisioned tokens) --------------------------------------------------------

        pub(crate) async fn insert_provisioned_token(
            pool: &Pool,
            t: &ProvisionedTokenRow,
        ) -> Result<(), StoreError> {
            let sql = format!(
                "INSERT INTO provisioned_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, \
                 $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&t.id)
                .bind(&t.user_id)
                .bind(&t.device_id)
                .bind(&t.tur)
                .bind(&t.network)
                .bind(&t.fpan_last4)
                .bind(&t.status)
                .bind(&t.suspended_by)
                .bind(&t.decline_reason)
                .bind(&t.product_name)
                .bind(&t.card_art)
                .bind(&t.verification_methods)
                .bind(&t.otp_method)
                .bind(t.is_default)
                .bind(t.tsp_updated_at_unix)
                .bind(t.created_at_unix)
                .bind(t.updated_at_unix)
                .bind(&t.credential)
                .execute(pool)
                .await
                .map_err(StoreError::db("insert_provisioned_token"))?;
            Ok(())
        }

        pub(crate) async fn provisioned_token(
            pool: &Pool,
            user_id: &str,
            id: &str,
        ) -> Result<Option<ProvisionedTokenRow>, StoreError> {
            let sql = format!(
                "SELECT {TOKEN_COLUMNS} FROM provisioned_tokens WHERE id = $1 AND user_id = $2"
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(user_id)
                .fetch_optional(pool)
                .await
                .map_err(StoreError::db("provisioned_token"))?;
            row.as_ref().map(rows::provisioned_token).transpose()
        }

        pub(crate) async fn provisioned_token_by_tur(
            pool: &Pool,
            tur: &str,
        ) -> Result<Option<ProvisionedTokenRow>, StoreError> {
            let sql = format!("SELECT {TOKEN_COLUMNS} FROM provisioned_tokens WHERE tur = $1");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tur)
                .fetch_optional(pool)
                .await
                .map_err(StoreError::db("provisioned_token_by_tur"))?;
            row.as_ref().map(rows::provisioned_token).transpose()
        }

        pub(crate) async fn provisioned_tokens_of_user(
            pool: &Pool,
            user_id: &str,
            after: Option<&Cursor>,
            limit: u32,
        ) -> Result<Vec<ProvisionedTokenRow>, StoreError> {
            const OP: &str = "provisioned_tokens_of_user";
            const LIVE: &str = "status IN ('active', 'pending', 'suspended')";
            let found = match after {
                None => {
                    let sql = format!(
                        "SELECT {TOKEN_COLUMNS} FROM provisioned_tokens WHERE user_id = $1 \
                         AND {LIVE} ORDER BY created_at, id LIMIT $2"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(user_id)
                        .bind(i64::from(limit))
                        .fetch_all(pool)
                        .await
                }
                Some(c) => {
                    let sql = format!(
                        "SELECT {TOKEN_COLUMNS} FROM provisioned_tokens WHERE user_id = $1 \
                         AND {LIVE} AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
                         ORDER BY created_at, id LIMIT $4"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(user_id)
                        .bind(c.at_unix)
                        .bind(&c.id)
                        .bind(i64::from(limit))
                        .fetch_all(pool)
                        .await
                }
            }
            .map_err(StoreError::db(OP))?;
            found.iter().map(rows::provisioned_token).collect()
        }

        pub(crate) async fn provisioned_tokens_of_device(
            pool: &Pool,
            user_id: &str,
            device_id: &str,
        ) -> Result<Vec<ProvisionedTokenRow>, StoreError> {
            let sql = format!(
                "SELECT {TOKEN_COLUMNS} FROM provisioned_tokens WHERE user_id = $1 \
                 AND device_id = $2 ORDER BY created_at, id"
            );
            let found = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(user_id)
                .bind(device_id)
                .fetch_all(pool)
                .await
                .map_err(StoreError::db("provisioned_tokens_of_device"))?;
            found.iter().map(rows::provisioned_token).collect()
        }

        /// Locks the card with `column = value` (and `user_id`, when given) for the rest of
        /// the transaction.
        async fn lock_token(
            conn: &mut Conn,
            column: &'static str,
            value: &str,
            user_id: Option<&str>,
            op: &'static str,
        ) -> Result<Option<ProvisionedTokenRow>, StoreError> {
            let owner = if user_id.is_some() { " AND user_id = $2" } else { "" };
            let sql = format!(
                "SELECT {TOKEN_COLUMNS} FROM provisioned_tokens WHERE {column} = $1{owner}{}",
                $lock
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(value);
            if let Some(user_id) = user_id {
                query = query.bind(user_id);
            }
            let row = query
                .fetch_optional(&mut *conn)
                .await
                .map_err(StoreError::db(op))?;
            row.as_ref().map(rows::provisioned_token).transpose()
        }

        /// Writes the mutable columns of `t` (the rest never changes after insertion).
        async fn write_token(
            conn: &mut Conn,
            t: &ProvisionedTokenRow,
            op: &'static str,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "UPDATE provisioned_tokens SET status = $2, suspended_by = $3, \
                 decline_reason = $4, product_name = $5, card_art = $6, \
                 verification_methods = $7, otp_method = $8, is_default = $9, \
                 tsp_updated_at = $10, updated_at = $11 WHERE id = $1",
            )
            .bind(&t.id)
            .bind(&t.status)
            .bind(&t.suspended_by)
            .bind(&t.decline_reason)
            .bind(&t.product_name)
            .bind(&t.card_art)
            .bind(&t.verification_methods)
            .bind(&t.otp_method)
            .bind(t.is_default)
            .bind(t.tsp_updated_at_unix)
            .bind(t.updated_at_unix)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db(op))?;
            Ok(())
        }

        /// Runs `decide` on a locked copy of `current` and writes what it changed.
        async fn decide_and_write<F>(
            conn: &mut Conn,
            current: ProvisionedTokenRow,
            decide: F,
            op: &'static str,
        ) -> Result<TokenUpdate, StoreError>
        where
            F: FnOnce(&mut ProvisionedTokenRow),
        {
            let mut next = current.clone();
            decide(&mut next);
            if !next.same_identity(&current) {
                return Err(StoreError::InvalidDecision {
                    reason: "a card's id, owner, device, TUR, network, digits and creation \
                             time never change",
                });
            }
            let changed = next != current;
            if changed {
                write_token(conn, &next, op).await?;
            }
            Ok(TokenUpdate {
                token: next,
                changed,
            })
        }

        pub(crate) async fn update_provisioned_token<F>(
            pool: &Pool,
            user_id: &str,
            id: &str,
            decide: F,
        ) -> Result<Option<TokenUpdate>, StoreError>
        where
            F: FnOnce(&mut ProvisionedTokenRow) + Send,
        {
            const OP: &str = "update_provisioned_token";
            let mut tx = begin(pool, OP).await?;
            let conn: &mut Conn = &mut tx;
            let Some(current) = lock_token(conn, "id", id, Some(user_id), OP).await? else {
                commit(tx, OP).await?;
                return Ok(None);
            };
            let update = decide_and_write(conn, current, decide, OP).await?;
            commit(tx, OP).await?;
            Ok(Some(update))
        }

        pub(crate) async fn set_default_token(
            pool: &Pool,
            user_id: &str,
            id: &str,
            now_unix: i64,
        ) -> Result<Option<SetDefault>, StoreError> {
            const OP: &str = "set_default_token";
            let mut tx = begin(pool, OP).await?;
            let conn: &mut Conn = &mut tx;
            let Some(mut token) = lock_token(conn, "id", id, Some(user_id), OP).await? else {
                commit(tx, OP).await?;
                return Ok(None);
            };
            if matches!(token.status.as_str(), "declined" | "deleted") {
                commit(tx, OP).await?;
                return Ok(Some(SetDefault::NotEligible(token)));
            }
            if !token.is_default {
                // Clear the device's other default first: the partial unique index allows one.
                sqlx::query(
                    "UPDATE provisioned_tokens SET is_default = $3, updated_at = $4 \
                     WHERE device_id = $1 AND is_default AND id <> $2",
                )
                .bind(&token.device_id)
                .bind(&token.id)
                .bind(false)
                .bind(now_unix)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::db(OP))?;
                token.is_default = true;
                token.updated_at_unix = now_unix;
                write_token(conn, &token, OP).await?;
            }
            commit(tx, OP).await?;
            Ok(Some(SetDefault::Done(token)))
        }

        // ---- webhooks and transactions --------------------------------------------------------

        /// Records `event` unless it is there already; true when it was new.
        async fn insert_event(
            conn: &mut Conn,
            event: &WebhookEvent,
            op: &'static str,
        ) -> Result<bool, StoreError> {
            let inserted = sqlx::query(
                "INSERT INTO webhook_events (event_id, kind, received_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(&event.event_id)
            .bind(&event.kind)
            .bind(event.received_at_unix)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db(op))?
            .rows_affected();
            Ok(inserted > 0)
        }

        pub(crate) async fn record_token_event<F>(
            pool: &Pool,
            event: &WebhookEvent,
            tur: &str,
            decide: F,
        ) -> Result<WebhookOutcome<TokenUpdate>, StoreError>
        where
            F: FnOnce(&mut ProvisionedTokenRow) + Send,
        {
            const OP: &str = "record_token_event";
            let mut tx = begin(pool, OP).await?;
            let conn: &mut Conn = &mut tx;
            if !insert_event(conn, event, OP).await? {
                commit(tx, OP).await?;
                return Ok(WebhookOutcome::Replayed);
            }
            let Some(current) = lock_token(conn, "tur", tur, None, OP).await? else {
                // Dropping the transaction rolls the event back: a redelivery is new again.
                return Ok(WebhookOutcome::UnknownToken);
            };
            let update = decide_and_write(conn, current, decide, OP).await?;
            commit(tx, OP).await?;
            Ok(WebhookOutcome::Applied(update))
        }

        pub(crate) async fn record_transaction(
            pool: &Pool,
            event: &WebhookEvent,
            t: &TransactionRow,
        ) -> Result<WebhookOutcome<()>, StoreError> {
            const OP: &str = "record_transaction";
            let mut tx = begin(pool, OP).await?;
            let conn: &mut Conn = &mut tx;
            if !insert_event(conn, event, OP).await? {
                commit(tx, OP).await?;
                return Ok(WebhookOutcome::Replayed);
            }
            let sql = format!(
                "INSERT INTO transactions ({TRANSACTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, \
                 $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&t.id)
                .bind(&t.user_id)
                .bind(&t.token_id)
                .bind(&t.event_id)
                .bind(t.amount_minor)
                .bind(&t.currency)
                .bind(t.approved)
                .bind(&t.response_code)
                .bind(&t.merchant_name)
                .bind(&t.merchant_city)
                .bind(&t.merchant_country)
                .bind(&t.category)
                .bind(&t.mcc)
                .bind(t.occurred_at_unix)
                .bind(t.received_at_unix)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::db(OP))?;
            commit(tx, OP).await?;
            Ok(WebhookOutcome::Applied(()))
        }

        pub(crate) async fn transactions_of_user(
            pool: &Pool,
            user_id: &str,
            token_id: Option<&str>,
            before: Option<&Cursor>,
            limit: u32,
        ) -> Result<Vec<TransactionRow>, StoreError> {
            // Newest first; the optional filters are written as `$n IS NULL OR ...` so one
            // statement serves every combination.
            let sql = format!(
                "SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE user_id = $1 \
                 AND ($2 IS NULL OR token_id = $2) \
                 AND ($3 IS NULL OR occurred_at < $3 OR (occurred_at = $3 AND id < $4)) \
                 ORDER BY occurred_at DESC, id DESC LIMIT $5"
            );
            let found = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(user_id)
                .bind(token_id)
                .bind(before.map(|c| c.at_unix))
                .bind(before.map(|c| c.id.as_str()))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(StoreError::db("transactions_of_user"))?;
            found.iter().map(rows::transaction).collect()
        }

        // ---- idempotency ----------------------------------------------------------------------

        pub(crate) async fn idempotency_begin(
            pool: &Pool,
            c: &IdempotencyClaim,
        ) -> Result<IdempotencyBegin, StoreError> {
            const OP: &str = "idempotency_begin";
            let mut tx = begin(pool, OP).await?;
            let conn: &mut Conn = &mut tx;
            // On PostgreSQL a concurrent claimant's uncommitted insert makes this wait until it
            // commits; the claim's own transaction is short.
            let inserted = sqlx::query(
                "INSERT INTO idempotency_records (scope, idem_key, request_hash, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (scope, idem_key) DO NOTHING",
            )
            .bind(&c.scope)
            .bind(&c.key)
            .bind(&c.request_hash[..])
            .bind(c.now_unix)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db(OP))?
            .rows_affected();
            if inserted > 0 {
                commit(tx, OP).await?;
                return Ok(IdempotencyBegin::Started);
            }
            let row = sqlx::query(concat!(
                "SELECT request_hash, response_status, response_body, created_at \
                 FROM idempotency_records WHERE scope = $1 AND idem_key = $2",
                $lock
            ))
            .bind(&c.scope)
            .bind(&c.key)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::db(OP))?;
            let stored_hash = rows::hash(&row, "request_hash")?;
            let response = rows::idempotency_response(&row)?;
            let created_at = row.i64("created_at")?;
            let age = c.now_unix.saturating_sub(created_at);
            let forgotten = match response {
                None => age > c.in_flight_timeout_secs,
                Some(_) => age > c.retention_secs,
            };
            let outcome = if forgotten {
                sqlx::query(
                    "UPDATE idempotency_records SET request_hash = $3, response_status = NULL, \
                     response_body = NULL, created_at = $4 WHERE scope = $1 AND idem_key = $2",
                )
                .bind(&c.scope)
                .bind(&c.key)
                .bind(&c.request_hash[..])
                .bind(c.now_unix)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::db(OP))?;
                IdempotencyBegin::Started
            } else if stored_hash != c.request_hash {
                IdempotencyBegin::Mismatch
            } else {
                match response {
                    None => IdempotencyBegin::InFlight,
                    Some((status, body)) => IdempotencyBegin::Completed { status, body },
                }
            };
            commit(tx, OP).await?;
            Ok(outcome)
        }

        pub(crate) async fn idempotency_complete(
            pool: &Pool,
            scope: &str,
            key: &str,
            status: u16,
            body: &[u8],
        ) -> Result<bool, StoreError> {
            let done = sqlx::query(
                "UPDATE idempotency_records SET response_status = $3, response_body = $4 \
                 WHERE scope = $1 AND idem_key = $2 AND response_status IS NULL",
            )
            .bind(scope)
            .bind(key)
            .bind(i32::from(status))
            .bind(body)
            .execute(pool)
            .await
            .map_err(StoreError::db("idempotency_complete"))?;
            Ok(done.rows_affected() > 0)
        }

        pub(crate) async fn idempotency_release(
            pool: &Pool,
            scope: &str,
            key: &str,
        ) -> Result<bool, StoreError> {
            let done = sqlx::query(
                "DELETE FROM idempotency_records \
                 WHERE scope = $1 AND idem_key = $2 AND response_status IS NULL",
            )
            .bind(scope)
            .bind(key)
            .execute(pool)
            .await
            .map_err(StoreError::db("idempotency_release"))?;
            Ok(done.rows_affected() > 0)
        }

        pub(crate) async fn purge_idempotency(
            pool: &Pool,
            created_before_unix: i64,
        ) -> Result<u64, StoreError> {
            let done = sqlx::query("DELETE FROM idempotency_records WHERE created_at < $1")
                .bind(created_before_unix)
                .execute(pool)
                .await
                .map_err(StoreError::db("purge_idempotency"))?;
            Ok(done.rows_affected())
        }
    };
}

/// SQLite: `BEGIN IMMEDIATE` takes the write lock up front, so no row locks are needed.
pub(crate) mod lite {
    wallet_backend!(db = sqlx::Sqlite, begin = "BEGIN IMMEDIATE", lock = "");
}

/// PostgreSQL (READ COMMITTED): `SELECT ... FOR UPDATE` locks the rows a transaction reads
/// before it writes them; unique keys serialize concurrent inserts.
pub(crate) mod pg {
    wallet_backend!(db = sqlx::Postgres, begin = "BEGIN", lock = " FOR UPDATE");
}
