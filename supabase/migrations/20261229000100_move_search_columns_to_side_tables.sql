-- Search columns in side tables, so catalog rows stay narrow (issue 12, session 5).
--
-- Issue 12 put its search columns in the catalog rows: search_document (a generated tsvector), title_keys,
-- people_keys and search_keys_version. They pushed an average movie row over PostgreSQL's TOAST threshold
-- (about 2 kB), and the largest out-of-line candidate is the 1.5 kB embedding (pgvector's EXTERNAL storage),
-- so most embeddings moved to the TOAST table: every semantic or filtered search then fetched each candidate's
-- vector from there (the 732 Hindi movies since 1990 took 7.2 ms to rank against 1.4 ms with vectors in the
-- row; docs/benchmarks.md, issue 12, session 4). Keeping the vectors in the row instead (storage main) made the
-- heap 2.6 x wider for search_lexical, which reads it for its word counts and candidates.
--
-- Now each kind has a side table, one row per item, holding what search_lexical reads and nothing else: the
-- filter columns and title (copied from the catalog row by a trigger), the weighted search document (made by
-- the same trigger, with the expression the generated column had), and the keys (written by set_title_keys, as
-- before). The catalog rows are back to their pre-issue-12 width and their embeddings are stored in the row
-- (storage main: a long overview goes out of line first), and search_lexical reads a table of about 300 bytes
-- a row, so neither reader pays for the other's columns.
--
-- The migration rewrites movies and books (CLUSTER on the primary key) so that existing rows lose the dropped
-- columns and take their embeddings back in line. The rewrite rebuilds their indexes, HNSW included, under an
-- exclusive lock: seconds at 20,000 items; plan a window for a large catalog.

create table public.movie_search (
  item_id             bigint primary key references public.movies (item_id) on delete cascade,
  title               text not null,
  original_language   text,
  genres              text[] not null default '{}',
  release_year        integer,
  -- Titles A, people B, genres C, overview D: english for English text, simple for names and titles in
  -- their own script (migration 20261204000100).
  search_document     tsvector not null,
  -- cinelibre.text keys, written by set_title_keys; search_keys_version is the version that made them.
  title_keys          text,
  people_keys         text,
  search_keys_version smallint
);

create table public.book_search (
  item_id             bigint primary key references public.books (item_id) on delete cascade,
  title               text not null,
  language            text,
  categories          text[] not null default '{}',
  published_year      integer,
  search_document     tsvector not null,
  title_keys          text,
  people_keys         text,
  search_keys_version smallint
);

alter table public.movie_search enable row level security;
alter table public.book_search enable row level security;
-- Public like the catalog they are made from: search_lexical runs as its caller (anon included).
create policy movie_search_public_read on public.movie_search for select to anon, authenticated using (true);
create policy book_search_public_read on public.book_search for select to anon, authenticated using (true);
grant select on public.movie_search, public.book_search to anon, authenticated;

-- The search row of a catalog row, made whenever a column it copies or indexes is written. The keys are left
-- as they are: set_title_keys writes them after the upsert (and the backfill remakes stale ones).
create function public.index_movie_for_search() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.movie_search as s (item_id, title, original_language, genres, release_year, search_document)
  values (
    new.item_id, new.title, new.original_language, new.genres, new.release_year,
    setweight(to_tsvector('english', coalesce(new.title, '')), 'A')
    || setweight(to_tsvector('simple', coalesce(nullif(new.original_title, new.title), '')), 'A')
    || setweight(to_tsvector('simple', coalesce(new.director, '')), 'B')
    || setweight(jsonb_to_tsvector('simple', jsonb_path_query_array(new.cast_members, '$[*].name'), '["string"]'), 'B')
    || setweight(to_tsvector('english', public.search_words(new.genres)), 'C')
    || setweight(to_tsvector('english', coalesce(new.overview, '')), 'D')
  )
  on conflict (item_id) do update
    set title = excluded.title, original_language = excluded.original_language, genres = excluded.genres,
        release_year = excluded.release_year, search_document = excluded.search_document
    where (s.title, s.original_language, s.genres, s.release_year, s.search_document)
          is distinct from (excluded.title, excluded.original_language, excluded.genres, excluded.release_year,
                            excluded.search_document);
  return null;
end;
$$;

create function public.index_book_for_search() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.book_search as s (item_id, title, language, categories, published_year, search_document)
  values (
    new.item_id, new.title, new.language, new.categories, new.published_year,
    setweight(to_tsvector('english', coalesce(new.title, '') || ' ' || coalesce(new.subtitle, '')), 'A')
    || setweight(to_tsvector('simple', public.search_words(new.authors)), 'B')
    || setweight(to_tsvector('english', public.search_words(new.categories)), 'C')
    || setweight(to_tsvector('english', coalesce(new.description, '')), 'D')
  )
  on conflict (item_id) do update
    set title = excluded.title, language = excluded.language, categories = excluded.categories,
        published_year = excluded.published_year, search_document = excluded.search_document
    where (s.title, s.language, s.categories, s.published_year, s.search_document)
          is distinct from (excluded.title, excluded.language, excluded.categories, excluded.published_year,
                            excluded.search_document);
  return null;
end;
$$;
revoke execute on function public.index_movie_for_search(), public.index_book_for_search() from public;

create trigger movies_index_for_search
  after insert or update of title, original_title, overview, original_language, genres, release_year, director,
    cast_members
  on public.movies for each row execute function public.index_movie_for_search();
-- published_year is generated from published_date, so a change of the date is what updates it.
create trigger books_index_for_search
  after insert or update of title, subtitle, authors, description, categories, published_date, language
  on public.books for each row execute function public.index_book_for_search();

-- The rows that exist: their documents as the generated columns hold them, and their keys.
insert into public.movie_search (item_id, title, original_language, genres, release_year, search_document,
                                 title_keys, people_keys, search_keys_version)
select m.item_id, m.title, m.original_language, m.genres, m.release_year, m.search_document, m.title_keys,
       m.people_keys, m.search_keys_version
from public.movies m;
insert into public.book_search (item_id, title, language, categories, published_year, search_document,
                                title_keys, people_keys, search_keys_version)
select b.item_id, b.title, b.language, b.categories, b.published_year, b.search_document, b.title_keys,
       b.people_keys, b.search_keys_version
from public.books b;

-- The ranking indexes search_lexical reached on the catalog tables (tests/db/test_index_use.py), on the side
-- tables; the catalog's own title, filter and vector indexes stay for its other readers. No filter indexes
-- here: a language or a year is not selective enough to lead, and with one the planner would rather read every
-- row of a language and test its title than ask the trigram index (35 ms instead of a few at 12,000 movies).
create index movie_search_document_idx on public.movie_search using gin (search_document);
create index book_search_document_idx on public.book_search using gin (search_document);
create index movie_search_title_keys_trgm_idx on public.movie_search using gin (title_keys extensions.gin_trgm_ops);
create index book_search_title_keys_trgm_idx on public.book_search using gin (title_keys extensions.gin_trgm_ops);
create index movie_search_people_keys_trgm_idx on public.movie_search using gin (people_keys extensions.gin_trgm_ops);
create index book_search_people_keys_trgm_idx on public.book_search using gin (people_keys extensions.gin_trgm_ops);
create index movie_search_title_trgm_idx on public.movie_search using gin (lower(title) extensions.gin_trgm_ops);
create index book_search_title_trgm_idx on public.book_search using gin (lower(title) extensions.gin_trgm_ops);

-- As migration 20261223000100, writing the side tables. A key row whose item has no search row yet (it cannot:
-- the trigger makes one with the catalog row) changes nothing.
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
  update public.movie_search s
  set title_keys = k.title_keys,
      people_keys = case when k.row ? 'people_keys' then k.people_keys else s.people_keys end,
      search_keys_version = k.keys_version
  from (
    select r.value as row, r.value ->> 'item_type' as item_type, r.value ->> 'external_id' as external_id,
           r.value ->> 'title_keys' as title_keys, r.value ->> 'people_keys' as people_keys,
           (r.value ->> 'keys_version')::smallint as keys_version
    from jsonb_array_elements(key_rows) as r
  ) k, public.movies m
  where k.item_type = 'movie' and k.external_id ~ '^-?\d{1,10}$' and m.tmdb_id = k.external_id::integer
    and s.item_id = m.item_id
    and (not k.row ? 'content_hash' or m.content_hash is not distinct from k.row ->> 'content_hash')
    and (s.title_keys is distinct from k.title_keys
         or (k.row ? 'people_keys' and s.people_keys is distinct from k.people_keys)
         or s.search_keys_version is distinct from k.keys_version);
  get diagnostics changed = row_count;
  update public.book_search s
  set title_keys = k.title_keys,
      people_keys = case when k.row ? 'people_keys' then k.people_keys else s.people_keys end,
      search_keys_version = k.keys_version
  from (
    select r.value as row, r.value ->> 'item_type' as item_type, r.value ->> 'external_id' as external_id,
           r.value ->> 'title_keys' as title_keys, r.value ->> 'people_keys' as people_keys,
           (r.value ->> 'keys_version')::smallint as keys_version
    from jsonb_array_elements(key_rows) as r
  ) k, public.books b
  where k.item_type = 'book' and b.google_id = k.external_id and s.item_id = b.item_id
    and (not k.row ? 'content_hash' or b.content_hash is not distinct from k.row ->> 'content_hash')
    and (s.title_keys is distinct from k.title_keys
         or (k.row ? 'people_keys' and s.people_keys is distinct from k.people_keys)
         or s.search_keys_version is distinct from k.keys_version);
  get diagnostics changed_books = row_count;
  return changed + changed_books;
end;
$$;
revoke execute on function public.set_title_keys(jsonb) from public, anon, authenticated;
grant execute on function public.set_title_keys(jsonb) to service_role;

-- As migration 20261223000100, the version read from the side tables (a catalog row without a search row
-- counts as stale).
create or replace function public.get_stale_search_key_rows(after_item_id bigint, page_size integer, keys_version smallint)
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
     left join public.movie_search ms on ms.item_id = m.item_id
     where m.item_id > after_item_id
       and (ms.search_keys_version is null or ms.search_keys_version < keys_version)
     order by m.item_id
     limit least(greatest(page_size, 1), 1000))
    union all
    (select b.item_id, 'book'::text, b.google_id, b.content_hash, b.title, null::text, b.subtitle, null::text,
            null::jsonb, b.authors
     from public.books b
     left join public.book_search bs on bs.item_id = b.item_id
     where b.item_id > after_item_id
       and (bs.search_keys_version is null or bs.search_keys_version < keys_version)
     order by b.item_id
     limit least(greatest(page_size, 1), 1000))
  ) s
  order by s.item_id
  limit least(greatest(page_size, 1), 1000);
$$;

create or replace function public.count_stale_search_keys(keys_version smallint)
returns table (item_type text, stale bigint, total bigint)
language sql
stable
set search_path = ''
as $$
  select 'movie'::text,
         count(*) filter (where ms.search_keys_version is null or ms.search_keys_version < keys_version),
         count(*)
  from public.movies m left join public.movie_search ms on ms.item_id = m.item_id
  union all
  select 'book'::text,
         count(*) filter (where bs.search_keys_version is null or bs.search_keys_version < keys_version),
         count(*)
  from public.books b left join public.book_search bs on bs.item_id = b.item_id;
$$;

revoke execute on function public.get_stale_search_key_rows(bigint, integer, smallint),
  public.count_stale_search_keys(smallint) from public, anon, authenticated;
grant execute on function public.get_stale_search_key_rows(bigint, integer, smallint),
  public.count_stale_search_keys(smallint) to service_role;

-- search_lexical as migration 20261214000200 made it, reading the side tables: the same rankings, filters,
-- bounds and rows; the catalog rows are read only for the hits' fields.
create or replace function public.search_lexical(
  search_query text,
  query_key text,
  filter_item_type text default 'all',
  match_count integer default 10,
  filter_language text default null,
  filter_genre text default null,
  filter_category text default null,
  year_from integer default null,
  year_to integer default null,
  -- ts_rank's weights of D, C, B and A (overview, genres, people, titles); see docs/search.md.
  rank_weights real[] default '{0.1, 0.2, 0.4, 0.1}',
  query_sound text default null,
  -- The query's key as said (cinelibre.text.spoken_key), matched against people_keys when given.
  query_spoken_key text default null
)
returns table (
  item_id bigint, item_type text, title text, year integer, image_url text, language text, genres text[],
  director text, overview text, authors text[], categories text[], title_similarity real,
  title_coverage real, text_rank real, text_coverage real, people_similarity real
)
language plpgsql
stable
set search_path = ''
set pg_trgm.word_similarity_threshold = 0.5
-- Every ranking has its index on the side tables. Their rows are narrow, so the planner, which prices a
-- trigram or full-text test like any operator, would rather scan a small catalog's side table whole and test
-- every row (tests/db/test_index_use.py) than go through the index; the scan costs far more than it thinks.
set enable_seqscan = off
as $$
declare
  -- Bounds of the full-text ranking's work (see above).
  candidate_budget constant integer := 1000;
  word_count_cap constant integer := 1000;
  -- A sound is a coarser match than a key ("Joji" sounds like "Jaws"): a title matched by its sound alone
  -- counts this share of its similarity, so the title whose key matches comes first.
  sound_discount constant real := 0.8;
  lowered text := lower(search_query);
  people_key text := coalesce(query_spoken_key, query_key);
  capped integer := least(greatest(match_count, 1), 50);
  english_query tsquery := websearch_to_tsquery('english', search_query);
  -- The query every candidate is ranked by (any word counting) and the one that picks the candidates.
  text_query tsquery;
  candidate_query tsquery;
  candidate_limit integer := candidate_budget;
  -- One tsquery per word of the query, stemmed (english) or as written (simple, for names), its holders in
  -- the catalog and its weight, for text_coverage.
  word_queries tsquery[];
  word_holders integer[] := '{}';
  word_weights real[] := '{}';
  catalog_size real;
  total_weight real := 0;
  held integer := 0;
  word_index integer;
  rarest integer[];
begin
  select array_agg(plainto_tsquery('english', word) || plainto_tsquery('simple', word)) into word_queries
  from unnest(tsvector_to_array(to_tsvector('simple', search_query))) as word
  where to_tsvector('english', word) <> ''::tsvector;

  if word_queries is not null then
    -- The planner's row estimates: counting a million rows on every search is what this avoids. A table
    -- never analysed (-1) is counted.
    select sum(case when c.reltuples >= 0 then c.reltuples
                    when c.relname = 'movies' then (select count(*) from public.movies)
                    else (select count(*) from public.books) end)
    into catalog_size
    from pg_catalog.pg_class c
    where c.oid in ('public.movies'::regclass, 'public.books'::regclass);
    for i in 1 .. cardinality(word_queries) loop
      word_holders := word_holders || (
        (select count(*) from (select from public.movie_search m where m.search_document @@ word_queries[i]
                               limit word_count_cap) as held_by_movies)
        + (select count(*) from (select from public.book_search b where b.search_document @@ word_queries[i]
                                 limit word_count_cap) as held_by_books))::integer;
      word_weights := word_weights || ln(1 + greatest(catalog_size, 1) / (1 + word_holders[i]))::real;
      total_weight := total_weight + word_weights[i];
    end loop;

    -- Any word may match (a descriptive query rarely shares all its words with an overview); the rank
    -- rewards documents that match more of them.
    for i in 1 .. cardinality(word_queries) loop
      text_query := case when text_query is null then word_queries[i] else text_query || word_queries[i] end;
    end loop;
  end if;

  if position('!' in english_query::text) > 0 then
    -- A negation keeps websearch's own logic, for candidates and rank alike.
    text_query := english_query;
    candidate_query := english_query;
  elsif word_queries is not null then
    -- Rarest words first, while their holders fit the budget.
    for word_index in
      select o.i from unnest(word_holders) with ordinality as o(holders, i) order by o.holders, o.i
    loop
      exit when held > 0 and held + word_holders[word_index] > candidate_budget;
      candidate_query := case when candidate_query is null then word_queries[word_index]
                              else candidate_query || word_queries[word_index] end;
      held := held + word_holders[word_index];
    end loop;
    if held > candidate_budget and cardinality(word_queries) > 1 then
      -- Every word is common: the documents holding the two rarest together.
      select array_agg(o.i order by o.holders, o.i) into rarest
      from unnest(word_holders) with ordinality as o(holders, i);
      candidate_query := word_queries[rarest[1]] && word_queries[rarest[2]];
    end if;
  end if;
  if text_query is not null and numnode(text_query) = 0 then
    text_query := null;
    candidate_query := null;
  end if;

  return query
    -- Not materialized: each ranking must reach its own index through the filters.
    with movie_filter as not materialized (
      select m.* from public.movie_search m
      where filter_item_type in ('movie', 'all')
        and (filter_language is null or m.original_language = filter_language)
        and (filter_genre is null or m.genres @> array[filter_genre])
        and (year_from is null or m.release_year >= year_from)
        and (year_to is null or m.release_year <= year_to)
    ),
    book_filter as not materialized (
      select b.* from public.book_search b
      where filter_item_type in ('book', 'all')
        and (filter_language is null or b.language = filter_language)
        and (filter_category is null or b.categories @> array[filter_category])
        and (year_from is null or b.published_year >= year_from)
        and (year_to is null or b.published_year <= year_to)
    ),
    title_hits as (
      select t.item_id, t.item_type, t.similarity from (
        select m.item_id, 'movie'::text as item_type,
               greatest(extensions.word_similarity(query_key, coalesce(m.title_keys, '')),
                        extensions.word_similarity(lowered, lower(m.title)),
                        sound_discount * extensions.word_similarity(query_sound, coalesce(m.title_keys, '')))
                 as similarity
        from movie_filter m
        where query_key operator(extensions.<%) m.title_keys or lowered operator(extensions.<%) lower(m.title)
          or query_sound operator(extensions.<%) m.title_keys
        union all
        select b.item_id, 'book'::text,
               greatest(extensions.word_similarity(query_key, coalesce(b.title_keys, '')),
                        extensions.word_similarity(lowered, lower(b.title)),
                        sound_discount * extensions.word_similarity(query_sound, coalesce(b.title_keys, '')))
        from book_filter b
        where query_key operator(extensions.<%) b.title_keys or lowered operator(extensions.<%) lower(b.title)
          or query_sound operator(extensions.<%) b.title_keys
      ) t
      order by t.similarity desc, t.item_id
      limit capped
    ),
    people_hits as (
      select t.item_id, t.item_type, t.similarity from (
        select m.item_id, 'movie'::text as item_type,
               extensions.word_similarity(people_key, m.people_keys) as similarity
        from movie_filter m
        where people_key operator(extensions.<%) m.people_keys
        union all
        select b.item_id, 'book'::text, extensions.word_similarity(people_key, b.people_keys)
        from book_filter b
        where people_key operator(extensions.<%) b.people_keys
      ) t
      order by t.similarity desc, t.item_id
      limit capped
    ),
    text_candidates as (
      select c.item_id, c.item_type, c.document from (
        select m.item_id, 'movie'::text as item_type, m.search_document as document
        from movie_filter m
        where m.search_document @@ candidate_query
        union all
        select b.item_id, 'book'::text, b.search_document
        from book_filter b
        where b.search_document @@ candidate_query
      ) c
      limit candidate_limit
    ),
    text_hits as (
      select t.item_id, t.item_type, t.rank, t.coverage from (
        select c.item_id, c.item_type, ts_rank(rank_weights, c.document, text_query, 1) as rank,
               (select sum(w.weight) filter (where c.document @@ w.q) from unnest(word_queries, word_weights)
                  as w(q, weight)) / nullif(total_weight, 0) as coverage
        from text_candidates c
      ) t
      order by t.coverage desc, t.rank desc, t.item_id
      limit capped
    ),
    hits as (
      select coalesce(th.item_id, xh.item_id, ph.item_id) as item_id,
             coalesce(th.item_type, xh.item_type, ph.item_type) as item_type,
             th.similarity, xh.rank, xh.coverage, ph.similarity as people_similarity
      from title_hits th
      full join text_hits xh on xh.item_id = th.item_id and xh.item_type = th.item_type
      full join people_hits ph
        on ph.item_id = coalesce(th.item_id, xh.item_id) and ph.item_type = coalesce(th.item_type, xh.item_type)
    )
    select h.item_id, h.item_type, coalesce(m.title, b.title), coalesce(m.release_year, b.published_year),
           coalesce(m.poster_url, b.thumbnail_url), coalesce(m.original_language, b.language), m.genres,
           m.director, coalesce(m.overview, b.description), b.authors, b.categories, h.similarity::real,
           -- How much of the title the query covers: a one-word query inside a long title covers little.
           case when h.similarity is null then null else greatest(
             (select max(greatest(extensions.similarity(query_key, key),
                                 sound_discount * extensions.similarity(query_sound, key)))
              from unnest(string_to_array(coalesce(ms.title_keys, bs.title_keys, ''), ' / ')) as key),
             extensions.similarity(lowered, lower(coalesce(m.title, b.title))))::real end,
           h.rank::real, h.coverage::real, h.people_similarity::real
    from hits h
    left join public.movies m on h.item_type = 'movie' and m.item_id = h.item_id
    left join public.books b on h.item_type = 'book' and b.item_id = h.item_id
    left join public.movie_search ms on h.item_type = 'movie' and ms.item_id = h.item_id
    left join public.book_search bs on h.item_type = 'book' and bs.item_id = h.item_id;
end;
$$;

revoke execute on function public.search_lexical(text, text, text, integer, text, text, text, integer, integer, real[], text, text)
  from public;
grant execute on function public.search_lexical(text, text, text, integer, text, text, text, integer, integer, real[], text, text)
  to anon, authenticated, service_role;

-- Only now, with nothing left that reads them: the columns go (their indexes with them), and the tables are
-- rewritten so existing rows are narrow and hold their embeddings again.
alter table public.movies drop column search_document, drop column title_keys, drop column people_keys,
  drop column search_keys_version;
alter table public.books drop column search_document, drop column title_keys, drop column people_keys,
  drop column search_keys_version;
-- The embedding is kept in the row whatever else the row holds (a long overview or cast list goes out of
-- line first): pgvector's default EXTERNAL storage would move the vector out as soon as a row passes the
-- threshold, and real TMDB overviews (300-600 characters) take many rows there even without the search columns.
alter table public.movies alter column embedding set storage main;
alter table public.books alter column embedding set storage main;
cluster public.movies using movies_pkey;
cluster public.books using books_pkey;
alter table public.movies set without cluster;
alter table public.books set without cluster;
analyze public.movies, public.books, public.movie_search, public.book_search;
