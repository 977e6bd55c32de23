create function public.get_content_hashes(source_name text, external_ids text[])
returns table (external_id text, content_hash text)
language sql
stable
set search_path = ''
as $$
  select m.tmdb_id::text, m.content_hash
  from public.movies m
  where source_name = 'tmdb'
    and m.tmdb_id = any (
      select x::integer from unnest(external_ids) as x where x ~ '^-?\d{1,10}$'
    )
  union all
  select b.google_id, b.content_hash
  from public.books b
  where source_name = 'google_books' and b.google_id = any (external_ids);
$$;

-- Batch upsert by tmdb_id in one statement. New movies get their item row from the same statement (ids
-- drawn from the items sequence first, so each new movie is paired with its own item). A row whose fields
-- are all unchanged is not rewritten. Upserts are serialised by an advisory lock: concurrent ingests of the
-- same new title would otherwise both create an item row.
create function public.upsert_movies(movie_rows jsonb, mark_demo boolean default false)
returns table (inserted integer, updated integer, unchanged integer)
language plpgsql
volatile
set search_path = ''
as $$
declare
  input_count integer;
  inserted_count integer;
  updated_count integer;
begin
  if jsonb_typeof(movie_rows) is distinct from 'array' then
    raise exception using errcode = '22023', message = 'movie_rows must be a JSON array';
  end if;
  perform pg_advisory_xact_lock(hashtext('public.upsert_movies'));

  with input as (
    select distinct on (x.tmdb_id) x.*
    from jsonb_to_recordset(movie_rows) as x(
      tmdb_id integer, title text, original_title text, overview text, release_date date, release_year integer,
      original_language text, genres jsonb, director text, cast_members jsonb, crew jsonb, runtime integer,
      popularity double precision, vote_average double precision, vote_count integer, poster_url text,
      embedding jsonb, content_hash text)
    order by x.tmdb_id
  ),
  fresh as (
    select i.tmdb_id, nextval(pg_get_serial_sequence('public.items', 'id')) as new_item_id
    from input i
    where not exists (select 1 from public.movies m where m.tmdb_id = i.tmdb_id)
  ),
  new_items as (
    insert into public.items (id, item_type, is_demo) overriding system value
    select f.new_item_id, 'movie', mark_demo from fresh f
    returning id
  ),
  upserted as (
    insert into public.movies as m (
      item_id, tmdb_id, title, original_title, overview, release_date, release_year, original_language, genres,
      director,
      cast_members, crew, runtime, popularity, vote_average, vote_count, poster_url, embedding, content_hash)
    select coalesce(f.new_item_id, existing.item_id), i.tmdb_id, i.title, i.original_title, i.overview,
           i.release_date, coalesce(extract(year from i.release_date)::integer, i.release_year), i.original_language,
           coalesce(array(select jsonb_array_elements_text(i.genres)), '{}'),
           i.director, coalesce(i.cast_members, '[]'), coalesce(i.crew, '[]'), i.runtime, i.popularity,
           i.vote_average, i.vote_count, i.poster_url,
           (i.embedding #>> '{}')::extensions.vector(384), i.content_hash
    from input i
    left join fresh f on f.tmdb_id = i.tmdb_id
    left join public.movies existing on existing.tmdb_id = i.tmdb_id
    on conflict (tmdb_id) do update set
      title = excluded.title, original_title = excluded.original_title, overview = excluded.overview,
      release_date = excluded.release_date, release_year = excluded.release_year,
      original_language = excluded.original_language,
      genres = excluded.genres, director = excluded.director, cast_members = excluded.cast_members,
      crew = excluded.crew, runtime = excluded.runtime, popularity = excluded.popularity,
      vote_average = excluded.vote_average, vote_count = excluded.vote_count, poster_url = excluded.poster_url,
      -- A row sent without an embedding (its text unchanged) keeps the stored one.
      embedding = coalesce(excluded.embedding, m.embedding),
      content_hash = coalesce(excluded.content_hash, m.content_hash),
      updated_at = now()
    where (m.title, m.original_title, m.overview, m.release_date, m.release_year, m.original_language, m.genres, m.director,
           m.cast_members, m.crew, m.runtime, m.popularity, m.vote_average, m.vote_count, m.poster_url,
           m.content_hash)
      is distinct from
          (excluded.title, excluded.original_title, excluded.overview, excluded.release_date,
           excluded.release_year, excluded.original_language, excluded.genres, excluded.director, excluded.cast_members, excluded.crew,
           excluded.runtime, excluded.popularity, excluded.vote_average, excluded.vote_count,
           excluded.poster_url, coalesce(excluded.content_hash, m.content_hash))
      or (m.embedding is null and excluded.embedding is not null)
    returning (m.xmax = 0) as was_inserted
  )
  select (select count(*) from input),
         count(*) filter (where was_inserted),
         count(*) filter (where not was_inserted)
  into input_count, inserted_count, updated_count
  from upserted;

  return query select inserted_count, updated_count, input_count - inserted_count - updated_count;
end;
$$;

-- As upsert_movies, by google_id. A volume whose ISBN-13 is already stored under another volume id is the
-- same book listed twice by Google Books: it is skipped (counted unchanged), never inserted again.
create function public.upsert_books(book_rows jsonb, mark_demo boolean default false)
returns table (inserted integer, updated integer, unchanged integer)
language plpgsql
volatile
set search_path = ''
as $$
declare
  input_count integer;
  inserted_count integer;
  updated_count integer;
begin
  if jsonb_typeof(book_rows) is distinct from 'array' then
    raise exception using errcode = '22023', message = 'book_rows must be a JSON array';
  end if;
  perform pg_advisory_xact_lock(hashtext('public.upsert_books'));

  with parsed as (
    select distinct on (x.google_id) x.*
    from jsonb_to_recordset(book_rows) as x(
      google_id text, title text, subtitle text, authors jsonb, description text, categories jsonb,
      published_date text, language text, page_count integer, isbn_10 text, isbn_13 text, thumbnail_url text,
      publisher text, average_rating double precision, ratings_count integer, embedding jsonb,
      content_hash text)
    order by x.google_id
  ),
  input as (
    select p.* from parsed p
    where p.isbn_13 is null
       or not exists (select 1 from public.books b where b.isbn_13 = p.isbn_13 and b.google_id <> p.google_id)
  ),
  fresh as (
    select i.google_id, nextval(pg_get_serial_sequence('public.items', 'id')) as new_item_id
    from input i
    where not exists (select 1 from public.books b where b.google_id = i.google_id)
  ),
  new_items as (
    insert into public.items (id, item_type, is_demo) overriding system value
    select f.new_item_id, 'book', mark_demo from fresh f
    returning id
  ),
  upserted as (
    insert into public.books as b (
      item_id, google_id, title, subtitle, authors, description, categories, published_date, language,
      page_count, isbn_10, isbn_13, thumbnail_url, publisher, average_rating, ratings_count, embedding,
      content_hash)
    select coalesce(f.new_item_id, existing.item_id), i.google_id, i.title, i.subtitle,
           coalesce(array(select jsonb_array_elements_text(i.authors)), '{}'), i.description,
           coalesce(array(select jsonb_array_elements_text(i.categories)), '{}'), i.published_date,
           i.language, i.page_count, i.isbn_10, i.isbn_13, i.thumbnail_url, i.publisher, i.average_rating,
           i.ratings_count, (i.embedding #>> '{}')::extensions.vector(384), i.content_hash
    from input i
    left join fresh f on f.google_id = i.google_id
    left join public.books existing on existing.google_id = i.google_id
    on conflict (google_id) do update set
      title = excluded.title, subtitle = excluded.subtitle, authors = excluded.authors,
      description = excluded.description, categories = excluded.categories,
      published_date = excluded.published_date, language = excluded.language,
      page_count = excluded.page_count, isbn_10 = excluded.isbn_10, isbn_13 = excluded.isbn_13,
      thumbnail_url = excluded.thumbnail_url, publisher = excluded.publisher,
      average_rating = excluded.average_rating, ratings_count = excluded.ratings_count,
      embedding = coalesce(excluded.embedding, b.embedding),
      content_hash = coalesce(excluded.content_hash, b.content_hash),
      updated_at = now()
    where (b.title, b.subtitle, b.authors, b.description, b.categories, b.published_date, b.language,
           b.page_count, b.isbn_10, b.isbn_13, b.thumbnail_url, b.publisher, b.average_rating,
           b.ratings_count, b.content_hash)
      is distinct from
          (excluded.title, excluded.subtitle, excluded.authors, excluded.description, excluded.categories,
           excluded.published_date, excluded.language, excluded.page_count, excluded.isbn_10,
           excluded.isbn_13, excluded.thumbnail_url, excluded.publisher, excluded.average_rating,
           excluded.ratings_count, coalesce(excluded.content_hash, b.content_hash))
      or (b.embedding is null and excluded.embedding is not null)
    returning (b.xmax = 0) as was_inserted
  )
  select (select count(*) from parsed),
         count(*) filter (where was_inserted),
         count(*) filter (where not was_inserted)
  into input_count, inserted_count, updated_count
  from upserted;

  return query select inserted_count, updated_count, input_count - inserted_count - updated_count;
end;
$$;

-- The figures a TMDB listing carries and that move daily (popularity, votes, poster) for movies whose text
-- is unchanged. A listing row lacks the credits, so upserting it whole would blank them; this touches only
-- the figures, and only where they changed.
create function public.refresh_movie_figures(movie_rows jsonb)
returns table (updated integer, unchanged integer)
language sql
volatile
set search_path = ''
as $$
  with input as (
    select distinct on (x.tmdb_id) x.*
    from jsonb_to_recordset(movie_rows) as x(
      tmdb_id integer, popularity double precision, vote_average double precision, vote_count integer,
      poster_url text)
    order by x.tmdb_id
  ),
  changed as (
    update public.movies m
       set popularity = i.popularity, vote_average = i.vote_average, vote_count = i.vote_count,
           poster_url = coalesce(i.poster_url, m.poster_url), updated_at = now()
      from input i
     where m.tmdb_id = i.tmdb_id
       and (m.popularity, m.vote_average, m.vote_count, m.poster_url)
           is distinct from (i.popularity, i.vote_average, i.vote_count, coalesce(i.poster_url, m.poster_url))
    returning 1
  )
  select (select count(*) from changed)::integer,
         ((select count(*) from input) - (select count(*) from changed))::integer;
$$;

create function public.start_ingest_run(run_source text, run_trigger text default 'manual')
returns table (id bigint, checkpoint jsonb)
language sql
volatile
set search_path = ''
as $$
  insert into public.ingest_runs (source, trigger) values (run_source, run_trigger)
  returning ingest_runs.id,
            (select c.checkpoint from public.ingest_checkpoints c where c.source = run_source);
$$;

create function public.save_ingest_checkpoint(
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
     set checkpoint = run_checkpoint, stats = coalesce(run_stats, '{}')
   where id = run_id;
$$;

create function public.finish_ingest_run(
  run_id bigint, run_status text, run_stats jsonb, run_checkpoint jsonb, run_error text default null
)
returns void
language sql
volatile
set search_path = ''
as $$
  insert into public.ingest_checkpoints (source, checkpoint, run_id, updated_at)
  select r.source, run_checkpoint, run_id, now() from public.ingest_runs r where r.id = run_id
  on conflict (source) do update
    set checkpoint = excluded.checkpoint, run_id = excluded.run_id, updated_at = now();
  update public.ingest_runs
     set status = run_status, stats = coalesce(run_stats, '{}'), checkpoint = run_checkpoint,
         error = run_error, finished_at = now()
   where id = run_id;
$$;
