-- Names typed in any script or romanization (issue 12, session 2): "मणिरत्नम्", "Mamooty" and "Vetrimaran"
-- find Mani Ratnam, Mammootty and Vetrimaaran as a title typed so finds its item. The phonetic keys of an
-- item's people (director and cast, or authors; cinelibre.text.people_keys) are stored beside its title keys
-- by the same set_title_keys call at ingest, and matched by trigram similarity in search_lexical.
alter table public.movies add column people_keys text;
alter table public.books add column people_keys text;
create index movies_people_keys_trgm_idx on public.movies using gin (people_keys extensions.gin_trgm_ops);
create index books_people_keys_trgm_idx on public.books using gin (people_keys extensions.gin_trgm_ops);

-- As before, and each key row may also carry "people_keys"; a row without it leaves the stored people keys
-- as they are (a caller that computes title keys only).
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
      people_keys = case when k.row ? 'people_keys' then k.people_keys else m.people_keys end
  from (
    select r.value as row, r.value ->> 'item_type' as item_type, r.value ->> 'external_id' as external_id,
           r.value ->> 'title_keys' as title_keys, r.value ->> 'people_keys' as people_keys
    from jsonb_array_elements(key_rows) as r
  ) k
  where k.item_type = 'movie' and k.external_id ~ '^-?\d{1,10}$' and m.tmdb_id = k.external_id::integer
    and (m.title_keys is distinct from k.title_keys
         or (k.row ? 'people_keys' and m.people_keys is distinct from k.people_keys));
  get diagnostics changed = row_count;
  update public.books b
  set title_keys = k.title_keys,
      people_keys = case when k.row ? 'people_keys' then k.people_keys else b.people_keys end
  from (
    select r.value as row, r.value ->> 'item_type' as item_type, r.value ->> 'external_id' as external_id,
           r.value ->> 'title_keys' as title_keys, r.value ->> 'people_keys' as people_keys
    from jsonb_array_elements(key_rows) as r
  ) k
  where k.item_type = 'book' and b.google_id = k.external_id
    and (b.title_keys is distinct from k.title_keys
         or (k.row ? 'people_keys' and b.people_keys is distinct from k.people_keys));
  get diagnostics changed_books = row_count;
  return changed + changed_books;
end;
$$;
revoke execute on function public.set_title_keys(jsonb) from public, anon, authenticated;
grant execute on function public.set_title_keys(jsonb) to service_role;
