-- Popularity ranked by a damped (Bayesian) average: (prior_weight * prior + sum of our ratings) /
-- (prior_weight + number of our ratings), so one 5-star rating cannot top the list. Each item's prior is the
-- source's own vote average (TMDB, Google Books) on a 0-5 scale, itself damped towards 3.0 by its vote
-- count: our users' ratings update what the world thinks, and an item nobody rated here keeps that prior.
-- Counts come from item_rating_stats (one row per item), not from aggregating every rating per call.
-- Recent activity (ratings and interactions in the last `recent_days`) is counted only for the rows
-- returned: it explains an item ("popular this month"), it does not rank it.
create function public.get_popular_items(
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
           / (prior_weight + coalesce(s.rating_count, 0)) as score
    from public.items i
    left join public.movies m on m.item_id = i.id
    left join public.books b on b.item_id = i.id
    left join public.item_rating_stats s on s.item_id = i.id
    where (filter_item_type = 'all' or i.item_type = filter_item_type)
      and (exclude_user_id is null or not exists (
            select 1 from public.ratings own where own.user_id = exclude_user_id and own.item_id = i.id))
    order by score desc, i.id
    limit least(greatest(result_limit, 1), 100)
  )
  select r.id, r.item_type, r.title, r.year, r.image_url, r.n, r.mean,
         (select count(*) from public.ratings x
           where x.item_id = r.id and x.updated_at > now() - make_interval(days => recent_days))
         + (select count(*) from public.interactions x
             where x.item_id = r.id and x.created_at > now() - make_interval(days => recent_days)),
         r.score
  from ranked r
  order by r.score desc, r.id;
$$;

-- User-based collaborative filtering. Neighbours: users whose ratings correlate positively (Pearson, over at
-- least `min_overlap` co-rated items) with the target user's. Prediction (Resnick): the target's mean plus the
-- similarity-weighted mean of the neighbours' deviations from their own means. Items the user rated never
-- appear; an item needs `min_support` neighbours' ratings to be predicted at all.
create function public.get_collaborative_recommendations(
  target_user_id uuid,
  filter_item_type text default 'all',
  result_limit integer default 20,
  min_overlap integer default 3,
  neighbour_limit integer default 50,
  min_support integer default 2
)
returns table (
  item_id bigint, item_type text, title text, year integer, image_url text,
  predicted_rating double precision, neighbour_count bigint, score double precision
)
language sql
stable
set search_path = ''
as $$
  with target as (
    select r.item_id, r.rating::double precision as rating
    from public.ratings r where r.user_id = target_user_id
  ),
  target_mean as (select avg(t.rating) as mean from target t),
  neighbours as (
    select r.user_id, corr(t.rating, r.rating::double precision) as similarity
    from public.ratings r
    join target t on t.item_id = r.item_id
    where r.user_id <> target_user_id
    group by r.user_id
    having count(*) >= min_overlap
  ),
  top_neighbours as (
    select n.user_id, n.similarity
    from neighbours n
    where n.similarity > 0
    order by n.similarity desc, n.user_id
    limit least(greatest(neighbour_limit, 1), 200)
  ),
  neighbour_means as (
    select r.user_id, avg(r.rating)::double precision as mean
    from public.ratings r join top_neighbours tn on tn.user_id = r.user_id
    group by r.user_id
  ),
  predictions as (
    select r.item_id,
           sum(tn.similarity * (r.rating - nm.mean)) / sum(tn.similarity) as deviation,
           count(*) as support
    from public.ratings r
    join top_neighbours tn on tn.user_id = r.user_id
    join neighbour_means nm on nm.user_id = r.user_id
    where not exists (select 1 from target t where t.item_id = r.item_id)
    group by r.item_id
    having count(*) >= min_support
  )
  select p.item_id, i.item_type, coalesce(m.title, b.title),
         coalesce(m.release_year, b.published_year),
         coalesce(m.poster_url, b.thumbnail_url),
         least(5.0, greatest(0.5, tm.mean + p.deviation)), p.support,
         -- Rank by the prediction, nudged up by support so a one-neighbour guess does not win ties.
         least(5.0, greatest(0.5, tm.mean + p.deviation)) + ln(p.support) / 10
  from predictions p
  cross join target_mean tm
  join public.items i on i.id = p.item_id
  left join public.movies m on m.item_id = p.item_id
  left join public.books b on b.item_id = p.item_id
  where filter_item_type = 'all' or i.item_type = filter_item_type
  order by 8 desc, p.item_id
  limit least(greatest(result_limit, 1), 100);
$$;

-- Content-based: items nearest to the mean embedding of what the user rated at least `min_rating`, with the
-- liked item nearest to each one, so the reason shown can say "because you rated X 4.5".
create function public.get_content_recommendations(
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
begin
  select extensions.avg(liked.embedding) into profile
  from (
    select coalesce(m.embedding, b.embedding) as embedding
    from public.ratings r
    left join public.movies m on m.item_id = r.item_id
    left join public.books b on b.item_id = r.item_id
    where r.user_id = target_user_id and r.rating >= min_rating
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
       limit wanted)
      union all
      (select b.item_id, 'book'::text, b.embedding, b.embedding operator(extensions.<=>) profile
       from public.books b
       where filter_item_type in ('book', 'all')
         and not exists (select 1 from public.ratings r where r.user_id = target_user_id and r.item_id = b.item_id)
       order by b.embedding operator(extensions.<=>) profile
       limit wanted)
    ),
    best as (
      select c.* from candidates c where c.distance is not null order by c.distance limit wanted
    )
    select c.item_id, c.item_type, coalesce(m.title, b.title),
           coalesce(m.release_year, b.published_year),
           coalesce(m.poster_url, b.thumbnail_url), 1 - c.distance,
           because.item_id, because.title, because.rating
    from best c
    left join public.movies m on m.item_id = c.item_id
    left join public.books b on b.item_id = c.item_id
    cross join lateral (
      select r.item_id, coalesce(lm.title, lb.title) as title, r.rating
      from public.ratings r
      left join public.movies lm on lm.item_id = r.item_id
      left join public.books lb on lb.item_id = r.item_id
      where r.user_id = target_user_id and r.rating >= min_rating
        and coalesce(lm.embedding, lb.embedding) is not null
      order by coalesce(lm.embedding, lb.embedding) operator(extensions.<=>) c.embedding
      limit 1
    ) because
    order by c.distance;
end;
$$;
