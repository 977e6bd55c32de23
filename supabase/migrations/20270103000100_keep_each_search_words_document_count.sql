-- Each search word's document count, kept by the catalog's writes instead of counted on every search (issue 12,
-- session 8).
--
-- search_lexical weighs each word of a query by how many documents hold it, and picks its full-text candidates
-- from the rarest words (docs/search.md). It counted each word's holders in each side table, up to 1,000, on
-- every search, and took the commonest words' counts from ANALYZE's lexeme statistics (migration 20270101000100).
-- The counts and the statistics were the largest part of its work: 6.7 ms of a title query's ~24 at a million
-- items, about 3 of a descriptive query's ~7.6 at 20,000 (docs/benchmarks.md, issue 12, session 8). Search
-- engines keep a term's document frequency in their index for this reason.
--
-- - public.search_word_documents: how many documents of each side table hold each lexeme of search_document.
--   Statement triggers on movie_search and book_search add what each write changes. A writer inserts its
--   changes as new rows and never updates a shared one: two catalog writers never wait for each other here, so
--   they cannot deadlock on a common word's count. Every sixteenth write, if it gets the merge lock, folds the
--   rows of the lexemes it touched into one each; the others leave theirs for a later merge (a reader sums them).
-- - search_lexical reads a word's holders from it: those of its english stem plus those of its word as written
--   (the word's query matches either), and a hyphenated word's parts as a phrase are held at most as often as
--   its rarest part. Where the two spellings differ ("rainy": "raini" in an overview, "rainy" in a cast name), a
--   document holding both counts twice; otherwise the count is the one counting gave, now exact past the
--   statistics' reach (a word deleted from most documents weighs as rare at once, not after the next ANALYZE).
-- - public.search_word_frequencies() goes: nothing reads the statistics any more.

create table public.search_word_documents (
  item_type text not null check (item_type in ('movie', 'book')),
  lexeme    text collate "C" not null,
  -- A change in the count: a lexeme's count is the sum of its rows.
  documents integer not null
);
comment on table public.search_word_documents is
  'How many documents of movie_search and book_search hold each search_document lexeme: the sum of a lexeme''s '
  'rows, added by triggers on each write (count_search_words); search_lexical weighs query words by it.';
create index search_word_documents_lexeme_idx on public.search_word_documents (lexeme, item_type) include (documents);

alter table public.search_word_documents enable row level security;
create policy search_word_documents_public_read on public.search_word_documents
  for select to anon, authenticated using (true);
grant select on public.search_word_documents to anon, authenticated;

-- Numbers the writes of the counts, so that every sixteenth merges (count_search_words).
create sequence public.search_word_documents_writes;
-- Supabase grants new sequences to its API roles by default: only the trigger (its owner's) writes this one.
revoke all on sequence public.search_word_documents_writes from public, anon, authenticated;

create function public.count_search_words() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  kind text := case tg_table_name when 'movie_search' then 'movie' else 'book' end;
  -- A word held by most documents is touched by most writes: a reader sums about this many rows of it.
  merge_every constant integer := 16;
  touched text[];
begin
  if tg_op = 'TRUNCATE' then
    delete from public.search_word_documents d where d.item_type = kind;
    return null;
  end if;

  if tg_op = 'INSERT' then
    with added as (
      insert into public.search_word_documents (item_type, lexeme, documents)
      select kind, w.lexeme, count(*)
      from new_rows r cross join unnest(tsvector_to_array(r.search_document)) as w(lexeme)
      group by w.lexeme
      returning lexeme
    )
    select array_agg(a.lexeme) into touched from added a;
  elsif tg_op = 'DELETE' then
    with removed as (
      insert into public.search_word_documents (item_type, lexeme, documents)
      select kind, w.lexeme, -count(*)
      from old_rows r cross join unnest(tsvector_to_array(r.search_document)) as w(lexeme)
      group by w.lexeme
      returning lexeme
    )
    select array_agg(a.lexeme) into touched from removed a;
  else
    -- Only the rows whose document changed (title keys are written to these rows too, leaving it as it was).
    with changed as (
      insert into public.search_word_documents (item_type, lexeme, documents)
      select kind, c.lexeme, sum(c.documents)
      from (
        select w.lexeme, 1 as documents
        from new_rows n
        left join old_rows o on o.item_id = n.item_id
        cross join lateral unnest(tsvector_to_array(n.search_document)) as w(lexeme)
        where n.search_document is distinct from o.search_document
        union all
        select w.lexeme, -1
        from old_rows o
        left join new_rows n on n.item_id = o.item_id
        cross join lateral unnest(tsvector_to_array(o.search_document)) as w(lexeme)
        where o.search_document is distinct from n.search_document
      ) c
      group by c.lexeme
      having sum(c.documents) <> 0
      returning lexeme
    )
    select array_agg(a.lexeme) into touched from changed a;
  end if;

  -- Every merge_every-th write merges the lexemes it touched into one row each: the catalog's triggers write one
  -- item per statement, and merging at every write cost an item's insert a third more time. One writer at a time
  -- merges, and only under read committed (a later snapshot sees the merge before it). The merge deletes only
  -- rows whose writers have committed, so it never waits on another writer; the rows of a writer still open
  -- stay as they are, and their sum is kept.
  if touched is not null
     and pg_catalog.nextval('public.search_word_documents_writes') % merge_every = 0
     and pg_catalog.current_setting('transaction_isolation') = 'read committed'
     and pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('public.search_word_documents')) then
    with merged as (
      delete from public.search_word_documents d
      where d.item_type = kind and d.lexeme = any(touched)
      returning d.lexeme, d.documents
    )
    insert into public.search_word_documents (item_type, lexeme, documents)
    select kind, m.lexeme, sum(m.documents)
    from merged m
    group by m.lexeme
    having sum(m.documents) <> 0;
  end if;
  return null;
end;
$$;
revoke execute on function public.count_search_words() from public;

-- Created before the counts of the rows that exist: they lock out other writers until this commits.
create trigger movie_search_count_words_inserted after insert on public.movie_search
  referencing new table as new_rows for each statement execute function public.count_search_words();
create trigger movie_search_count_words_updated after update on public.movie_search
  referencing old table as old_rows new table as new_rows
  for each statement execute function public.count_search_words();
create trigger movie_search_count_words_deleted after delete on public.movie_search
  referencing old table as old_rows for each statement execute function public.count_search_words();
create trigger movie_search_count_words_truncated after truncate on public.movie_search
  for each statement execute function public.count_search_words();
create trigger book_search_count_words_inserted after insert on public.book_search
  referencing new table as new_rows for each statement execute function public.count_search_words();
create trigger book_search_count_words_updated after update on public.book_search
  referencing old table as old_rows new table as new_rows
  for each statement execute function public.count_search_words();
create trigger book_search_count_words_deleted after delete on public.book_search
  referencing old table as old_rows for each statement execute function public.count_search_words();
create trigger book_search_count_words_truncated after truncate on public.book_search
  for each statement execute function public.count_search_words();

insert into public.search_word_documents (item_type, lexeme, documents)
select 'movie', w.lexeme, count(*)
from public.movie_search s cross join unnest(tsvector_to_array(s.search_document)) as w(lexeme)
group by w.lexeme
union all
select 'book', w.lexeme, count(*)
from public.book_search s cross join unnest(tsvector_to_array(s.search_document)) as w(lexeme)
group by w.lexeme;

drop function public.search_word_frequencies();

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
-- Every statement reads a few hundred rows or fewer through an index; parallel workers cost more to start than
-- they save, and take the CPU the embedding and the nearest-neighbour search need beside this call
-- (docs/benchmarks.md, issue 12, session 7).
set max_parallel_workers_per_gather = 0
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
  query_words text[];
  -- Each word's holders in each table (search_word_documents), uncounted past the cap.
  movie_holders integer[];
  book_holders integer[];
  -- The one word the candidates hold, when only one picks them; then its holders in the first table read.
  candidate_words integer := 0;
  candidate_word integer;
  first_table_holders integer;
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
  -- The titles a title match scores: those holding a word close to one of the query's (see above).
  title_threshold constant real := 0.5;
  -- A way with more query words than this in the vocabulary is not split into covers (2^n sets).
  title_cover_words constant integer := 10;
  title_candidate_budget constant integer := 200;
  cover_tiers constant real[] := '{0.8, 0.5}';
  too_many_title_words boolean;
  -- Each tier's covers as a tsquery (null when it has none).
  tier_queries text[];
  title_query_text text;
  title_plan_cache_mode text;
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
    -- Each word's holders in each table, kept by the catalog's writes: its english stem's plus its word as
    -- written's where they differ (its query matches either); a word that parses into several lexemes (a
    -- hyphenated one, matched as a phrase) is held at most as often as its rarest.
    select array_agg(h.movies order by h.i), array_agg(h.books order by h.i)
    into movie_holders, book_holders
    from (
      select s.i, sum(s.movies)::integer as movies, sum(s.books)::integer as books
      from (
        select p.i, min(coalesce(n.movies, 0)) as movies, min(coalesce(n.books, 0)) as books
        from (
          select distinct q.i, tsvector_to_array(to_tsvector(c.config, q.word)) as lexemes
          from unnest(query_words) with ordinality as q(word, i)
          cross join (values ('english'::regconfig), ('simple'::regconfig)) as c(config)
        ) p
        cross join lateral unnest(p.lexemes) as l(lexeme)
        cross join lateral (
          select sum(d.documents) filter (where d.item_type = 'movie') as movies,
                 sum(d.documents) filter (where d.item_type = 'book') as books
          from public.search_word_documents d
          where d.lexeme = l.lexeme
        ) n
        group by p.i, p.lexemes
      ) s
      group by s.i
    ) h;
    for i in 1 .. cardinality(word_queries) loop
      word_holders := word_holders
        || (least(movie_holders[i], word_count_cap) + least(book_holders[i], word_count_cap));
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
  -- rows, 7 ms). It is the cheaper read when at least 50,000 documents of the table read first hold the word
  -- (a table of under 50,000 rows never qualifies), and only when no filter thins the holders out further.
  -- The candidates are the same ones: the first 1,000 holders in the table's order, movies
  -- before books, as a bitmap scan that is not parallel returns them; so these statements run without
  -- parallel workers or synchronized scans (which would start the scan wherever another one is).
  if candidate_words = 1 and filter_language is null and filter_genre is null and filter_category is null
     and year_from is null and year_to is null then
    first_table_holders := case when filter_item_type in ('movie', 'all') then movie_holders[candidate_word]
                                else book_holders[candidate_word] end;
  end if;
  if coalesce(first_table_holders, 0) >= candidate_scan_margin * candidate_budget then
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

  -- A title matches when, in one of three ways (the query's key against the title's keys, the query as written
  -- against the title, the query's sound against the keys), it holds at least half of the query's trigrams
  -- (title_threshold). A title holds a query word's trigrams when it holds that word or a close one. So, word by
  -- word, a title can match only if the query words it holds close words of carry at least half of the
  -- query's trigrams: every smallest such set of words (a cover) is one AND of a tsquery over the titles'
  -- words, and the covers of the three ways are ORed. GIN answers it from the rarest words' posting lists. A
  -- word no title holds a close word of is in no cover: a descriptive query, whose words are mostly in no
  -- title, finds next to none. The titles found are scored as the full match scores every title, with the same
  -- threshold and order.
  -- A query of common words ("the love") is held by thousands of titles, and scoring them all would cost as
  -- much as the full match: at most title_candidate_budget titles of each table are scored, those holding
  -- nearly every word (80% of the trigrams) first. Only if they do not fill the page are the covers at the
  -- threshold read.
  -- Planned once per connection, as the lookups below: planning this statement costs more than running it.
  title_plan_cache_mode := pg_catalog.current_setting('plan_cache_mode');
  perform pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true);
  with query_words as materialized (
    select k.way, k.way_trigrams, k.word, k.word_trigrams,
           -- What each kind of close word is looked up by; null where that kind does not apply (below).
           case when k.neighbours is not null then array[k.word] end as missing_letter,
           k.neighbours as extra_letter,
           case when k.neighbours is not null and length(k.word) >= 5
                then array(select n from unnest(k.neighbours) as n where n like '%:%') end
             as changed,
           case when k.neighbours is not null and length(k.word) >= 5 then left(k.word, -1) end as prefix
    from (
    select t.way, cardinality(extensions.show_trgm(t.way_text)) as way_trigrams, q.word,
           cardinality(extensions.show_trgm(q.word)) as word_trigrams,
           -- Only for a word the vocabulary does not hold (looked up per word: an EXISTS would be planned as a
           -- hash of the whole vocabulary), of three letters or more.
           case when length(q.word) > 2
                     and (select count(*) = 0
                          from (select from public.title_vocabulary x where x.word = q.word limit 1) x)
                then public.spelling_neighbours(q.word) end as neighbours
    from (values (1, query_key), (2, lowered), (3, query_sound)) as t(way, way_text)
    cross join lateral (
      -- The way's words as title_words_of splits them, and two neighbouring words written as one where a
      -- title holds them so ("rangi taranga", "RangiTaranga").
      select p.word from unnest(public.title_words_of(t.way_text, null)) as p(word)
      union
      select p.word || p.next
      from (
        select s.word, lead(s.word) over (order by s.position) as next
        from regexp_split_to_table(lower(t.way_text), '[^[:alnum:]]+') with ordinality as s(word, position)
        where s.word <> ''
      ) p
      where p.next is not null and exists (select from public.title_vocabulary x where x.word = p.word || p.next)
    ) q
    where t.way_text is not null
    -- Evaluated once per word (flattened, each use of neighbours below would repeat the lookups).
    offset 0
    ) k
  ),
  close_words as (
    select w.way, w.way_trigrams, w.word, w.word_trigrams,
           -- Words are letters and digits only (title_words_of): each is a tsquery lexeme as it is.
           '(' || string_agg(quote_literal(v.word), ' | ' order by v.word) || ')' as close_words
    from query_words w
    -- A word the vocabulary holds as typed is taken as typed, as a spelling corrector leaves a word it knows.
    -- Otherwise the close words are those with a letter added or left out, and, for words of five letters or
    -- more, with a letter changed ("trusyam", "trisyam") or that begin with all of it but its last letter: a
    -- title's ending is the part spellings disagree on most ("trisi", the key of "ದೃಶ್ಯ", and "trisyam"). A word
    -- of one or two letters is only ever taken as typed: it is one letter from too many others.
    join public.title_vocabulary v
      on v.word = w.word
         or (length(v.word) > 2
             and (v.neighbours @> w.missing_letter
                  or v.word = any(w.extra_letter)
                  or v.neighbours && w.changed
                  -- The words that begin so, a range in the vocabulary's order (collate "C").
                  or (v.word >= w.prefix and v.word < w.prefix || chr(1114111))))
    group by w.way, w.way_trigrams, w.word, w.word_trigrams
  ),
  numbered as (
    select c.*, (row_number() over (partition by c.way order by c.word))::integer as bit,
           (count(*) over (partition by c.way))::integer as way_words
    from close_words c
  ),
  covers as (
    -- Each set of a way's words as a bit mask.
    select '(' || string_agg(n.close_words, ' & ' order by n.bit) || ')' as cover,
           sum(n.word_trigrams) as trigrams, min(n.word_trigrams) as smallest, min(n.way_trigrams) as way_trigrams
    from numbered n
    join generate_series(1, (1 << title_cover_words) - 1) as m(mask)
      on n.way_words <= title_cover_words and m.mask < (1 << n.way_words) and m.mask & (1 << (n.bit - 1)) <> 0
    group by n.way, m.mask
  )
  select coalesce((select max(n.way_words) from numbered n), 0) > title_cover_words,
         array(select (select string_agg(c.cover, ' | ')
                       from covers c
                       where c.trigrams >= t.tier * c.way_trigrams and c.trigrams - c.smallest < t.tier * c.way_trigrams)
               from unnest(cover_tiers) with ordinality as t(tier, position)
               order by t.position)
  into too_many_title_words, tier_queries;

  if not too_many_title_words then
    for tier in 1 .. cardinality(cover_tiers) loop
      title_query_text := tier_queries[tier];
      if title_query_text is not null then
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
          ),
          candidates as (
            (select m.item_id, 'movie'::text as item_type, m.title_keys, m.title
             from movie_filter m
             where m.title_words @@ title_query_text::tsquery
             limit title_candidate_budget)
            union all
            (select b.item_id, 'book'::text, b.title_keys, b.title
             from book_filter b
             where b.title_words @@ title_query_text::tsquery
             limit title_candidate_budget)
            union all
            -- What the tier before found.
            select t.item_id, t.item_type, coalesce(ms.title_keys, bs.title_keys), coalesce(ms.title, bs.title)
            from unnest(title_ids, title_types) as t(item_id, item_type)
            left join public.movie_search ms on t.item_type = 'movie' and ms.item_id = t.item_id
            left join public.book_search bs on t.item_type = 'book' and bs.item_id = t.item_id
          )
          select distinct on (s.similarity, c.item_id, c.item_type) c.item_id, c.item_type, s.similarity
          from candidates c
          cross join lateral (
            select extensions.word_similarity(query_key, coalesce(c.title_keys, '')) as key_similarity,
                   extensions.word_similarity(lowered, lower(c.title)) as title_similarity,
                   extensions.word_similarity(query_sound, coalesce(c.title_keys, '')) as sound_similarity
          ) v
          cross join lateral (
            select greatest(v.key_similarity, v.title_similarity, sound_discount * v.sound_similarity) as similarity
          ) s
          -- The trigram operators' condition (<%), as values: the trigram indexes must not answer it.
          where v.key_similarity >= title_threshold or v.title_similarity >= title_threshold
                or v.sound_similarity >= title_threshold
          order by s.similarity desc, c.item_id, c.item_type
          limit capped
        ) h;
      end if;
      exit when coalesce(cardinality(title_ids), 0) >= capped and title_similarities[capped] >= cover_tiers[tier];
    end loop;
    perform pg_catalog.set_config('plan_cache_mode', title_plan_cache_mode, true);
    -- The main statement takes these as they are, none among them.
    title_ids := coalesce(title_ids, '{}');
    title_types := coalesce(title_types, '{}');
    title_similarities := coalesce(title_similarities, '{}');

  else
    perform pg_catalog.set_config('plan_cache_mode', title_plan_cache_mode, true);
  end if;

  -- A way with more than title_cover_words words in the vocabulary has too many covers: its titles are matched
  -- as before.
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
  if too_many_title_words and length(query_key) <= title_tier_max_length then
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
