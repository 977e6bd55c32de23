-- The per-request rate-limit check, without waiting for its commit to reach the disk (issue 12, session 3).
--
-- Every search (and every other limited request) takes a token from its bucket: one row updated and
-- committed. With synchronous_commit on, the commit waits for the WAL to be flushed to disk, which was a
-- good part of a search's time through the handler (docs/benchmarks.md, issue 12). Here the commit does not
-- wait: the count is visible to every other request at once, exactly as before (the statement and its row
-- lock are unchanged, so concurrent requests still cannot both take the last token), but a crash of the
-- database server may forget the last fraction of a second of counts (at most about three times
-- wal_writer_delay, 200 ms by default). For a rate limiter that is harmless: the forgotten requests are at
-- worst allowed a second time. Nothing else is relaxed: set_config(..., true) lasts to the end of this
-- transaction only, and the API calls this function in a transaction of its own. SQL functions that take
-- tokens inside a larger transaction whose durability matters (rotate_refresh_token) keep calling
-- take_rate_limit_tokens itself.
create function public.take_rate_limit_tokens_async_commit(
  bucket_keys text[], bucket_bursts integer[], bucket_periods_s double precision[]
)
returns table (bucket_key text, allowed boolean, retry_after_s double precision)
language plpgsql
volatile
set search_path = ''
as $$
begin
  perform set_config('synchronous_commit', 'off', true);
  return query select t.bucket_key, t.allowed, t.retry_after_s
               from public.take_rate_limit_tokens(bucket_keys, bucket_bursts, bucket_periods_s) as t;
end;
$$;

revoke execute on function public.take_rate_limit_tokens_async_commit(text[], integer[], double precision[])
  from public, anon, authenticated;
grant execute on function public.take_rate_limit_tokens_async_commit(text[], integer[], double precision[])
  to service_role;
