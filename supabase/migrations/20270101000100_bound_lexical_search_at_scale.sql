-- search_lexical at a million items: a word the statistics show in thousands of documents is not counted; one
-- common word's candidates are read in table order; a short title query looks among the closest titles first
-- (issue 12, session 6). Same signature, same rows.
--
-- Each word of a query is weighted by its rarity, and the rarest pick the full-text candidates: the function
-- counted each word's holders in each side table, up to 1,000 (word_count_cap). A GIN bitmap scan builds the
-- word's whole posting list before the limit applies, so at a million items a word held by 100,000 documents
-- cost 15-20 ms per table, and a descriptive query's five words ~100 ms of its ~230 (benchmarks.md, issue 12,
-- session 6). ANALYZE already keeps the commonest lexemes of each search_document with their frequencies
-- (pg_stats.most_common_elems, up to ten times the statistics target of them, from a sample of 300 x target
-- rows). Now a word whose frequency there puts it in at least four times the cap of one table's documents
-- (common_word_margin) takes the cap for that table without counting: the count would have stopped at the
-- cap anyway, so the rows are the same. Every other word is counted as before. The margin is for the
-- sample: at a million rows a word truly held by 1,000 would have to appear four times as often in the
-- 30,000 sampled rows as it does in the table (a twenty standard deviations error); a table sampled whole
-- (up to 30,000 rows) has exact frequencies. What it cannot know is a table emptied since its last ANALYZE
-- (autovacuum analyses a table after a tenth of its rows change).
--
-- When one word held by tens of thousands of documents picks the full-text candidates, the first 1,000 holders
-- are read from the table in order rather than from the word's whole posting list (the comment in the body says
-- when, and why they are the same candidates).
--
-- A short query's title lookup (migration 20261229000200) now tries the titles at least 0.8 similar before
-- those at 0.6 (the comment in the body says why the answer is the same).
--
-- The statistics are read through public.search_word_frequencies, security definer: pg_stats hides a table's
-- statistics from a role that row level security applies to (anon and authenticated, as PostgREST calls
-- search_lexical); the table owner sees them. It returns lexeme frequencies of the public catalog only.
create or replace function public.search_word_frequencies()
returns table (item_type text, lexemes text[], frequencies real[], document_count real)
language sql
stable
security definer
set search_path = ''
as $$
  select case c.relname when 'movie_search' then 'movie' else 'book' end,
         s.most_common_elems::text::text[],
         s.most_common_elem_freqs,
         -- Frequencies are shares of the documents that are not null.
         (c.reltuples * (1 - s.null_frac))::real
  from pg_catalog.pg_stats s
  join pg_catalog.pg_class c on c.relname = s.tablename
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace and n.nspname = s.schemaname
  where s.schemaname = 'public' and s.tablename in ('movie_search', 'book_search')
    and s.attname = 'search_document' and s.most_common_elems is not null and c.reltuples > 0;
$$;

revoke execute on function public.search_word_frequencies() from public;
grant execute on function public.search_word_frequencies() to anon, authenticated, service_role;

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
  -- A table's word is taken as held by the cap without counting when the statistics put it in this many times
  -- the cap of the table's documents (see above).
  common_word_margin constant real := 4;
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
  query_words text[];
  -- The commonest lexemes of each side table's documents and their frequencies (search_word_frequencies).
  movie_lexemes text[];
  movie_frequencies real[];
  movie_documents real := 0;
  book_lexemes text[];
  book_frequencies real[];
  book_documents real := 0;
  statistics record;
  word_lexemes text[];
  movie_share real;
  book_share real;
  -- Each word's holders in each table as the statistics put them (0 when they do not list it).
  movie_estimates real[] := '{}';
  book_estimates real[] := '{}';
  -- The one word the candidates hold, when only one picks them; then the first table's estimate.
  candidate_words integer := 0;
  candidate_word integer;
  first_table_estimate real;
  -- The full-text hits, found before the main statement by reading the table in order (see below).
  candidate_scan_margin constant real := 50;
  caller_planner_settings text[];
  text_ids bigint[];
  text_types text[];
  text_ranks real[];
  text_coverages real[];
  word_holders integer[] := '{}';
  word_weights real[] := '{}';
  catalog_size real;
  total_weight real := 0;
  held integer := 0;
  word_index integer;
  rarest integer[];
  -- A short query's title matches, found before the main statement among the closest titles (see below).
  title_tiers constant real[] := '{0.8, 0.6}';
  title_tier real;
  title_tier_max_length constant integer := 10;
  caller_plan_cache_mode text;
  title_ids bigint[];
  title_types text[];
  title_similarities real[];
begin
  select array_agg(plainto_tsquery('english', word) || plainto_tsquery('simple', word)), array_agg(word)
  into word_queries, query_words
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
    for statistics in select * from public.search_word_frequencies() loop
      if statistics.item_type = 'movie' then
        movie_lexemes := statistics.lexemes;
        movie_frequencies := statistics.frequencies;
        movie_documents := statistics.document_count;
      else
        book_lexemes := statistics.lexemes;
        book_frequencies := statistics.frequencies;
        book_documents := statistics.document_count;
      end if;
    end loop;
    for i in 1 .. cardinality(word_queries) loop
      -- The word's query holds each single lexeme it is made of (english stem or word as written): a document
      -- holding either one holds the word, so the commoner one's frequency is a floor of the word's.
      select array_agg(l.lexeme) into word_lexemes
      from (values ('english'::regconfig), ('simple'::regconfig)) as c(config)
      cross join lateral (select tsvector_to_array(to_tsvector(c.config, query_words[i])) as lexemes) v
      cross join lateral unnest(v.lexemes) as l(lexeme)
      where cardinality(v.lexemes) = 1 and numnode(plainto_tsquery(c.config, query_words[i])) = 1;
      select max(movie_frequencies[array_position(movie_lexemes, l.lexeme)]),
             max(book_frequencies[array_position(book_lexemes, l.lexeme)])
      into movie_share, book_share
      from unnest(word_lexemes) as l(lexeme);
      movie_estimates := movie_estimates || coalesce(movie_share * movie_documents, 0);
      book_estimates := book_estimates || coalesce(book_share * book_documents, 0);
      word_holders := word_holders || (
        case when coalesce(movie_share * movie_documents, 0) >= common_word_margin * word_count_cap
             then word_count_cap
             else (select count(*) from (select from public.movie_search m where m.search_document @@ word_queries[i]
                                         limit word_count_cap) as held_by_movies) end
        + case when coalesce(book_share * book_documents, 0) >= common_word_margin * word_count_cap
               then word_count_cap
               else (select count(*) from (select from public.book_search b where b.search_document @@ word_queries[i]
                                           limit word_count_cap) as held_by_books) end)::integer;
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
      candidate_words := candidate_words + 1;
      candidate_word := word_index;
    end loop;
    if held > candidate_budget and cardinality(word_queries) > 1 then
      -- Every word is common: the documents holding the two rarest together.
      select array_agg(o.i order by o.holders, o.i) into rarest
      from unnest(word_holders) with ordinality as o(holders, i);
      candidate_query := word_queries[rarest[1]] && word_queries[rarest[2]];
      candidate_words := 2;
    end if;
  end if;
  if text_query is not null and numnode(text_query) = 0 then
    text_query := null;
    candidate_query := null;
  end if;

  -- One common word picks the candidates ("thriller", held by 180,000 of a million items): the first 1,000
  -- holders are taken, but a GIN bitmap scan reads the word's whole posting list first (27 ms for that one).
  -- Reading the table in order until 1,000 documents hold the word reads about 1,000 / share of its rows (3,300
  -- rows, 7 ms). It is the cheaper read when the statistics put the word in at least 50,000 documents of the
  -- table read first (a table of under 50,000 rows never qualifies), and only when no filter thins the
  -- holders out further. The candidates are the same ones: the first 1,000 holders in the table's order, movies
  -- before books, as a bitmap scan that is not parallel returns them; so these statements run without
  -- parallel workers or synchronized scans (which would start the scan wherever another one is).
  if candidate_words = 1 and filter_language is null and filter_genre is null and filter_category is null
     and year_from is null and year_to is null then
    first_table_estimate := case when filter_item_type in ('movie', 'all') then movie_estimates[candidate_word]
                                 else book_estimates[candidate_word] end;
  end if;
  if coalesce(first_table_estimate, 0) >= candidate_scan_margin * candidate_budget then
    caller_planner_settings := array[
      pg_catalog.current_setting('enable_bitmapscan'), pg_catalog.current_setting('enable_indexscan'),
      pg_catalog.current_setting('max_parallel_workers_per_gather'),
      pg_catalog.current_setting('synchronize_seqscans')];
    perform pg_catalog.set_config('enable_seqscan', 'on', true);
    perform pg_catalog.set_config('enable_bitmapscan', 'off', true);
    perform pg_catalog.set_config('enable_indexscan', 'off', true);
    perform pg_catalog.set_config('max_parallel_workers_per_gather', '0', true);
    perform pg_catalog.set_config('synchronize_seqscans', 'off', true);
    select array_agg(t.item_id order by t.coverage desc, t.rank desc, t.item_id),
           array_agg(t.item_type order by t.coverage desc, t.rank desc, t.item_id),
           array_agg(t.rank order by t.coverage desc, t.rank desc, t.item_id),
           array_agg(t.coverage order by t.coverage desc, t.rank desc, t.item_id)
    into text_ids, text_types, text_ranks, text_coverages
    from (
      select t.item_id, t.item_type, t.rank, t.coverage from (
        select c.item_id, c.item_type, ts_rank(rank_weights, c.document, text_query, 1) as rank,
               ((select sum(w.weight) filter (where c.document @@ w.q) from unnest(word_queries, word_weights)
                   as w(q, weight)) / nullif(total_weight, 0))::real as coverage
        from (
          select m.item_id, 'movie'::text as item_type, m.search_document as document
          from public.movie_search m
          where filter_item_type in ('movie', 'all') and m.search_document @@ candidate_query
          union all
          select b.item_id, 'book'::text, b.search_document
          from public.book_search b
          where filter_item_type in ('book', 'all') and b.search_document @@ candidate_query
          limit candidate_limit
        ) c
      ) t
      order by t.coverage desc, t.rank desc, t.item_id
      limit capped
    ) t;
    perform pg_catalog.set_config('enable_seqscan', 'off', true);
    perform pg_catalog.set_config('enable_bitmapscan', caller_planner_settings[1], true);
    perform pg_catalog.set_config('enable_indexscan', caller_planner_settings[2], true);
    perform pg_catalog.set_config('max_parallel_workers_per_gather', caller_planner_settings[3], true);
    perform pg_catalog.set_config('synchronize_seqscans', caller_planner_settings[4], true);
    -- The main statement takes these hits as they are and reads no candidates.
    text_ids := coalesce(text_ids, '{}');
  end if;

  -- A short query key ("per" for "bera") reaches thousands of titles at the 0.5 threshold, each scored by three
  -- trigram similarities before the best few are kept (100 ms and more for one search on the 20,000-item
  -- catalog). The titles at least 0.6 similar are far fewer and cheaper to find: when there are as many of those
  -- as asked for, they are the best ones, since a title outside them is under 0.6 by every measure (key, title
  -- as written, sound); the main statement then takes them as they are. Otherwise it scores every title, as
  -- before. The titles at least 0.8 similar are looked up before those at 0.6, by the same argument: at a million
  -- items a short key's 0.6 lookup scored 2,000-100,000 titles (0.5-5 s), while a misspelt short title usually
  -- has ten titles 0.8 similar (the word as typed, or as it sounds), found at a third to a tenth of the cost.
  -- A key longer than ten letters has enough trigrams to reach few titles: it goes straight there
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
        where m.search_document @@ candidate_query and text_ids is null
        union all
        select b.item_id, 'book'::text, b.search_document
        from book_filter b
        where b.search_document @@ candidate_query and text_ids is null
      ) c
      limit candidate_limit
    ),
    text_hits as (
      select t.item_id, t.item_type, t.rank, t.coverage
      from unnest(text_ids, text_types, text_ranks, text_coverages) as t(item_id, item_type, rank, coverage)
      where text_ids is not null
      union all
      (select t.item_id, t.item_type, t.rank, t.coverage from (
        select c.item_id, c.item_type, ts_rank(rank_weights, c.document, text_query, 1) as rank,
               (select sum(w.weight) filter (where c.document @@ w.q) from unnest(word_queries, word_weights)
                  as w(q, weight)) / nullif(total_weight, 0) as coverage
        from text_candidates c
      ) t
      where text_ids is null
      order by t.coverage desc, t.rank desc, t.item_id
      limit capped)
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
