-- Serving the trained model (issue 9). Scores come from the user's CURRENT ratings, so a new rating
-- changes their list at once, without retraining:
--   x_ui   = 1 for a rating >= liked_rating, neutral_weight for one >= neutral_rating, else 0
--   score  = sum over the user's rated items i of x_ui * weight(i -> j)
--   b_u    = sum(r_ui - mu - b_i) / (user_reg + n_u)                      (regularised user bias)
--   r̂_uj  = mu + b_u + b_j + sum(w_ij * (r_ui - mu - b_u - b_i)) / (sum |w_ij| + prediction_shrinkage)
-- Both functions read the active version once, then use only that version's rows: a model swapped in
-- meanwhile is seen whole or not at all (the swap deletes only versions older than the one it replaces).
-- plpgsql with custom plans, so the planner sees the real version and user; each rated item reaches its
-- neighbours through the primary key (a LATERAL fenced by OFFSET 0), whatever the table statistics say:
-- left to itself on fresh statistics the planner once scanned every neighbour row for every rated item.

create function public.get_model_recommendations(
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
begin
  select m.* into active
  from public.recommender_active a
  join public.recommender_models m on m.version = a.model_version;
  if not found then
    return;
  end if;

  select coalesce(sum(r.rating::double precision - active.global_mean - coalesce(
           (select ib.bias from public.item_biases ib
             where ib.model_version = active.version and ib.item_id = r.item_id), 0)), 0)
         / (active.user_reg + count(*))
    into user_bias
  from public.ratings r
  where r.user_id = target_user_id;

  return query
    with mine as materialized (
      select r.item_id, r.rating::double precision as rating,
             coalesce((select ib.bias from public.item_biases ib
                        where ib.model_version = active.version and ib.item_id = r.item_id), 0)::double precision
               as item_bias,
             case when r.rating >= active.liked_rating then 1.0
                  when r.rating >= active.neutral_rating then active.neutral_weight
                  else 0.0 end as signal
      from public.ratings r
      where r.user_id = target_user_id
    ),
    contributions as (
      select n.neighbour_id, mi.signal * n.weight as lift, n.weight,
             mi.rating - active.global_mean - user_bias - mi.item_bias as residual
      from mine mi
      cross join lateral (
        select nb.neighbour_id, nb.weight::double precision as weight
        from public.item_neighbours nb
        where nb.model_version = active.version and nb.item_id = mi.item_id
        offset 0
      ) n
    ),
    scored as (
      select c.neighbour_id as item_id, sum(c.lift) as score,
             sum(c.weight * c.residual) as deviation, sum(abs(c.weight)) as weight_sum
      from contributions c
      where not exists (select 1 from mine x where x.item_id = c.neighbour_id)
      group by c.neighbour_id
      having sum(c.lift) > 0
    ),
    -- Only the best few are described; the margin covers the duplicates and rated titles dropped below.
    shortlist as (
      select s.* from scored s
      where filter_item_type = 'all'
         or exists (select 1 from public.items i where i.id = s.item_id and i.item_type = filter_item_type)
      order by s.score desc, s.item_id
      limit wanted * 2 + 20
    ),
    rated_titles as materialized (
      select i.item_type, lower(coalesce(mv.title, b.title)) as title_key,
             coalesce(mv.release_year, b.published_year) as year
      from mine mi
      join public.items i on i.id = mi.item_id
      left join public.movies mv on mv.item_id = mi.item_id
      left join public.books b on b.item_id = mi.item_id
    ),
    described as (
      select s.item_id, i.item_type, coalesce(mv.title, b.title) as title,
             coalesce(mv.release_year, b.published_year) as year,
             coalesce(mv.poster_url, b.thumbnail_url) as image_url, s.score, s.deviation, s.weight_sum,
             -- Two catalog entries of one title (the same film ingested twice) show once: the better scored.
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
    top as (
      select d.*
      from described d
      where d.copy = 1
        and not exists (
          select 1 from rated_titles t
          where t.item_type = d.item_type and t.title_key = lower(d.title) and t.year is not distinct from d.year
        )
      order by d.score desc, d.item_id
      limit wanted
    )
    select t.item_id, t.item_type, t.title, t.year, t.image_url, t.score,
           case when ib.bias is null then null
                else least(5.0, greatest(0.5,
                       active.global_mean + user_bias + ib.bias
                       + case when active.prediction_shrinkage is null then 0
                              else t.deviation / (t.weight_sum + active.prediction_shrinkage) end))
           end,
           because.ids, because.titles, active.version, active.algorithm
    from top t
    left join public.item_biases ib on ib.model_version = active.version and ib.item_id = t.item_id
    -- The (up to two) rated items that lifted this one most: one primary-key probe per rated item.
    cross join lateral (
      select array_agg(best.item_id order by best.lift desc, best.item_id) as ids,
             array_agg(best.title order by best.lift desc, best.item_id) as titles
      from (
        select mi.item_id, mi.signal * n.weight as lift, coalesce(lm.title, lb.title) as title
        from mine mi
        join public.item_neighbours n
          on n.model_version = active.version and n.item_id = mi.item_id and n.neighbour_id = t.item_id
        left join public.movies lm on lm.item_id = mi.item_id
        left join public.books lb on lb.item_id = mi.item_id
        where mi.signal * n.weight > 0
        order by mi.signal * n.weight desc, mi.item_id
        limit 2
      ) best
    ) because
    order by t.score desc, t.item_id;
end;
$$;

-- Predicted ratings for any items (the held-out pairs of an evaluation, an item page): null for an item
-- the active model does not know, and no rows at all when no model is active.
create function public.predict_user_ratings(target_user_id uuid, target_item_ids bigint[])
returns table (item_id bigint, predicted_rating double precision, model_version bigint)
language plpgsql
stable
set search_path = ''
set plan_cache_mode = force_custom_plan
as $$
declare
  active public.recommender_models;
  user_bias double precision;
begin
  select m.* into active
  from public.recommender_active a
  join public.recommender_models m on m.version = a.model_version;
  if not found then
    return;
  end if;

  select coalesce(sum(r.rating::double precision - active.global_mean - coalesce(
           (select ib.bias from public.item_biases ib
             where ib.model_version = active.version and ib.item_id = r.item_id), 0)), 0)
         / (active.user_reg + count(*))
    into user_bias
  from public.ratings r
  where r.user_id = target_user_id;

  return query
    with wanted as (
      select distinct w.item_id from unnest(target_item_ids[1:1000]) as w (item_id)
    ),
    mine as materialized (
      select r.item_id, r.rating::double precision as rating,
             coalesce((select ib.bias from public.item_biases ib
                        where ib.model_version = active.version and ib.item_id = r.item_id), 0)::double precision
               as item_bias
      from public.ratings r
      where r.user_id = target_user_id
    ),
    neighbourhood as (
      select n.neighbour_id as item_id,
             sum(n.weight * (mi.rating - active.global_mean - user_bias - mi.item_bias)) as deviation,
             sum(abs(n.weight)) as weight_sum
      from mine mi
      cross join lateral (
        select nb.neighbour_id, nb.weight::double precision as weight
        from public.item_neighbours nb
        where nb.model_version = active.version and nb.item_id = mi.item_id
        offset 0
      ) n
      where n.neighbour_id in (select w.item_id from wanted w)
      group by n.neighbour_id
    )
    select w.item_id,
           case when ib.bias is null then null
                else least(5.0, greatest(0.5,
                       active.global_mean + user_bias + ib.bias
                       + case when active.prediction_shrinkage is null or nb.item_id is null then 0
                              else nb.deviation / (nb.weight_sum + active.prediction_shrinkage) end))
           end,
           active.version
    from wanted w
    left join public.item_biases ib on ib.model_version = active.version and ib.item_id = w.item_id
    left join neighbourhood nb on nb.item_id = w.item_id
    order by w.item_id;
end;
$$;

revoke execute on function
  public.get_model_recommendations(uuid, text, integer),
  public.predict_user_ratings(uuid, bigint[])
from public, anon, authenticated;
grant execute on function
  public.get_model_recommendations(uuid, text, integer),
  public.predict_user_ratings(uuid, bigint[])
to service_role;
