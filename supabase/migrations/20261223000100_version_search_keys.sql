-- Which version of cinelibre.text made a row's search keys (issue 12, session 3), so deployed rows can be
-- brought up to date without re-ingesting them (`cinelibre search-keys --backfill`, docs/operations.md).
--
-- title_keys and people_keys are computed in Python at ingest (the transliteration and Double Metaphone
-- libraries are Python), so a row ingested before a change to the keys (or before the keys existed) keeps
-- what the older code made until it is upserted again. search_keys_version records the version that made
-- them (cinelibre.text.SEARCH_KEYS_VERSION); null means unknown or never made: every row that exists when
-- this migration runs.
alter table public.movies add column search_keys_version smallint;
alter table public.books add column search_keys_version smallint;

-- As before (migration 20261214000100), and:
--   * "keys_version" in a key row is stored as the row's search_keys_version; a row without it (a caller that
--     does not version its keys) leaves the version null, so the backfill remakes those keys.
--   * "content_hash" in a key row, when given, must equal the row's: keys computed from a row that an ingest
--     has changed since they were read are not written (the ingest's own set_title_keys call writes the
--     keys of the new text), so a backfill running beside an ingest cannot store keys of an old title.
create or replace function public.set_title_keys(key_rows jsonb)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
  changed integer;
  changed_books integer;
begin
  if jsonb_typeof(key_rows) is distinct from 'array' then
    raise exception using errcode = '22023', message = 'key_rows must be a JSON array';
  end if;
  update public.movies m
  set title_keys = k.title_keys,
      people_keys = case when k.row ? 'people_keys' then k.people_keys else m.people_keys end,
      search_keys_version = k.keys_version
  from (
    select r.value as row, r.value ->> 'item_type' as item_type, r.value ->> 'external_id' as external_id,
           r.value ->> 'title_keys' as title_keys, r.value ->> 'people_keys' as people_keys,
           (r.value ->> 'keys_version')::smallint as keys_version
    from jsonb_array_elements(key_rows) as r
  ) k
  where k.item_type = 'movie' and k.external_id ~ '^-?\d{1,10}$' and m.tmdb_id = k.external_id::integer
    and (not k.row ? 'content_hash' or m.content_hash is not distinct from k.row ->> 'content_hash')
    and (m.title_keys is distinct from k.title_keys
         or (k.row ? 'people_keys' and m.people_keys is distinct from k.people_keys)
         or m.search_keys_version is distinct from k.keys_version);
  get diagnostics changed = row_count;
  update public.books b
  set title_keys = k.title_keys,
      people_keys = case when k.row ? 'people_keys' then k.people_keys else b.people_keys end,
      search_keys_version = k.keys_version
  from (
    select r.value as row, r.value ->> 'item_type' as item_type, r.value ->> 'external_id' as external_id,
           r.value ->> 'title_keys' as title_keys, r.value ->> 'people_keys' as people_keys,
           (r.value ->> 'keys_version')::smallint as keys_version
    from jsonb_array_elements(key_rows) as r
  ) k
  where k.item_type = 'book' and b.google_id = k.external_id
    and (not k.row ? 'content_hash' or b.content_hash is not distinct from k.row ->> 'content_hash')
    and (b.title_keys is distinct from k.title_keys
         or (k.row ? 'people_keys' and b.people_keys is distinct from k.people_keys)
         or b.search_keys_version is distinct from k.keys_version);
  get diagnostics changed_books = row_count;
  return changed + changed_books;
end;
$$;
revoke execute on function public.set_title_keys(jsonb) from public, anon, authenticated;
grant execute on function public.set_title_keys(jsonb) to service_role;

-- One page of the rows whose search keys are missing or older than keys_version, in item id order after
-- after_item_id (the backfill's cursor), with what cinelibre.text keys them by. Both tables are walked by
-- their primary keys, so a page costs the rows it skips, never a sort of the catalog.
create function public.get_stale_search_key_rows(after_item_id bigint, page_size integer, keys_version smallint)
returns table (
  item_id bigint, item_type text, external_id text, content_hash text, title text, original_title text,
  subtitle text, director text, cast_members jsonb, authors text[]
)
language sql
stable
set search_path = ''
as $$
  select s.* from (
    (select m.item_id, 'movie'::text, m.tmdb_id::text, m.content_hash, m.title, m.original_title, null::text,
            m.director, m.cast_members, null::text[]
     from public.movies m
     where m.item_id > after_item_id
       and (m.search_keys_version is null or m.search_keys_version < keys_version)
     order by m.item_id
     limit least(greatest(page_size, 1), 1000))
    union all
    (select b.item_id, 'book'::text, b.google_id, b.content_hash, b.title, null::text, b.subtitle, null::text,
            null::jsonb, b.authors
     from public.books b
     where b.item_id > after_item_id
       and (b.search_keys_version is null or b.search_keys_version < keys_version)
     order by b.item_id
     limit least(greatest(page_size, 1), 1000))
  ) s
  order by s.item_id
  limit least(greatest(page_size, 1), 1000);
$$;

-- How many rows the backfill has left (the command's status line). A count of the catalog: for operators,
-- not for requests.
create function public.count_stale_search_keys(keys_version smallint)
returns table (item_type text, stale bigint, total bigint)
language sql
stable
set search_path = ''
as $$
  select 'movie'::text,
         count(*) filter (where m.search_keys_version is null or m.search_keys_version < keys_version),
         count(*)
  from public.movies m
  union all
  select 'book'::text,
         count(*) filter (where b.search_keys_version is null or b.search_keys_version < keys_version),
         count(*)
  from public.books b;
$$;

revoke execute on function public.get_stale_search_key_rows(bigint, integer, smallint),
  public.count_stale_search_keys(smallint) from public, anon, authenticated;
grant execute on function public.get_stale_search_key_rows(bigint, integer, smallint),
  public.count_stale_search_keys(smallint) to service_role;
