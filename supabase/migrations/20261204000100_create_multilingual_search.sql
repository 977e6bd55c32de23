-- Search in the catalog's languages (issue 12): full-text ranking as a third signal beside the embedding and
-- the title match, and title keys that let a title typed in any script or romanization find its item.

-- Genres and categories as text for a generated column: array_to_string is only stable (it serialises
-- through the element type's output function), though for text[] its result never changes.
create function public.search_words(words text[]) returns text
language sql
immutable
parallel safe
set search_path = ''
as $$ select array_to_string(words, ' ') $$;
revoke execute on function public.search_words(text[]) from public;

-- One weighted document per item: titles A, people B, genres/categories C, overview/description D.
-- English text uses the english configuration (stemming, stop words); names and titles in their own
-- script the simple one. An original title equal to the title is not counted twice.
alter table public.movies add column search_document tsvector generated always as (
  setweight(to_tsvector('english', coalesce(title, '')), 'A')
  || setweight(to_tsvector('simple', coalesce(nullif(original_title, title), '')), 'A')
  || setweight(to_tsvector('simple', coalesce(director, '')), 'B')
  || setweight(jsonb_to_tsvector('simple', jsonb_path_query_array(cast_members, '$[*].name'), '["string"]'), 'B')
  || setweight(to_tsvector('english', public.search_words(genres)), 'C')
  || setweight(to_tsvector('english', coalesce(overview, '')), 'D')
) stored;

alter table public.books add column search_document tsvector generated always as (
  setweight(to_tsvector('english', coalesce(title, '') || ' ' || coalesce(subtitle, '')), 'A')
  || setweight(to_tsvector('simple', public.search_words(authors)), 'B')
  || setweight(to_tsvector('english', public.search_words(categories)), 'C')
  || setweight(to_tsvector('english', coalesce(description, '')), 'D')
) stored;

create index movies_search_document_idx on public.movies using gin (search_document);
create index books_search_document_idx on public.books using gin (search_document);

-- Phonetic keys of every title an item is known by (cinelibre.text.title_keys: romanized from any Indian
-- script, spelling differences removed), set at ingest by set_title_keys; matched by trigram similarity.
alter table public.movies add column title_keys text;
alter table public.books add column title_keys text;
create index movies_title_keys_trgm_idx on public.movies using gin (title_keys extensions.gin_trgm_ops);
create index books_title_keys_trgm_idx on public.books using gin (title_keys extensions.gin_trgm_ops);

-- Keys computed by the ingest side (Python: the transliteration library) for rows just upserted:
-- [{"item_type": "movie"|"book", "external_id": tmdb_id or google_id, "title_keys": "..."}].
create function public.set_title_keys(key_rows jsonb)
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
  update public.movies m set title_keys = k.title_keys
  from jsonb_to_recordset(key_rows) as k(item_type text, external_id text, title_keys text)
  where k.item_type = 'movie' and k.external_id ~ '^-?\d{1,10}$' and m.tmdb_id = k.external_id::integer
    and m.title_keys is distinct from k.title_keys;
  get diagnostics changed = row_count;
  update public.books b set title_keys = k.title_keys
  from jsonb_to_recordset(key_rows) as k(item_type text, external_id text, title_keys text)
  where k.item_type = 'book' and b.google_id = k.external_id and b.title_keys is distinct from k.title_keys;
  get diagnostics changed_books = row_count;
  return changed + changed_books;
end;
$$;
revoke execute on function public.set_title_keys(jsonb) from public, anon, authenticated;
grant execute on function public.set_title_keys(jsonb) to service_role;

-- The lexical half of search in one call: the title ranking (trigram word similarity of the query's key
-- against the title keys, or of the query against the title as written) and the full-text ranking
-- (websearch_to_tsquery, any word counting), each limited to match_count, with every field a search hit
-- shows. Filters as match_movies / match_books.
-- text_coverage is the share of the query's words (stop words left out) that an item's document holds, each
-- word counted by its inverse document frequency over the catalog, ln(1 + items / (1 + items holding it)):
-- the full-text ranking orders by it first, and the fusion weighs a full-text hit by it, so that one common
-- word of a description ("family", also a genre) cannot put an item that shares nothing else with it above
-- items that share its rarer, telling words.
create function public.search_lexical(
  search_query text,
  query_key text,
  filter_item_type text default 'all',
  match_count integer default 10,
  filter_language text default null,
  filter_genre text default null,
  filter_category text default null,
  year_from integer default null,
  year_to integer default null,
  -- ts_rank's weights of D, C, B and A (overview, genres, people, titles). The title has a ranking of its
  -- own, so its words need not dominate the full-text one (tuned on bench/relevance; see docs/search.md).
  rank_weights real[] default '{0.1, 0.2, 0.4, 0.1}'
)
returns table (
  item_id bigint, item_type text, title text, year integer, image_url text, language text, genres text[],
  director text, overview text, authors text[], categories text[], title_similarity real,
  title_coverage real, text_rank real, text_coverage real
)
language plpgsql
stable
set search_path = ''
set plan_cache_mode = force_custom_plan
set pg_trgm.word_similarity_threshold = 0.5
as $$
declare
  lowered text := lower(search_query);
  capped integer := least(greatest(match_count, 1), 50);
  english_query tsquery := websearch_to_tsquery('english', search_query);
  text_query tsquery;
  names_query text;
  -- One tsquery per word of the query, stemmed (english) or as written (simple), and its weight, for
  -- text_coverage.
  word_queries tsquery[];
  word_weights real[] := '{}';
  catalog_size real;
  holders real;
  total_weight real := 0;
begin
  -- Any word may match (a descriptive query rarely shares all its words with an overview); the rank
  -- rewards documents that match more of them. A query with a negation keeps websearch's own logic.
  if position('!' in english_query::text) = 0 then
    english_query := nullif(replace(english_query::text, ' & ', ' | '), '')::tsquery;
  end if;
  -- Names and native-script titles are indexed with the simple configuration: their words unstemmed,
  -- leaving out English stop words.
  select string_agg(quote_literal(word), ' | ') into names_query
  from unnest(tsvector_to_array(to_tsvector('simple', search_query))) as word
  where to_tsvector('english', word) <> ''::tsvector;
  -- Combined without casting '' (an empty tsquery raises a notice on every call).
  text_query := english_query;
  if names_query is not null then
    text_query := case when text_query is null then names_query::tsquery else text_query || names_query::tsquery end;
  end if;
  if numnode(text_query) = 0 then
    text_query := null;
  end if;
  select array_agg(plainto_tsquery('english', word) || plainto_tsquery('simple', word)) into word_queries
  from unnest(tsvector_to_array(to_tsvector('simple', search_query))) as word
  where to_tsvector('english', word) <> ''::tsvector;
  if word_queries is not null then
    catalog_size := (select count(*) from public.movies) + (select count(*) from public.books);
    for i in 1 .. cardinality(word_queries) loop
      -- Counted through the GIN indexes on search_document.
      holders := (select count(*) from public.movies m where m.search_document @@ word_queries[i])
        + (select count(*) from public.books b where b.search_document @@ word_queries[i]);
      word_weights := word_weights || ln(1 + catalog_size / (1 + holders))::real;
      total_weight := total_weight + word_weights[i];
    end loop;
  end if;

  return query
    -- Not materialized: each ranking must reach its own index through the filters.
    with movie_filter as not materialized (
      select m.* from public.movies m
      where filter_item_type in ('movie', 'all')
        and (filter_language is null or m.original_language = filter_language)
        and (filter_genre is null or m.genres @> array[filter_genre])
        and (year_from is null or m.release_year >= year_from)
        and (year_to is null or m.release_year <= year_to)
    ),
    book_filter as not materialized (
      select b.* from public.books b
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
                        extensions.word_similarity(lowered, lower(m.title))) as similarity
        from movie_filter m
        where query_key operator(extensions.<%) m.title_keys or lowered operator(extensions.<%) lower(m.title)
        union all
        select b.item_id, 'book'::text,
               greatest(extensions.word_similarity(query_key, coalesce(b.title_keys, '')),
                        extensions.word_similarity(lowered, lower(b.title)))
        from book_filter b
        where query_key operator(extensions.<%) b.title_keys or lowered operator(extensions.<%) lower(b.title)
      ) t
      order by t.similarity desc, t.item_id
      limit capped
    ),
    text_hits as (
      select t.item_id, t.item_type, t.rank, t.coverage from (
        select m.item_id, 'movie'::text as item_type,
               ts_rank(rank_weights, m.search_document, text_query, 1) as rank,
               (select sum(w.weight) filter (where m.search_document @@ w.q) from unnest(word_queries, word_weights)
                  as w(q, weight)) / nullif(total_weight, 0) as coverage
        from movie_filter m
        where m.search_document @@ text_query
        union all
        select b.item_id, 'book'::text, ts_rank(rank_weights, b.search_document, text_query, 1),
               (select sum(w.weight) filter (where b.search_document @@ w.q) from unnest(word_queries, word_weights)
                  as w(q, weight)) / nullif(total_weight, 0)
        from book_filter b
        where b.search_document @@ text_query
      ) t
      order by t.coverage desc, t.rank desc, t.item_id
      limit capped
    ),
    hits as (
      select coalesce(th.item_id, xh.item_id) as item_id, coalesce(th.item_type, xh.item_type) as item_type,
             th.similarity, xh.rank, xh.coverage
      from title_hits th
      full join text_hits xh on xh.item_id = th.item_id and xh.item_type = th.item_type
    )
    select h.item_id, h.item_type, coalesce(m.title, b.title), coalesce(m.release_year, b.published_year),
           coalesce(m.poster_url, b.thumbnail_url), coalesce(m.original_language, b.language), m.genres,
           m.director, coalesce(m.overview, b.description), b.authors, b.categories, h.similarity::real,
           -- How much of the title the query covers: a one-word query inside a long title covers little.
           case when h.similarity is null then null else greatest(
             (select max(extensions.similarity(query_key, key))
              from unnest(string_to_array(coalesce(m.title_keys, b.title_keys, ''), ' / ')) as key),
             extensions.similarity(lowered, lower(coalesce(m.title, b.title))))::real end,
           h.rank::real, h.coverage::real
    from hits h
    left join public.movies m on h.item_type = 'movie' and m.item_id = h.item_id
    left join public.books b on h.item_type = 'book' and b.item_id = h.item_id;
end;
$$;

revoke execute on function public.search_lexical(text, text, text, integer, text, text, text, integer, integer, real[])
  from public;
grant execute on function public.search_lexical(text, text, text, integer, text, text, text, integer, integer, real[])
  to anon, authenticated, service_role;
