-- Accounts under attack, second pass (issue 10): a refresh repeated within the reuse grace period gets the
-- session's current token (as GoTrue answers) instead of a 401; token refresh is limited per account too; and
-- a password-reset request takes the same single call whether or not the address has an account.

-- A used refresh token remembers its successor: the successor's hash, and the successor itself wrapped with a
-- key only the used token's holder can derive (HMAC-SHA-256 keyed by the used token, which the database never
-- sees). Whoever reads this table learns nothing usable; whoever presents the used token within the grace
-- period can be handed the successor again, exactly what a concurrent refresh from a second tab needs.
alter table public.auth_refresh_tokens
  add column successor_hash text check (successor_hash ~ '^[0-9a-f]{64}$'),
  add column successor_wrapped text check (successor_wrapped ~ '^[0-9a-f]{64}$');

-- The bucket key the API uses for a per-account limit: "<action>:account:<first 40 hex of sha256(subject)>"
-- (cinelibre.auth.ratelimit.bucket_key), so SQL and Python take from the same bucket.
create function public.rate_limit_account_key(action text, subject text)
returns text
language sql
immutable
set search_path = ''
as $$
  select action || ':account:' || left(encode(sha256(convert_to(subject, 'UTF8')), 'hex'), 40);
$$;

drop function public.rotate_refresh_token(text, text, double precision);

-- Use a refresh token once and issue its successor. Outcomes:
--   rotated          the token was live: it is used now and `next_hash` is its successor;
--   reissued         the token was used within `reuse_grace_s` and its successor is still unused: the caller
--                    gets `successor_hash`/`successor_wrapped` back to hand out the same successor again;
--   reused_recently  used within the grace period but the successor has moved on (or was never wrapped):
--                    refused, the session kept;
--   reuse_detected   an old token came back after the grace period: someone else holds a copy, so the whole
--                    session (the token family) is revoked;
--   revoked          the session ended or expired, or the account is disabled or gone;
--   unknown          no such token;
--   rate_limited     the account's refresh budget is spent (`retry_after_s`); nothing changed.
-- The per-account limit is taken in the same transaction, keyed by the session's owner, whom only the token
-- names; `owner_burst` null turns it off.
create function public.rotate_refresh_token(
  presented_hash text, next_hash text, next_wrapped text, reuse_grace_s double precision,
  owner_burst integer, owner_period_s double precision
)
returns table (
  outcome text, session_id uuid, user_id uuid, email text, name text, created_at timestamptz,
  successor_hash text, successor_wrapped text, retry_after_s double precision
)
language plpgsql
volatile
set search_path = ''
as $$
declare
  token record;
  session record;
  account record;
  successor record;
  budget record;
begin
  select t.session_id, t.used_at, t.successor_hash, t.successor_wrapped into token
  from public.auth_refresh_tokens t where t.token_hash = presented_hash
  for update;
  if not found then
    return query select 'unknown'::text, null::uuid, null::uuid, null::text, null::text, null::timestamptz,
      null::text, null::text, null::double precision;
    return;
  end if;
  select s.id, s.user_id, s.revoked_at, s.expires_at into session
  from public.auth_sessions s where s.id = token.session_id
  for update;
  select u.id, u.email, u.name, u.created_at into account
  from public.users u where u.id = session.user_id and u.disabled_at is null;
  if session.revoked_at is not null or session.expires_at <= now() or account.id is null then
    return query select 'revoked'::text, session.id, session.user_id, null::text, null::text, null::timestamptz,
      null::text, null::text, null::double precision;
    return;
  end if;
  if token.used_at is not null and token.used_at <= now() - make_interval(secs => reuse_grace_s) then
    update public.auth_sessions s set revoked_at = now(), revoked_reason = 'token_reuse' where s.id = session.id;
    return query select 'reuse_detected'::text, session.id, session.user_id, null::text, null::text,
      null::timestamptz, null::text, null::text, null::double precision;
    return;
  end if;
  if owner_burst is not null then
    select b.allowed, b.retry_after_s into budget
    from public.take_rate_limit_tokens(
      array[public.rate_limit_account_key('refresh', account.id::text)], array[owner_burst], array[owner_period_s]
    ) b;
    if not budget.allowed then
      return query select 'rate_limited'::text, session.id, session.user_id, null::text, null::text,
        null::timestamptz, null::text, null::text, budget.retry_after_s;
      return;
    end if;
  end if;
  if token.used_at is not null then
    select t.used_at into successor
    from public.auth_refresh_tokens t
    where t.token_hash = token.successor_hash and t.session_id = session.id;
    if token.successor_wrapped is not null and found and successor.used_at is null then
      update public.auth_sessions s set refreshed_at = now() where s.id = session.id;
      return query select 'reissued'::text, session.id, account.id, account.email, account.name,
        account.created_at, token.successor_hash, token.successor_wrapped, null::double precision;
      return;
    end if;
    return query select 'reused_recently'::text, session.id, session.user_id, null::text, null::text,
      null::timestamptz, null::text, null::text, null::double precision;
    return;
  end if;
  update public.auth_refresh_tokens t
     set used_at = now(), successor_hash = next_hash, successor_wrapped = next_wrapped
   where t.token_hash = presented_hash;
  insert into public.auth_refresh_tokens (token_hash, session_id) values (next_hash, session.id);
  update public.auth_sessions s set refreshed_at = now() where s.id = session.id;
  return query select 'rotated'::text, session.id, account.id, account.email, account.name, account.created_at,
    null::text, null::text, null::double precision;
end;
$$;

-- A reset request: one call, the same for every address. For a live account it replaces any unused reset
-- token with `new_token_hash` and returns the address to write to; otherwise it returns no row. The caller
-- makes a token either way, so the two paths differ by one indexed insert.
create function public.request_password_reset(user_email text, new_token_hash text, ttl_s integer)
returns table (user_id uuid, email text)
language sql
volatile
set search_path = ''
as $$
  with account as (
    select u.id, u.email from public.users u where u.email = user_email and u.disabled_at is null
  ), replaced as (
    delete from public.auth_email_tokens t
     using account
     where t.user_id = account.id and t.purpose = 'reset_password' and t.used_at is null
  ), issued as (
    insert into public.auth_email_tokens (token_hash, user_id, purpose, expires_at)
    select new_token_hash, account.id, 'reset_password', now() + make_interval(secs => ttl_s) from account
    returning auth_email_tokens.user_id
  )
  select account.id, account.email from account join issued on issued.user_id = account.id;
$$;

revoke execute on function
  public.rate_limit_account_key(text, text),
  public.rotate_refresh_token(text, text, text, double precision, integer, double precision),
  public.request_password_reset(text, text, integer)
from public, anon, authenticated;

grant execute on function
  public.rate_limit_account_key(text, text),
  public.rotate_refresh_token(text, text, text, double precision, integer, double precision),
  public.request_password_reset(text, text, integer)
to service_role;
