-- Serving latency for heavy users (issue 9, session 4). Same signature, same result (items, order, scores,
-- predicted ratings and reasons) as 20261221000200's get_model_recommendations; only the work changes. A user
-- with 2,000 rated items made that function unnest every rated item's 200-entry list into one materialised
-- CTE of ~400,000 (rated item, neighbour) rows, each joined to item_biases for a residual. That CTE spilled
-- past work_mem to temporary files, was aggregated for the scores, and was scanned whole again for the ten
-- shown items' predicted ratings and reasons. Now:
-- * the scores are summed straight from the lists of the items that lift (liked and neutral ratings; a
--   disliked rating's signal is 0 and lifts nothing), without keeping the pairs and without a residual;
-- * the predicted rating's neighbourhood term and the reasons are computed for the shown items only, from
--   item_neighbours, the rows the lists are built from. The shown items are collected first and passed on as
--   constants, so the planner sees how many lists each is in (a popular item can be in thousands) and picks
--   primary-key probes or the neighbour index accordingly.
-- Summing in another order can change a score's last bits (measured: at most 9e-16 on MovieLens); every
-- MovieLens user's list was checked identical against the previous function (bench/compare_model_recommendations.py).

create or replace function public.get_model_recommendations(
  target_user_id uuid,
  filter_item_type text default 'all',
  result_limit integer default 20
)
returns table (
  item_id bigint, item_type text, title text, year integer, image_url text, score double precision,
  predicted_rating double precision, because_item_ids bigint[], because_titles text[], model_version bigint,
  algorithm text
)
language plpgsql
stable
set search_path = ''
set plan_cache_mode = force_custom_plan
as $$
declare
  active public.recommender_models;
  user_bias double precision;
  wanted integer := least(greatest(result_limit, 1), 100);
  -- The shown items, kept between the two statements below.
  top_ids bigint[];
  top_types text[];
  top_titles text[];
  top_years integer[];
  top_images text[];
  top_scores double precision[];
begin
  select m.* into active
  from public.recommender_active a
  join public.recommender_models m on m.version = a.model_version;
  if not found then
    return;
  end if;

  select coalesce(sum(r.rating::double precision - active.global_mean - coalesce(ib.bias, 0)), 0)
         / (active.user_reg + count(*))
    into user_bias
  from public.ratings r
  left join public.item_biases ib on ib.model_version = active.version and ib.item_id = r.item_id
  where r.user_id = target_user_id;

  with rated as materialized (
      select r.item_id from public.ratings r where r.user_id = target_user_id
    ),
    recent as materialized (
      select r.item_id, r.rating::double precision as rating,
             case when r.rating >= active.liked_rating then 1.0
                  when r.rating >= active.neutral_rating then active.neutral_weight
                  else 0.0 end as signal
      from public.ratings r
      where r.user_id = target_user_id
      order by r.updated_at desc, r.item_id
      limit 2000
    ),
    lifted as (
      select re.signal, unnest(l.neighbour_ids) as neighbour_id, unnest(l.weights) as weight
      from recent re
      join public.item_neighbour_lists l on l.model_version = active.version and l.item_id = re.item_id
      where re.signal <> 0
    ),
    scored as (
      select c.neighbour_id as item_id, sum(c.signal * c.weight) as score
      from lifted c
      group by c.neighbour_id
      having sum(c.signal * c.weight) > 0
    ),
    shortlist as (
      select s.* from scored s
      where not exists (select 1 from rated x where x.item_id = s.item_id)
        and (filter_item_type = 'all'
             or exists (select 1 from public.items i where i.id = s.item_id and i.item_type = filter_item_type))
      order by s.score desc, s.item_id
      limit wanted * 2 + 20
    ),
    described as (
      select s.item_id, i.item_type, coalesce(mv.title, b.title) as title,
             lower(coalesce(mv.title, b.title)) as title_key,
             coalesce(mv.release_year, b.published_year) as year,
             coalesce(mv.poster_url, b.thumbnail_url) as image_url, s.score,
             row_number() over (
               partition by i.item_type, lower(coalesce(mv.title, b.title)),
                            coalesce(mv.release_year, b.published_year)
               order by s.score desc, s.item_id
             ) as copy
      from shortlist s
      join public.items i on i.id = s.item_id
      left join public.movies mv on mv.item_id = s.item_id
      left join public.books b on b.item_id = s.item_id
    ),
    rated_titles as materialized (
      select i.item_type, lower(coalesce(mv.title, b.title)) as title_key,
             coalesce(mv.release_year, b.published_year) as year
      from rated r
      join public.items i on i.id = r.item_id
      left join public.movies mv on mv.item_id = r.item_id
      left join public.books b on b.item_id = r.item_id
    ),
    top as materialized (
      select d.item_id, d.item_type, d.title, d.year, d.image_url, d.score
      from described d
      where d.copy = 1
        and not exists (
          select 1 from rated_titles t
          where t.item_type = d.item_type and t.title_key = d.title_key and t.year is not distinct from d.year
        )
      order by d.score desc, d.item_id
      limit wanted
    )
  select array_agg(t.item_id order by t.score desc, t.item_id), array_agg(t.item_type order by t.score desc, t.item_id),
         array_agg(t.title order by t.score desc, t.item_id), array_agg(t.year order by t.score desc, t.item_id),
         array_agg(t.image_url order by t.score desc, t.item_id), array_agg(t.score order by t.score desc, t.item_id)
    into top_ids, top_types, top_titles, top_years, top_images, top_scores
  from top t;
  if top_ids is null then
    return;
  end if;

  -- The shown items are now constants, so the planner sees how many lists each one is in (a popular item can be
  -- in thousands): it probes item_neighbours by primary key per (rated item, shown item) for a light user, or
  -- reads the shown items' rows through the neighbour index for a heavy one.
  return query
    with recent as materialized (
      select r.item_id, r.rating::double precision as rating,
             case when r.rating >= active.liked_rating then 1.0
                  when r.rating >= active.neutral_rating then active.neutral_weight
                  else 0.0 end as signal
      from public.ratings r
      where r.user_id = target_user_id
      order by r.updated_at desc, r.item_id
      limit 2000
    ),
    top as materialized (
      select t.* from unnest(top_ids, top_types, top_titles, top_years, top_images, top_scores)
                        as t (item_id, item_type, title, year, image_url, score)
    ),
    -- Each shown item's entries in the rated items' lists: the rows the lists were built from.
    shown as materialized (
      select n.neighbour_id, re.item_id as source_id, re.signal * n.weight as lift, n.weight::double precision as weight,
             re.rating - active.global_mean - user_bias - coalesce(ib.bias, 0) as residual
      from recent re
      join public.item_neighbours n
        on n.model_version = active.version and n.item_id = re.item_id and n.neighbour_id = any (top_ids)
      left join public.item_biases ib on ib.model_version = active.version and ib.item_id = re.item_id
    ),
    neighbourhood as (
      select c.neighbour_id, sum(c.weight * c.residual) as deviation, sum(abs(c.weight)) as weight_sum
      from shown c
      group by c.neighbour_id
    ),
    reasons as (
      select ranked.neighbour_id, array_agg(ranked.source_id order by ranked.lift desc, ranked.source_id) as ids,
             array_agg(coalesce(lm.title, lb.title) order by ranked.lift desc, ranked.source_id) as titles
      from (
        select c.neighbour_id, c.source_id, c.lift,
               row_number() over (partition by c.neighbour_id order by c.lift desc, c.source_id) as place
        from shown c
        where c.lift > 0
      ) ranked
      left join public.movies lm on lm.item_id = ranked.source_id
      left join public.books lb on lb.item_id = ranked.source_id
      where ranked.place <= 2
      group by ranked.neighbour_id
    )
    select t.item_id, t.item_type, t.title, t.year, t.image_url, t.score,
           case when ib.bias is null then null
                else least(5.0, greatest(0.5,
                       active.global_mean + user_bias + ib.bias
                       + case when active.prediction_shrinkage is null then 0
                              else nb.deviation / (nb.weight_sum + active.prediction_shrinkage) end))
           end,
           rs.ids, rs.titles, active.version, active.algorithm
    from top t
    left join public.item_biases ib on ib.model_version = active.version and ib.item_id = t.item_id
    left join neighbourhood nb on nb.neighbour_id = t.item_id
    left join reasons rs on rs.neighbour_id = t.item_id
    order by t.score desc, t.item_id;
end;
$$;
