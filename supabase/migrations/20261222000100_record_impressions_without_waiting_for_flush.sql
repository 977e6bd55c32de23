-- Recording what a user was shown (issue 9, online evaluation) sits on the request path of every
-- GET /recommendations/personalized. Its commit no longer waits for the WAL to reach the disk
-- (synchronous_commit = off for this transaction only, set here and nowhere else): the insert is durable a
-- moment later, when the WAL writer flushes (at most 3 x wal_writer_delay, 600 ms by default). A crash of the
-- database server can lose the impressions of that last moment, never corrupt them or anything else, and
-- never a rating: every other write still commits synchronously. Impressions are measurements, and losing a
-- fraction of a second of them costs nothing a user sees; making each request wait for a disk flush did.
-- Same signature, same result as 20261201000500.
create or replace function public.record_recommendation_impressions(impression_user_id uuid, impression_items jsonb)
returns integer
language sql
volatile
set search_path = ''
as $$
  -- is_local = true: until the end of this transaction only (the function has no SET clause for it, so the
  -- setting outlives the call and applies to its commit).
  select set_config('synchronous_commit', 'off', true);
  with shown as (
    insert into public.recommendation_impressions (user_id, item_id, method, model_version, position)
    select impression_user_id, s.item_id, s.method, s.model_version, s.position
    from jsonb_to_recordset(impression_items)
      as s (item_id bigint, method text, model_version bigint, position smallint)
    join public.items i on i.id = s.item_id
    -- A list holds at most 100 items (the API's cap): a larger payload is not a list shown to anyone.
    where jsonb_array_length(impression_items) <= 100
    returning 1
  )
  select count(*)::integer from shown;
$$;

revoke execute on function public.record_recommendation_impressions(uuid, jsonb) from public, anon, authenticated;
grant execute on function public.record_recommendation_impressions(uuid, jsonb) to service_role;
