-- New releases for users the trained model serves (issue 9, session 3). The model only speaks for items
-- that had ratings when it was trained, so a title nobody has rated yet could never reach a user whose list
-- the model fills. This function finds such titles by content: the items the ACTIVE model does not know (no
-- row in item_biases for its version: every item with a training rating has one) nearest to the mean
-- embedding of what the user liked (rated >= min_rating, else their best-rated items, as
-- get_content_recommendations reads them), at least min_similarity close, never one they rated, one entry
-- per title. The hybrid gives them a bounded slot in the model's list (docs/recommendations.md).
-- Empty when no model is active: then the whole list is content-based anyway.

create or replace function public.get_new_item_recommendations(
  target_user_id uuid,
  filter_item_type text default 'all',
  result_limit integer default 3,
  min_rating numeric default 4.0,
  min_similarity double precision default 0.5
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
-- The filter (not known to the model) drops most of what the index returns first: keep scanning, but only
-- so far (a catalog the model knows almost whole would otherwise be read through).
set hnsw.iterative_scan = 'relaxed_order'
set hnsw.max_scan_tuples = 5000
as $$
declare
  active_version bigint;
  profile extensions.vector(384);
  wanted integer := least(greatest(result_limit, 1), 20);
  fetched integer := least(greatest(result_limit, 1), 20) * 2 + 10;
  liked_from numeric;
begin
  select a.model_version into active_version from public.recommender_active a;
  if active_version is null then
    return;
  end if;

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
         and not exists (select 1 from public.item_biases ib
                         where ib.model_version = active_version and ib.item_id = m.item_id)
         and not exists (select 1 from public.ratings r where r.user_id = target_user_id and r.item_id = m.item_id)
       order by m.embedding operator(extensions.<=>) profile
       limit fetched)
      union all
      (select b.item_id, 'book'::text, b.embedding, b.embedding operator(extensions.<=>) profile
       from public.books b
       where filter_item_type in ('book', 'all')
         and not exists (select 1 from public.item_biases ib
                         where ib.model_version = active_version and ib.item_id = b.item_id)
         and not exists (select 1 from public.ratings r where r.user_id = target_user_id and r.item_id = b.item_id)
       order by b.embedding operator(extensions.<=>) profile
       limit fetched)
    ),
    close_enough as (
      select c.* from candidates c where c.distance is not null and 1 - c.distance >= min_similarity
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
      from close_enough c
      left join public.movies m on m.item_id = c.item_id
      left join public.books b on b.item_id = c.item_id
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

revoke execute on function public.get_new_item_recommendations(uuid, text, integer, numeric, double precision)
  from public, anon, authenticated;
grant execute on function public.get_new_item_recommendations(uuid, text, integer, numeric, double precision)
  to service_role;
