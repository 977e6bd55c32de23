-- Ingest outcomes an operator can act on (issue 11): runs left `running` by a process that died are closed as
-- `abandoned` by the next run of the same source, and the pages and items a run lost are kept until a later
-- run has fetched them.
--
-- A run is taken for dead when its heartbeat (written with every checkpoint) is older than the caller's
-- threshold, which is longer than the Lambda's 15-minute maximum. A session advisory lock held by the live run
-- would be the stricter signal, but the functions reach the database through PostgREST or Supabase's
-- transaction pooler, where no session outlives a statement, so no lock can be held across a run.
alter table public.ingest_runs drop constraint ingest_runs_status_check;
alter table public.ingest_runs add constraint ingest_runs_status_check
  check (status in ('running', 'succeeded', 'partial', 'failed', 'abandoned'));
alter table public.ingest_runs add column heartbeat_at timestamptz not null default now();
create index ingest_runs_running_idx on public.ingest_runs (source) where status = 'running';

-- What a run lost and the next run fetches first: a listing page (its position) or a single item (its id).
create table public.ingest_retries (
  source       text not null check (length(source) between 1 and 50),
  kind         text not null check (kind in ('page', 'item')),
  retry_key    text not null check (length(retry_key) between 1 and 500),
  position     jsonb not null,
  label        text not null default '' check (length(label) <= 500),
  reason       text not null default '' check (length(reason) <= 2000),
  attempts     integer not null default 1 check (attempts >= 1),
  run_id       bigint references public.ingest_runs (id) on delete cascade,
  first_failed_at timestamptz not null default now(),
  last_failed_at  timestamptz not null default now(),
  primary key (source, kind, retry_key)
);

alter table public.ingest_retries enable row level security;
revoke all on public.ingest_retries from anon, authenticated;
grant select, insert, update, delete on public.ingest_retries to service_role;

-- The return type changes (the runs closed as abandoned), so the old function goes first.
drop function public.start_ingest_run(text, text);

create function public.start_ingest_run(
  run_source text, run_trigger text default 'manual', abandon_after_s double precision default 960
)
returns table (id bigint, checkpoint jsonb, abandoned_run_ids bigint[])
language plpgsql
volatile
set search_path = ''
as $$
declare
  closed bigint[];
  new_id bigint;
begin
  with stale as (
    update public.ingest_runs r
       set status = 'abandoned', finished_at = now(),
           error = format('abandoned: no heartbeat since %s (the process running it died or was killed)',
                          r.heartbeat_at)
     where r.source = run_source and r.status = 'running'
       and r.heartbeat_at < now() - make_interval(secs => greatest(abandon_after_s, 60))
    returning r.id
  )
  select coalesce(array_agg(stale.id order by stale.id), '{}') into closed from stale;

  insert into public.ingest_runs (source, trigger) values (run_source, run_trigger)
  returning ingest_runs.id into new_id;

  return query
    select new_id, (select c.checkpoint from public.ingest_checkpoints c where c.source = run_source), closed;
end;
$$;

create or replace function public.save_ingest_checkpoint(
  run_id bigint, run_source text, run_checkpoint jsonb, run_stats jsonb
)
returns void
language sql
volatile
set search_path = ''
as $$
  insert into public.ingest_checkpoints (source, checkpoint, run_id, updated_at)
  values (run_source, run_checkpoint, run_id, now())
  on conflict (source) do update
    set checkpoint = excluded.checkpoint, run_id = excluded.run_id, updated_at = now();
  update public.ingest_runs
     set checkpoint = run_checkpoint, stats = coalesce(run_stats, '{}'), heartbeat_at = now()
   where id = run_id;
$$;

-- A run that is alive but between checkpoints (a long page, retry sleeps) says so.
create function public.ingest_heartbeat(run_id bigint)
returns void
language sql
volatile
set search_path = ''
as $$
  update public.ingest_runs set heartbeat_at = now() where id = run_id and status = 'running';
$$;

create function public.list_ingest_retries(retry_source text, max_count integer default 100)
returns table (kind text, retry_key text, "position" jsonb, label text, reason text, attempts integer)
language sql
stable
set search_path = ''
as $$
  select r.kind, r.retry_key, r.position, r.label, r.reason, r.attempts
  from public.ingest_retries r
  where r.source = retry_source
  order by r.first_failed_at, r.kind, r.retry_key
  limit least(greatest(max_count, 0), 1000);
$$;

-- Records a loss, or one more failed attempt at an old one; returns the attempts so far.
create function public.record_ingest_retry(
  retry_source text, retry_kind text, retry_item_key text, retry_position jsonb, retry_label text, retry_reason text,
  retry_run_id bigint
)
returns integer
language sql
volatile
set search_path = ''
as $$
  insert into public.ingest_retries as r (source, kind, retry_key, position, label, reason, run_id)
  values (retry_source, retry_kind, retry_item_key, retry_position, left(coalesce(retry_label, ''), 500),
          left(coalesce(retry_reason, ''), 2000), retry_run_id)
  on conflict (source, kind, retry_key) do update
    set attempts = r.attempts + 1, reason = excluded.reason, label = excluded.label,
        run_id = excluded.run_id, last_failed_at = now()
  returning r.attempts;
$$;

create function public.clear_ingest_retry(retry_source text, retry_kind text, retry_item_key text)
returns void
language sql
volatile
set search_path = ''
as $$
  delete from public.ingest_retries r
  where r.source = retry_source and r.kind = retry_kind and r.retry_key = retry_item_key;
$$;

revoke execute on function
  public.start_ingest_run(text, text, double precision),
  public.save_ingest_checkpoint(bigint, text, jsonb, jsonb),
  public.ingest_heartbeat(bigint),
  public.list_ingest_retries(text, integer),
  public.record_ingest_retry(text, text, text, jsonb, text, text, bigint),
  public.clear_ingest_retry(text, text, text)
from public, anon, authenticated;
grant execute on function
  public.start_ingest_run(text, text, double precision),
  public.save_ingest_checkpoint(bigint, text, jsonb, jsonb),
  public.ingest_heartbeat(bigint),
  public.list_ingest_retries(text, integer),
  public.record_ingest_retry(text, text, text, jsonb, text, text, bigint),
  public.clear_ingest_retry(text, text, text)
to service_role;
