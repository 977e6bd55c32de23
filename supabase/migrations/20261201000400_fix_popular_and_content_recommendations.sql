-- Issue 9: "popular" means most rated, not best rated. Measured on MovieLens (per-user 80/20 split,
-- ratings >= 4 relevant) ranking by a damped mean scored NDCG@10 0.090 against 0.171 for the rating count;
-- the damped mean now only breaks ties (and orders what nobody here has rated yet, by the source's votes).
-- score = rating_count + damped mean / 10: ordered like (count, damped mean), higher is better.
create or replace function public.get_popular_items(
  filter_item_type text default 'all',
  result_limit integer default 20,
  exclude_user_id uuid default null,
  prior_weight integer default 10,
  recent_days integer default 30
)
returns table (
  item_id bigint, item_type text, title text, year integer, image_url text, rating_count bigint,
  average_rating double precision, recent_count bigint, score double precision
)
language sql
stable
set search_path = ''
as $$
  with ranked as (
    select i.id, i.item_type,
           coalesce(m.title, b.title) as title,
           coalesce(m.release_year, b.published_year) as year,
           coalesce(m.poster_url, b.thumbnail_url) as image_url,
           coalesce(s.rating_count, 0)::bigint as n,
           (s.rating_sum / nullif(s.rating_count, 0))::double precision as mean,
           (prior_weight
              * ((25 * 3.0 + coalesce(m.vote_count, b.ratings_count, 0)
                             * coalesce(m.vote_average / 2, b.average_rating, 3.0))
                 / (25 + coalesce(m.vote_count, b.ratings_count, 0)))
            + coalesce(s.rating_sum, 0))::double precision
           / (prior_weight + coalesce(s.rating_count, 0)) as damped
    from public.items i
    left join public.movies m on m.item_id = i.id
    left join public.books b on b.item_id = i.id
    left join public.item_rating_stats s on s.item_id = i.id
    where (filter_item_type = 'all' or i.item_type = filter_item_type)
      and (exclude_user_id is null or not exists (
            select 1 from public.ratings own where own.user_id = exclude_user_id and own.item_id = i.id))
    order by coalesce(s.rating_count, 0) desc, damped desc, i.id
    limit least(greatest(result_limit, 1), 100)
  )
  select r.id, r.item_type, r.title, r.year, r.image_url, r.n, r.mean,
         (select count(*) from public.ratings x
           where x.item_id = r.id and x.updated_at > now() - make_interval(days => recent_days))
         + (select count(*) from public.interactions x
             where x.item_id = r.id and x.created_at > now() - make_interval(days => recent_days)),
         r.n + r.damped / 10
  from ranked r
  order by r.n desc, r.damped desc, r.id;
$$;
create index if not exists item_rating_stats_count_idx on public.item_rating_stats (rating_count desc, item_id);

-- Content-based, repaired: ties broken by item id, one entry per title (the catalog can hold two of one
-- film), titles the user rated left out, and a user with no rating >= min_rating is read from their own
-- best ratings instead of getting nothing.
create or replace function public.get_content_recommendations(
  target_user_id uuid,
  filter_item_type text default 'all',
  result_limit integer default 20,
  min_rating numeric default 4.0
)
returns table (
  item_id bigint, item_type text, title text, year integer, image_url text, similarity double precision,
  because_item_id bigint, because_title text, because_rating numeric
)
language plpgsql
stable
set search_path = ''
set plan_cache_mode = force_custom_plan
set hnsw.ef_search = 100
set hnsw.iterative_scan = 'relaxed_order'
as $$
declare
  profile extensions.vector(384);
  wanted integer := least(greatest(result_limit, 1), 100);
  -- Room for the duplicates and rated titles dropped below.
  fetched integer := least(greatest(result_limit, 1), 100) * 2 + 10;
  liked_from numeric;
begin
  select case when max(r.rating) >= min_rating then min_rating else max(r.rating) end into liked_from
  from public.ratings r where r.user_id = target_user_id;

  if liked_from is null then
    return;
  end if;

  select extensions.avg(liked.embedding) into profile
  from (
    select coalesce(m.embedding, b.embedding) as embedding
    from public.ratings r
    left join public.movies m on m.item_id = r.item_id
    left join public.books b on b.item_id = r.item_id
    where r.user_id = target_user_id and r.rating >= liked_from
  ) liked
  where liked.embedding is not null;

  if profile is null then
    return;
  end if;

  return query
    with candidates as materialized (
      (select m.item_id, 'movie'::text as item_type, m.embedding,
              m.embedding operator(extensions.<=>) profile as distance
       from public.movies m
       where filter_item_type in ('movie', 'all')
         and not exists (select 1 from public.ratings r where r.user_id = target_user_id and r.item_id = m.item_id)
       order by m.embedding operator(extensions.<=>) profile
       limit fetched)
      union all
      (select b.item_id, 'book'::text, b.embedding, b.embedding operator(extensions.<=>) profile
       from public.books b
       where filter_item_type in ('book', 'all')
         and not exists (select 1 from public.ratings r where r.user_id = target_user_id and r.item_id = b.item_id)
       order by b.embedding operator(extensions.<=>) profile
       limit fetched)
    ),
    rated_titles as (
      select i.item_type, lower(coalesce(rm.title, rb.title)) as title_key,
             coalesce(rm.release_year, rb.published_year) as year
      from public.ratings r
      join public.items i on i.id = r.item_id
      left join public.movies rm on rm.item_id = r.item_id
      left join public.books rb on rb.item_id = r.item_id
      where r.user_id = target_user_id
    ),
    described as (
      select c.item_id, c.item_type, c.embedding, c.distance, coalesce(m.title, b.title) as title,
             coalesce(m.release_year, b.published_year) as year,
             coalesce(m.poster_url, b.thumbnail_url) as image_url,
             row_number() over (
               partition by c.item_type, lower(coalesce(m.title, b.title)), coalesce(m.release_year, b.published_year)
               order by c.distance, c.item_id
             ) as copy
      from candidates c
      left join public.movies m on m.item_id = c.item_id
      left join public.books b on b.item_id = c.item_id
      where c.distance is not null
    ),
    best as (
      select d.* from described d
      where d.copy = 1
        and not exists (
          select 1 from rated_titles t
          where t.item_type = d.item_type and t.title_key = lower(d.title) and t.year is not distinct from d.year
        )
      order by d.distance, d.item_id
      limit wanted
    )
    select c.item_id, c.item_type, c.title, c.year, c.image_url, 1 - c.distance,
           because.item_id, because.title, because.rating
    from best c
    cross join lateral (
      select r.item_id, coalesce(lm.title, lb.title) as title, r.rating
      from public.ratings r
      left join public.movies lm on lm.item_id = r.item_id
      left join public.books lb on lb.item_id = r.item_id
      where r.user_id = target_user_id and r.rating >= liked_from
        and coalesce(lm.embedding, lb.embedding) is not null
      order by coalesce(lm.embedding, lb.embedding) operator(extensions.<=>) c.embedding, r.item_id
      limit 1
    ) because
    order by c.distance, c.item_id;
end;
$$;

-- The Pearson user-kNN lost to the trained model everywhere it was measured (NDCG@10 0.048 against
-- EASE's 0.37 on MovieLens, and it ranks by a clamped predicted rating): removed.
drop function public.get_collaborative_recommendations(uuid, text, integer, integer, integer, integer);
