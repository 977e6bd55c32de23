-- Account lifecycle (issue 10): email confirmation and disabling, sessions with rotating refresh tokens,
-- single-use email tokens (confirmation, password reset) and shared rate-limit buckets.
-- Every secret token is stored as its SHA-256 (hex) only: a leaked table gives nobody a usable token.

alter table public.users
  add column email_confirmed_at timestamptz,
  add column disabled_at        timestamptz;
-- Accounts made before confirmation existed keep working: they count as confirmed.
update public.users set email_confirmed_at = created_at where email_confirmed_at is null;

-- One row per sign-in. Access tokens carry the session id (`sid`), so revoking the row ends the session at
-- once on every route, not when the access token expires.
create table public.auth_sessions (
  id             uuid primary key default gen_random_uuid(),
  user_id        uuid not null references public.users (id) on delete cascade,
  created_at     timestamptz not null default now(),
  refreshed_at   timestamptz not null default now(),
  expires_at     timestamptz not null,
  revoked_at     timestamptz,
  revoked_reason text check (
    revoked_reason in ('logout', 'logout_all', 'password_changed', 'password_reset', 'token_reuse')
  )
);
create index auth_sessions_user_idx on public.auth_sessions (user_id) where revoked_at is null;

-- The refresh tokens of a session form its family: each refresh uses one and issues the next.
create table public.auth_refresh_tokens (
  token_hash text primary key check (token_hash ~ '^[0-9a-f]{64}$'),
  session_id uuid not null references public.auth_sessions (id) on delete cascade,
  created_at timestamptz not null default now(),
  used_at    timestamptz
);
create index auth_refresh_tokens_session_idx on public.auth_refresh_tokens (session_id);

create table public.auth_email_tokens (
  token_hash text primary key check (token_hash ~ '^[0-9a-f]{64}$'),
  user_id    uuid not null references public.users (id) on delete cascade,
  purpose    text not null check (purpose in ('confirm_email', 'reset_password')),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at    timestamptz
);
create index auth_email_tokens_user_idx on public.auth_email_tokens (user_id, purpose);

-- GCRA (a token bucket kept as one timestamp): `allowed_at` is when the bucket would be full again.
-- Unlogged: counters need no crash safety, and skipping the WAL halves the cost of each update.
create unlogged table public.rate_limit_buckets (
  bucket_key text primary key check (length(bucket_key) between 1 and 200),
  allowed_at timestamptz not null,
  period_s   double precision not null check (period_s > 0),
  burst      integer not null check (burst > 0)
);
create index rate_limit_buckets_allowed_at_idx on public.rate_limit_buckets (allowed_at);

alter table public.auth_sessions enable row level security;
alter table public.auth_refresh_tokens enable row level security;
alter table public.auth_email_tokens enable row level security;
alter table public.rate_limit_buckets enable row level security;
revoke all on public.auth_sessions, public.auth_refresh_tokens, public.auth_email_tokens,
  public.rate_limit_buckets from anon, authenticated;
grant select, insert, update, delete on public.auth_sessions, public.auth_refresh_tokens,
  public.auth_email_tokens, public.rate_limit_buckets to service_role;
