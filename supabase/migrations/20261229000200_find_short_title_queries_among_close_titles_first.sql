-- search_lexical: a short query's title matches from the closest titles first (issue 12, session 5).
--
-- Branch s4-j12's lookup (its migration 20261226000100, never merged), on the side tables of migration
-- 20261229000100. Same signature, same rows. A misspelt short title such as "bera" (key "per") matched 5,500
-- titles of the 20,000-item benchmark catalog, each scored before the best ten were kept: 100 ms and more for
-- one search, the title query's p99 through the handler (2.24 x 193b0a0's). Now, for a key of at most ten
-- letters, the titles at least 0.6 similar are looked up first; when they fill the page they are the answer
-- (the comment in the body says why it is the same answer). Session 4's version was taken out of main because
-- its cached generic plan scanned movies whole in one fresh CI run; here the function runs with enable_seqscan
-- off, so every statement, the lookup included, reaches the side tables' trigram indexes whatever the
-- statistics (tests/db/test_index_use.py checks it with statistics of an empty, a tiny and a large catalog).
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
-- As migration 20261229000100: the rankings go through their indexes, the lookup below included, whatever
-- the statistics say (a cached generic plan of this lookup once scanned movies whole: benchmarks.md, issue 12,
-- session 4).
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
  -- A short query's title matches, found before the main statement among the closest titles (see below).
  title_tiers constant real[] := '{0.6}';
  title_tier real;
  title_tier_max_length constant integer := 10;
  caller_plan_cache_mode text;
  title_ids bigint[];
  title_types text[];
  title_similarities real[];
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

  -- A short query key ("per" for "bera") reaches thousands of titles at the 0.5 threshold, each scored by three
  -- trigram similarities before the best few are kept (100 ms and more for one search on the 20,000-item
  -- catalog). The titles at least 0.6 similar are far fewer and cheaper to find: when there are as many of those
  -- as asked for, they are the best ones, since a title outside them is under 0.6 by every measure (key, title
  -- as written, sound); the main statement then takes them as they are. Otherwise it scores every title, as
  -- before. A key longer than ten letters has enough trigrams to reach few titles: it goes straight there
  -- (the lookup first would cost more than it saves).
  -- These statements are planned once per connection, as the main one is: planning trigram conditions costs
  -- more than running them. The function's own SET restores the similarity threshold when it returns.
  if length(query_key) <= title_tier_max_length then
    caller_plan_cache_mode := pg_catalog.current_setting('plan_cache_mode');
    perform pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true);
    foreach title_tier in array title_tiers loop
      perform pg_catalog.set_config('pg_trgm.word_similarity_threshold', title_tier::text, true);
      select array_agg(h.item_id order by h.similarity desc, h.item_id),
             array_agg(h.item_type order by h.similarity desc, h.item_id),
             array_agg(h.similarity order by h.similarity desc, h.item_id)
      into title_ids, title_types, title_similarities
      from (
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
        )
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
      ) h;
      exit when coalesce(cardinality(title_ids), 0) >= capped and title_similarities[capped] >= title_tier;
      title_ids := null;
    end loop;
    perform pg_catalog.set_config('pg_trgm.word_similarity_threshold', '0.5', true);
    perform pg_catalog.set_config('plan_cache_mode', caller_plan_cache_mode, true);
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
      select t.item_id, t.item_type, t.similarity
      from unnest(title_ids, title_types, title_similarities) as t(item_id, item_type, similarity)
      where title_ids is not null
      union all
      (select t.item_id, t.item_type, t.similarity from (
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
      where title_ids is null
      order by t.similarity desc, t.item_id
      limit capped)
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
