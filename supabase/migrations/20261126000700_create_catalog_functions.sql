create function public.get_movie(target_movie_id bigint)
returns table (
  id bigint, tmdb_id integer, title text, original_title text, overview text, release_date date,
  year integer, original_language text, genres text[], director text, cast_members jsonb, crew jsonb,
  runtime integer, popularity double precision, vote_average double precision, vote_count integer,
  poster_url text, is_demo boolean, created_at timestamptz, updated_at timestamptz
)
language sql
stable
set search_path = ''
as $$
  select m.item_id, m.tmdb_id, m.title, m.original_title, m.overview, m.release_date,
         m.release_year, m.original_language, m.genres, m.director,
         m.cast_members, m.crew, m.runtime, m.popularity, m.vote_average, m.vote_count, m.poster_url,
         i.is_demo, m.created_at, m.updated_at
  from public.movies m
  join public.items i on i.id = m.item_id
  where m.item_id = target_movie_id;
$$;

create function public.get_book(target_book_id bigint)
returns table (
  id bigint, google_id text, title text, subtitle text, authors text[], description text, categories text[],
  published_date text, year integer, language text, page_count integer, isbn_10 text, isbn_13 text,
  thumbnail_url text, publisher text, average_rating double precision, ratings_count integer,
  is_demo boolean, created_at timestamptz, updated_at timestamptz
)
language sql
stable
set search_path = ''
as $$
  select b.item_id, b.google_id, b.title, b.subtitle, b.authors, b.description, b.categories,
         b.published_date, b.published_year, b.language, b.page_count, b.isbn_10, b.isbn_13,
         b.thumbnail_url, b.publisher, b.average_rating, b.ratings_count, i.is_demo, b.created_at, b.updated_at
  from public.books b
  join public.items i on i.id = b.item_id
  where b.item_id = target_book_id;
$$;

create function public.list_movies(
  filter_language text default null,
  filter_genre text default null,
  year_from integer default null,
  year_to integer default null,
  page_limit integer default 20,
  page_offset integer default 0
)
returns table (
  id bigint, title text, year integer, original_language text, genres text[], director text,
  poster_url text, vote_average double precision, popularity double precision, total_count bigint
)
language sql
stable
set search_path = ''
as $$
  select m.item_id, m.title, m.release_year, m.original_language, m.genres,
         m.director, m.poster_url, m.vote_average, m.popularity, count(*) over ()
  from public.movies m
  where (filter_language is null or m.original_language = filter_language)
    and (filter_genre is null or m.genres @> array[filter_genre])
    and (year_from is null or m.release_year >= year_from)
    and (year_to is null or m.release_year <= year_to)
  order by m.popularity desc nulls last, m.item_id
  limit least(greatest(page_limit, 1), 100)
  offset greatest(page_offset, 0);
$$;

create function public.list_books(
  filter_language text default null,
  filter_category text default null,
  year_from integer default null,
  year_to integer default null,
  page_limit integer default 20,
  page_offset integer default 0
)
returns table (
  id bigint, title text, authors text[], year integer, language text, categories text[],
  thumbnail_url text, average_rating double precision, total_count bigint
)
language sql
stable
set search_path = ''
as $$
  select b.item_id, b.title, b.authors, b.published_year, b.language, b.categories, b.thumbnail_url,
         b.average_rating, count(*) over ()
  from public.books b
  where (filter_language is null or b.language = filter_language)
    and (filter_category is null or b.categories @> array[filter_category])
    and (year_from is null or b.published_year >= year_from)
    and (year_to is null or b.published_year <= year_to)
  order by b.ratings_count desc nulls last, b.item_id
  limit least(greatest(page_limit, 1), 100)
  offset greatest(page_offset, 0);
$$;

-- Vector search. Order by the distance itself (`<=>`), never by `1 - distance`, or the HNSW index is not
-- used. Filters make a plain HNSW scan return too few rows, so iterative scans are on; relaxed order is
-- re-sorted by the outer query. The SET clauses apply because a PostgREST client cannot issue SET first.
-- plpgsql with force_custom_plan, not `language sql`: a body planned generically (the LIMIT unknown) makes
-- the planner prefer a sequential scan and sort; planned with the caller's values it takes the index.
create function public.match_movies(
  query_embedding extensions.vector(384),
  match_threshold double precision default 0.0,
  match_count integer default 10,
  filter_language text default null,
  filter_genre text default null,
  year_from integer default null,
  year_to integer default null
)
returns table (
  id bigint, title text, year integer, original_language text, genres text[], director text,
  overview text, poster_url text, vote_average double precision, similarity double precision
)
language plpgsql
stable
set search_path = ''
set plan_cache_mode = force_custom_plan
set hnsw.ef_search = 100
set hnsw.iterative_scan = 'relaxed_order'
as $$
begin
  return query
    with nearest as materialized (
      select m.item_id, m.embedding operator(extensions.<=>) query_embedding as distance
      from public.movies m
      where (filter_language is null or m.original_language = filter_language)
        and (filter_genre is null or m.genres @> array[filter_genre])
        and (year_from is null or m.release_year >= year_from)
        and (year_to is null or m.release_year <= year_to)
      order by m.embedding operator(extensions.<=>) query_embedding
      limit least(greatest(match_count, 1), 200)
    )
    select m.item_id, m.title, m.release_year, m.original_language, m.genres,
           m.director, m.overview, m.poster_url, m.vote_average, 1 - n.distance
    from nearest n
    join public.movies m on m.item_id = n.item_id
    where 1 - n.distance >= match_threshold
    order by n.distance;
end;
$$;

create function public.match_books(
  query_embedding extensions.vector(384),
  match_threshold double precision default 0.0,
  match_count integer default 10,
  filter_language text default null,
  filter_category text default null,
  year_from integer default null,
  year_to integer default null
)
returns table (
  id bigint, title text, authors text[], year integer, language text, categories text[],
  description text, thumbnail_url text, similarity double precision
)
language plpgsql
stable
set search_path = ''
set plan_cache_mode = force_custom_plan
set hnsw.ef_search = 100
set hnsw.iterative_scan = 'relaxed_order'
as $$
begin
  return query
    with nearest as materialized (
      select b.item_id, b.embedding operator(extensions.<=>) query_embedding as distance
      from public.books b
      where (filter_language is null or b.language = filter_language)
        and (filter_category is null or b.categories @> array[filter_category])
        and (year_from is null or b.published_year >= year_from)
        and (year_to is null or b.published_year <= year_to)
      order by b.embedding operator(extensions.<=>) query_embedding
      limit least(greatest(match_count, 1), 200)
    )
    select b.item_id, b.title, b.authors, b.published_year, b.language, b.categories, b.description,
           b.thumbnail_url, 1 - n.distance
    from nearest n
    join public.books b on b.item_id = n.item_id
    where 1 - n.distance >= match_threshold
    order by n.distance;
end;
$$;

-- Lexical title match for queries that are titles, misspelt ones included: trigram word similarity
-- ("bahubali" is close to the word "baahubali" inside "Baahubali: The Beginning"). The filters are those of
-- match_movies and match_books: genre applies to movies, category to books, language and years to both.
create function public.search_titles(
  search_query text,
  filter_item_type text default 'all',
  match_count integer default 10,
  filter_language text default null,
  filter_genre text default null,
  filter_category text default null,
  year_from integer default null,
  year_to integer default null
)
returns table (
  item_id bigint, item_type text, title text, year integer, image_url text, title_similarity real
)
language plpgsql
stable
set search_path = ''
set plan_cache_mode = force_custom_plan
set pg_trgm.word_similarity_threshold = 0.5
as $$
begin
  return query
    select * from (
      select m.item_id, 'movie'::text, m.title, m.release_year, m.poster_url,
             greatest(extensions.word_similarity(lower(search_query), lower(m.title)),
                      extensions.word_similarity(lower(search_query), lower(coalesce(m.original_title, ''))))
      from public.movies m
      where filter_item_type in ('movie', 'all')
        and (lower(search_query) operator(extensions.<%) lower(m.title)
             or lower(search_query) operator(extensions.<%) lower(m.original_title))
        and (filter_language is null or m.original_language = filter_language)
        and (filter_genre is null or m.genres @> array[filter_genre])
        and (year_from is null or m.release_year >= year_from)
        and (year_to is null or m.release_year <= year_to)
      union all
      select b.item_id, 'book'::text, b.title, b.published_year, b.thumbnail_url,
             extensions.word_similarity(lower(search_query), lower(b.title))
      from public.books b
      where filter_item_type in ('book', 'all')
        and lower(search_query) operator(extensions.<%) lower(b.title)
        and (filter_language is null or b.language = filter_language)
        and (filter_category is null or b.categories @> array[filter_category])
        and (year_from is null or b.published_year >= year_from)
        and (year_to is null or b.published_year <= year_to)
    ) as matches (item_id, item_type, title, year, image_url, title_similarity)
    order by matches.title_similarity desc, matches.item_id
    limit least(greatest(match_count, 1), 50);
end;
$$;

-- Items of a target type nearest to one item's stored embedding: "more like this", across movies and books.
create function public.get_similar_items(
  source_item_id bigint,
  target_item_type text default 'movie',
  match_count integer default 10
)
returns table (
  item_id bigint, item_type text, title text, year integer, image_url text, similarity double precision
)
language plpgsql
stable
set search_path = ''
set plan_cache_mode = force_custom_plan
set hnsw.ef_search = 100
set hnsw.iterative_scan = 'relaxed_order'
as $$
declare
  source_embedding extensions.vector(384);
begin
  select coalesce(m.embedding, b.embedding) into source_embedding
  from public.items i
  left join public.movies m on m.item_id = i.id
  left join public.books b on b.item_id = i.id
  where i.id = source_item_id;
  if not found then
    raise exception using errcode = 'P0002', message = 'item not found';
  end if;
  if target_item_type not in ('movie', 'book') then
    raise exception using errcode = '22023', message = 'target_item_type must be movie or book';
  end if;
  if source_embedding is null then
    return;  -- not embedded yet: nothing can be said to be similar
  end if;

  if target_item_type = 'movie' then
    return query
      with nearest as materialized (
        select m.item_id, m.embedding operator(extensions.<=>) source_embedding as distance
        from public.movies m
        where m.item_id <> source_item_id
        order by m.embedding operator(extensions.<=>) source_embedding
        limit least(greatest(match_count, 1), 100)
      )
      select m.item_id, 'movie'::text, m.title, m.release_year, m.poster_url,
             1 - n.distance
      from nearest n join public.movies m on m.item_id = n.item_id
      order by n.distance;
  else
    return query
      with nearest as materialized (
        select b.item_id, b.embedding operator(extensions.<=>) source_embedding as distance
        from public.books b
        where b.item_id <> source_item_id
        order by b.embedding operator(extensions.<=>) source_embedding
        limit least(greatest(match_count, 1), 100)
      )
      select b.item_id, 'book'::text, b.title, b.published_year, b.thumbnail_url, 1 - n.distance
      from nearest n join public.books b on b.item_id = n.item_id
      order by n.distance;
  end if;
end;
$$;

create function public.health()
returns table (
  movies bigint, books bigint, embedded_movies bigint, embedded_books bigint, schema_version text
)
language sql
stable
set search_path = ''
as $$
  select (select count(*) from public.movies),
         (select count(*) from public.books),
         (select count(*) from public.movies where embedding is not null),
         (select count(*) from public.books where embedding is not null),
         (select max(version) from supabase_migrations.schema_migrations);
$$;
