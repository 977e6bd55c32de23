create table public.users (
  id            uuid primary key default gen_random_uuid(),
  -- Normalised (trimmed, lower-cased) by the application; the check keeps the database honest too.
  email         text not null check (email = lower(btrim(email)) and length(email) between 3 and 320),
  password_hash text not null check (password_hash like '$2%'),
  name          text not null check (length(name) between 1 and 200),
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  constraint users_email_key unique (email)
);

alter table public.users enable row level security;
-- No policies: anon and authenticated read nothing; the service role bypasses RLS.
