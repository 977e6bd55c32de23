create table public.ingest_runs (
  id          bigint generated always as identity primary key,
  source      text not null check (length(source) between 1 and 50),
  trigger     text not null default 'manual',
  status      text not null default 'running' check (status in ('running', 'succeeded', 'partial', 'failed')),
  stats       jsonb not null default '{}',
  checkpoint  jsonb,
  error       text,
  started_at  timestamptz not null default now(),
  finished_at timestamptz
);
create index ingest_runs_source_started_idx on public.ingest_runs (source, started_at desc);

-- The latest resumable position per source; the next run starts there.
create table public.ingest_checkpoints (
  source     text primary key,
  checkpoint jsonb,
  run_id     bigint references public.ingest_runs (id) on delete set null,
  updated_at timestamptz not null default now()
);

alter table public.ingest_runs enable row level security;
alter table public.ingest_checkpoints enable row level security;
