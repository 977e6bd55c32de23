-- Functions for the account lifecycle (issue 10). All are for the service role alone (revoked below).

-- Take one token from each named bucket in ONE statement, so concurrent callers on any instance cannot both
-- pass a check and then both insert: ON CONFLICT DO UPDATE locks the bucket row and evaluates its WHERE
-- against the newest version. GCRA: each request moves `allowed_at` on by period/burst; a request is
-- allowed while that stays within one period of now. A refused request changes nothing.
create function public.take_rate_limit_tokens(
  bucket_keys text[], bucket_bursts integer[], bucket_periods_s double precision[]
)
returns table (bucket_key text, allowed boolean, retry_after_s double precision)
language sql
volatile
set search_path = ''
as $$
  with requested as (
    select r.bucket_key, r.burst, r.period_s
    from unnest(bucket_keys, bucket_bursts, bucket_periods_s) as r (bucket_key, burst, period_s)
  ),
  taken as (
    insert into public.rate_limit_buckets as b (bucket_key, allowed_at, period_s, burst)
    select q.bucket_key, now() + make_interval(secs => q.period_s / q.burst), q.period_s, q.burst
    from requested q
    on conflict on constraint rate_limit_buckets_pkey do update
      set allowed_at = greatest(b.allowed_at, now()) + make_interval(secs => excluded.period_s / excluded.burst),
          period_s = excluded.period_s,
          burst = excluded.burst
      where greatest(b.allowed_at, now()) + make_interval(secs => excluded.period_s / excluded.burst)
            <= now() + make_interval(secs => excluded.period_s)
    returning b.bucket_key
  )
  select q.bucket_key,
         t.bucket_key is not null,
         case when t.bucket_key is not null then 0::double precision
              else greatest(
                coalesce(extract(epoch from (
                  greatest(b.allowed_at, now()) + make_interval(secs => q.period_s / q.burst)
                  - make_interval(secs => q.period_s) - now()
                )), 0)::double precision,
                q.period_s / q.burst / 100)
         end
  from requested q
  left join taken t on t.bucket_key = q.bucket_key
  left join public.rate_limit_buckets b on b.bucket_key = q.bucket_key;
$$;

-- Buckets idle for longer than their period hold nothing: drop them (called now and then by the API).
create function public.prune_rate_limit_buckets()
returns integer
language sql
volatile
set search_path = ''
as $$
  with pruned as (
    delete from public.rate_limit_buckets b where b.allowed_at < now() - interval '1 minute' returning 1
  )
  select count(*)::integer from pruned;
$$;

create function public.register_user(
  user_email text, user_password_hash text, user_name text, mark_confirmed boolean
)
returns table (id uuid, email text, name text, created_at timestamptz, email_confirmed_at timestamptz)
language sql
volatile
set search_path = ''
as $$
  insert into public.users (email, password_hash, name, email_confirmed_at)
  values (user_email, user_password_hash, user_name, case when mark_confirmed then now() end)
  returning users.id, users.email, users.name, users.created_at, users.email_confirmed_at;
$$;

-- By email (sign-in) or by id (re-authentication before a password change or an account deletion).
create function public.get_auth_account(user_email text, target_user_id uuid)
returns table (
  id uuid, email text, name text, password_hash text, created_at timestamptz,
  email_confirmed_at timestamptz, disabled_at timestamptz
)
language sql
stable
set search_path = ''
as $$
  select u.id, u.email, u.name, u.password_hash, u.created_at, u.email_confirmed_at, u.disabled_at
  from public.users u
  where (user_email is not null and u.email = user_email)
     or (target_user_id is not null and u.id = target_user_id)
  limit 1;
$$;

create function public.start_auth_session(
  target_user_id uuid, refresh_token_hash text, session_ttl_s integer
)
returns uuid
language sql
volatile
set search_path = ''
as $$
  with session as (
    insert into public.auth_sessions (user_id, expires_at)
    values (target_user_id, now() + make_interval(secs => session_ttl_s))
    returning id
  ), token as (
    insert into public.auth_refresh_tokens (token_hash, session_id)
    select refresh_token_hash, session.id from session
  )
  select id from session;
$$;

-- The cheap check every authenticated request makes: the session is live and its account usable.
create function public.check_auth_session(target_session_id uuid, target_user_id uuid)
returns boolean
language sql
stable
set search_path = ''
as $$
  select exists (
    select 1
    from public.auth_sessions s
    join public.users u on u.id = s.user_id
    where s.id = target_session_id
      and s.user_id = target_user_id
      and s.revoked_at is null
      and s.expires_at > now()
      and u.disabled_at is null
  );
$$;

-- Use a refresh token once and issue its successor. Outcomes: rotated (with the account), unknown,
-- revoked (session ended, expired or account disabled), reused_recently (a concurrent refresh of the same
-- token within the grace period: refused, family kept) and reuse_detected (an old token came back: the
-- whole family is revoked, as someone else holds a copy).
create function public.rotate_refresh_token(
  presented_hash text, next_hash text, reuse_grace_s double precision
)
returns table (
  outcome text, session_id uuid, user_id uuid, email text, name text, created_at timestamptz
)
language plpgsql
volatile
set search_path = ''
as $$
declare
  token record;
  session record;
  account record;
begin
  select t.session_id, t.used_at into token
  from public.auth_refresh_tokens t where t.token_hash = presented_hash
  for update;
  if not found then
    return query select 'unknown'::text, null::uuid, null::uuid, null::text, null::text, null::timestamptz;
    return;
  end if;
  select s.id, s.user_id, s.revoked_at, s.expires_at into session
  from public.auth_sessions s where s.id = token.session_id
  for update;
  if session.revoked_at is not null or session.expires_at <= now() then
    return query select 'revoked'::text, session.id, session.user_id, null::text, null::text, null::timestamptz;
    return;
  end if;
  if token.used_at is not null then
    if token.used_at > now() - make_interval(secs => reuse_grace_s) then
      return query select 'reused_recently'::text, session.id, session.user_id, null::text, null::text,
        null::timestamptz;
      return;
    end if;
    update public.auth_sessions s set revoked_at = now(), revoked_reason = 'token_reuse' where s.id = session.id;
    return query select 'reuse_detected'::text, session.id, session.user_id, null::text, null::text,
      null::timestamptz;
    return;
  end if;
  select u.id, u.email, u.name, u.created_at into account
  from public.users u where u.id = session.user_id and u.disabled_at is null;
  if not found then
    return query select 'revoked'::text, session.id, session.user_id, null::text, null::text, null::timestamptz;
    return;
  end if;
  update public.auth_refresh_tokens t set used_at = now() where t.token_hash = presented_hash;
  insert into public.auth_refresh_tokens (token_hash, session_id) values (next_hash, session.id);
  update public.auth_sessions s set refreshed_at = now() where s.id = session.id;
  return query select 'rotated'::text, session.id, account.id, account.email, account.name, account.created_at;
end;
$$;

-- Revoke one session (target_session_id) or every live session of the user but `keep_session_id`.
create function public.revoke_auth_sessions(
  target_user_id uuid, target_session_id uuid, keep_session_id uuid, reason text
)
returns integer
language sql
volatile
set search_path = ''
as $$
  with revoked as (
    update public.auth_sessions s
       set revoked_at = now(), revoked_reason = reason
     where s.user_id = target_user_id
       and s.revoked_at is null
       and (target_session_id is null or s.id = target_session_id)
       and (keep_session_id is null or s.id <> keep_session_id)
    returning 1
  )
  select count(*)::integer from revoked;
$$;

-- A new password ends every other session and voids outstanding reset links.
create function public.set_user_password(
  target_user_id uuid, new_password_hash text, keep_session_id uuid
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  update public.users u set password_hash = new_password_hash, updated_at = now() where u.id = target_user_id;
  if not found then
    return false;
  end if;
  update public.auth_sessions s
     set revoked_at = now(), revoked_reason = 'password_changed'
   where s.user_id = target_user_id and s.revoked_at is null
     and (keep_session_id is null or s.id <> keep_session_id);
  delete from public.auth_email_tokens t
   where t.user_id = target_user_id and t.purpose = 'reset_password' and t.used_at is null;
  return true;
end;
$$;

-- A new email token replaces any unused one of the same purpose, so only the latest link works.
create function public.issue_email_token(
  target_user_id uuid, token_purpose text, new_token_hash text, ttl_s integer
)
returns void
language sql
volatile
set search_path = ''
as $$
  delete from public.auth_email_tokens t
   where t.user_id = target_user_id and t.purpose = token_purpose and t.used_at is null;
  insert into public.auth_email_tokens (token_hash, user_id, purpose, expires_at)
  values (new_token_hash, target_user_id, token_purpose, now() + make_interval(secs => ttl_s));
$$;

-- Use a confirmation token once: the account's email becomes confirmed. No row: unknown, used or expired.
create function public.confirm_email(presented_hash text)
returns table (id uuid, email text, name text, created_at timestamptz)
language sql
volatile
set search_path = ''
as $$
  with used as (
    update public.auth_email_tokens t set used_at = now()
     where t.token_hash = presented_hash and t.purpose = 'confirm_email'
       and t.used_at is null and t.expires_at > now()
    returning t.user_id
  )
  update public.users u
     set email_confirmed_at = coalesce(u.email_confirmed_at, now()), updated_at = now()
    from used
   where u.id = used.user_id
  returning u.id, u.email, u.name, u.created_at;
$$;

-- Use a reset token once: set the password, end every session, and (the mailbox answered) confirm the email.
create function public.reset_password(presented_hash text, new_password_hash text)
returns uuid
language plpgsql
volatile
set search_path = ''
as $$
declare
  account_id uuid;
begin
  update public.auth_email_tokens t set used_at = now()
   where t.token_hash = presented_hash and t.purpose = 'reset_password'
     and t.used_at is null and t.expires_at > now()
  returning t.user_id into account_id;
  if account_id is null then
    return null;
  end if;
  update public.users u
     set password_hash = new_password_hash, email_confirmed_at = coalesce(u.email_confirmed_at, now()),
         updated_at = now()
   where u.id = account_id;
  update public.auth_sessions s set revoked_at = now(), revoked_reason = 'password_reset'
   where s.user_id = account_id and s.revoked_at is null;
  return account_id;
end;
$$;

-- Right to erasure: ratings, interactions, sessions and tokens go by cascade; the ratings trigger keeps
-- item_rating_stats in step row by row.
create function public.delete_user(target_user_id uuid)
returns boolean
language sql
volatile
set search_path = ''
as $$
  with deleted as (delete from public.users u where u.id = target_user_id returning 1)
  select exists (select 1 from deleted);
$$;

revoke execute on function
  public.take_rate_limit_tokens(text[], integer[], double precision[]),
  public.prune_rate_limit_buckets(),
  public.register_user(text, text, text, boolean),
  public.get_auth_account(text, uuid),
  public.start_auth_session(uuid, text, integer),
  public.check_auth_session(uuid, uuid),
  public.rotate_refresh_token(text, text, double precision),
  public.revoke_auth_sessions(uuid, uuid, uuid, text),
  public.set_user_password(uuid, text, uuid),
  public.issue_email_token(uuid, text, text, integer),
  public.confirm_email(text),
  public.reset_password(text, text),
  public.delete_user(uuid)
from public, anon, authenticated;

grant execute on function
  public.take_rate_limit_tokens(text[], integer[], double precision[]),
  public.prune_rate_limit_buckets(),
  public.register_user(text, text, text, boolean),
  public.get_auth_account(text, uuid),
  public.start_auth_session(uuid, text, integer),
  public.check_auth_session(uuid, uuid),
  public.rotate_refresh_token(text, text, double precision),
  public.revoke_auth_sessions(uuid, uuid, uuid, text),
  public.set_user_password(uuid, text, uuid),
  public.issue_email_token(uuid, text, text, integer),
  public.confirm_email(text),
  public.reset_password(text, text),
  public.delete_user(uuid)
to service_role;
