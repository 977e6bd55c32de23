-- search_lexical, bounded and widened (issue 12, session 2).
--
-- Bounded: the full-text ranking used to rank every document holding any word of the query (an OR query),
-- and to count the whole catalog and every word's holders on each call; at a million items that is most of
-- the catalog for a query with one common word. Now a word's holders are counted only up to
-- word_count_cap (its weight stops growing there: a word in that many documents says little anyway), the
-- catalog size is the planner's row estimate, and only documents holding the query's rarer words are ranked:
-- words are taken rarest first while their holders add up to at most candidate_budget, and a query whose
-- every word is common ranks the documents holding its two rarest words together (at most candidate_budget
-- of them). A document holding only common words would have ranked low anyway: the ranking orders by the
-- share of the query's rarity-weighted words a document holds.
--
-- Planned once per connection: the session-1 function re-planned its query on every call
-- (plan_cache_mode = force_custom_plan), which took longer than running it (planning the trigram and
-- full-text index conditions: about 3 ms of a 4 ms call at 20,000 items). The generic plan still reaches
-- every ranking through its index, filters or not (tests/db/test_index_use.py).
--
-- Widened: query_sound (cinelibre.text.sound_key of a query with no Latin letters) is matched against the
-- sounds stored in title_keys, so an English title typed phonetically in an Indian script finds its item;
-- and the query's key is matched against people_keys (migration 20261214000100): people_similarity is the
-- trigram word similarity of the query to an item's director, cast or authors.
drop function if exists public.search_lexical(text, text, text, integer, text, text, text, integer, integer, real[]);

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
        (select count(*) from (select from public.movies m where m.search_document @@ word_queries[i]
                               limit word_count_cap) as held_by_movies)
        + (select count(*) from (select from public.books b where b.search_document @@ word_queries[i]
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
              from unnest(string_to_array(coalesce(m.title_keys, b.title_keys, ''), ' / ')) as key),
             extensions.similarity(lowered, lower(coalesce(m.title, b.title))))::real end,
           h.rank::real, h.coverage::real, h.people_similarity::real
    from hits h
    left join public.movies m on h.item_type = 'movie' and m.item_id = h.item_id
    left join public.books b on h.item_type = 'book' and b.item_id = h.item_id;
end;
$$;

revoke execute on function public.search_lexical(text, text, text, integer, text, text, text, integer, integer, real[], text, text)
  from public;
grant execute on function public.search_lexical(text, text, text, integer, text, text, text, integer, integer, real[], text, text)
  to anon, authenticated, service_role;
