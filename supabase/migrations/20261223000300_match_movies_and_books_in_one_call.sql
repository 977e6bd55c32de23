-- The nearest movies and books of a search in one call (issue 12, session 3).
--
-- Search asked match_movies and then match_books: two round trips on the container's one connection, one after
-- the other, each sending the 384-float query vector and planning its query. match_items does both in one
-- statement, each kind through its own HNSW index exactly as the two functions do (same ef_search, iterative
-- scan, filters, sequential scans off: migration 20261214000300), and returns the columns search shows for any
-- hit (the shape search_lexical returns), so a hit found by meaning carries the same fields as one found by
-- its title. The kind not asked for (filter_item_type, or a genre or category filter that search turned into
-- one kind) is a constant-false branch of the custom plan and costs nothing. match_movies and match_books stay
-- for their other callers.
create function public.match_items(
  query_embedding extensions.vector(384),
  match_count integer default 10,
  filter_item_type text default 'all',
  filter_language text default null,
  filter_genre text default null,
  filter_category text default null,
  year_from integer default null,
  year_to integer default null
)
returns table (
  item_id bigint, item_type text, title text, year integer, image_url text, language text, genres text[],
  director text, overview text, authors text[], categories text[], similarity double precision
)
language plpgsql
stable
set search_path = ''
set plan_cache_mode = force_custom_plan
set hnsw.ef_search = 100
set hnsw.iterative_scan = 'relaxed_order'
set enable_seqscan = off
as $$
declare
  capped integer := least(greatest(match_count, 1), 200);
begin
  return query
    with nearest_movies as materialized (
      select m.item_id, m.embedding operator(extensions.<=>) query_embedding as distance
      from public.movies m
      where filter_item_type in ('movie', 'all')
        and (filter_language is null or m.original_language = filter_language)
        and (filter_genre is null or m.genres @> array[filter_genre])
        and (year_from is null or m.release_year >= year_from)
        and (year_to is null or m.release_year <= year_to)
      order by m.embedding operator(extensions.<=>) query_embedding
      limit capped
    ),
    nearest_books as materialized (
      select b.item_id, b.embedding operator(extensions.<=>) query_embedding as distance
      from public.books b
      where filter_item_type in ('book', 'all')
        and (filter_language is null or b.language = filter_language)
        and (filter_category is null or b.categories @> array[filter_category])
        and (year_from is null or b.published_year >= year_from)
        and (year_to is null or b.published_year <= year_to)
      order by b.embedding operator(extensions.<=>) query_embedding
      limit capped
    )
    select h.item_id, h.item_type, h.title, h.year, h.image_url, h.language, h.genres, h.director, h.overview,
           h.authors, h.categories, h.similarity
    from (
      select m.item_id, 'movie'::text as item_type, m.title, m.release_year as year, m.poster_url as image_url,
             m.original_language as language, m.genres, m.director, m.overview, null::text[] as authors,
             null::text[] as categories, 1 - n.distance as similarity, 0 as kind_order
      from nearest_movies n
      join public.movies m on m.item_id = n.item_id
      union all
      select b.item_id, 'book'::text, b.title, b.published_year, b.thumbnail_url, b.language, null::text[],
             null::text, b.description, b.authors, b.categories, 1 - n.distance, 1
      from nearest_books n
      join public.books b on b.item_id = n.item_id
    ) h
    order by h.kind_order, h.similarity desc, h.item_id;
end;
$$;

revoke execute on function public.match_items(extensions.vector, integer, text, text, text, text, integer, integer)
  from public;
grant execute on function public.match_items(extensions.vector, integer, text, text, text, text, integer, integer)
  to anon, authenticated, service_role;
