-- Serving latency for heavy users (issue 9, session 5): their score sum moves from read time to write time.
-- A user's score for item j is the sum over their rated items i of signal(i) x w(i, j), so it is linear in the
-- ratings. Summing it at read time cost ~80 ms for the heaviest MovieLens user (2,600 ratings: ~520,000
-- (neighbour, weight) entries unnested and hash-aggregated), whatever the SQL. Now:
-- * user_model_scores keeps, for each user with at least model_score_cache_min_ratings() ratings, their whole
--   score vector for one model version. Reading it is one row.
-- * A statement-level trigger on ratings adds (new signal - old signal) x the item's list to the row of every
--   user the statement touched, in the same transaction as the rating write, so a new rating still changes
--   the list at once. A user who reaches the threshold gets a row summed in full by that write.
-- * After a new version is activated the rows of the old one are ignored (reads and the trigger check the
--   version); refresh_user_model_scores rebuilds them for the active version in bounded, resumable batches
--   (the training job calls it). Until then, and whenever a row is missing, the live sum serves: a failed
--   refresh costs latency, never correctness.
-- * One semantics for both paths: the whole history counts. The live sum used to read only the 2,000 most
--   recent ratings (3 of MovieLens's 610 users have more); a cache is a sum over every rating, so the cap is
--   gone from the live sum, the predicted rating and the reasons alike.
-- Items whose score is at most 1e-9 are not recommended by either path: a cached score is the fresh sum plus
-- later deltas, so an item whose contributions all cancelled can be left with a residue of ~1e-17 where the
-- fresh sum is 0 (or the item absent).

create table public.user_model_scores (
  user_id       uuid primary key references public.users (id) on delete cascade,
  -- The version the vector was summed for; a row of another version is ignored until refreshed.
  model_version bigint not null references public.recommender_models (version) on delete cascade,
  -- Every item with a non-zero score (negative sums kept: later ratings can lift them); scores[k] belongs to
  -- item_ids[k]. In no particular order: both arrays come from one aggregate pass, so they stay aligned, and
  -- sorting them on every rating write cost a heavy Zipf user's write a third of its time (reads take a top-N
  -- anyway).
  item_ids      bigint[] not null,
  scores        double precision[] not null check (cardinality(scores) = cardinality(item_ids)),
  summed_at     timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);
-- Doubles and scattered ids barely compress: store them out of line uncompressed, so neither a rating write nor
-- a read pays pglz.
alter table public.user_model_scores alter column item_ids set storage external;
alter table public.user_model_scores alter column scores set storage external;

alter table public.user_model_scores enable row level security;
revoke all on public.user_model_scores from anon, authenticated;
grant select, insert, update, delete on public.user_model_scores to service_role;

-- From this many ratings on, a user's scores are cached. Measured on MovieLens (docs/benchmarks.md, session 5):
-- the live sum costs ~26 us per rated item, ~5 ms at 200 ratings; below that the cache would cost writes
-- for little read time.
create function public.model_score_cache_min_ratings() returns integer
language sql
immutable
set search_path = ''
as $$ select 200 $$;

-- Serialises every cache write of one user (the rating trigger, the refresh): whoever holds it sums from a
-- snapshot taken after it was granted, so it sees every committed rating and every committed cache write.
create function public.lock_user_model_scores(target_user_id uuid) returns void
language sql
volatile
set search_path = ''
as $$ select pg_advisory_xact_lock(hashtext('public.user_model_scores'), hashtext(target_user_id::text)) $$;

-- The user's whole score vector for `model`, summed from their current ratings; replaces their row.
create function public.sum_user_model_scores(target_user_id uuid, model public.recommender_models) returns void
language sql
volatile
set search_path = ''
as $$
  insert into public.user_model_scores as s (user_id, model_version, item_ids, scores)
  select target_user_id, model.version,
         coalesce(array_agg(t.item_id), '{}'),
         coalesce(array_agg(t.score), '{}')
  from (
    select x.neighbour_id as item_id, sum(x.signal * x.weight) as score
    from (
      select mine.signal, unnest(l.neighbour_ids) as neighbour_id, unnest(l.weights) as weight
      from (
        select r.item_id,
               case when r.rating >= model.liked_rating then 1.0
                    when r.rating >= model.neutral_rating then model.neutral_weight
                    else 0.0 end as signal
        from public.ratings r
        where r.user_id = target_user_id
      ) mine
      join public.item_neighbour_lists l on l.model_version = model.version and l.item_id = mine.item_id
      where mine.signal <> 0
    ) x
    group by x.neighbour_id
  ) t
  where t.score <> 0
  on conflict (user_id) do update
    set model_version = excluded.model_version, item_ids = excluded.item_ids, scores = excluded.scores,
        summed_at = now(), updated_at = now();
$$;

-- The rating trigger's work: changed_users[k], changed_items[k] and signal_deltas[k] are a (user, item) the
-- statement touched and its new signal - old signal under the active model.
create function public.apply_model_score_changes(
  model public.recommender_models, changed_users uuid[], changed_items bigint[], signal_deltas double precision[],
  inserted boolean
) returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  target uuid;
  cached_version bigint;
begin
  -- In sorted order, so two statements touching the same users cannot deadlock on these locks.
  for target in select distinct u from unnest(changed_users) as u order by u loop
    perform public.lock_user_model_scores(target);
    if current_setting('transaction_isolation') <> 'read committed' then
      -- This transaction's snapshot predates the lock, so a sum made here could miss a concurrent write:
      -- drop the row instead (the live sum serves, the next refresh rebuilds it).
      delete from public.user_model_scores s where s.user_id = target;
      continue;
    end if;
    select s.model_version into cached_version from public.user_model_scores s where s.user_id = target;
    if cached_version = model.version then
      update public.user_model_scores s
         set (item_ids, scores) = (
               select coalesce(array_agg(m.item_id), '{}'),
                      coalesce(array_agg(m.score), '{}')
               from (
                 select e.item_id, sum(e.score) as score
                 from (
                   select c.item_id, c.score from unnest(s.item_ids, s.scores) as c (item_id, score)
                   union all
                   select d.neighbour_id, d.delta * d.weight
                   from (
                     select ch.delta, unnest(l.neighbour_ids) as neighbour_id, unnest(l.weights) as weight
                     from unnest(changed_users, changed_items, signal_deltas) as ch (user_id, item_id, delta)
                     join public.item_neighbour_lists l
                       on l.model_version = model.version and l.item_id = ch.item_id
                     where ch.user_id = target
                   ) d
                 ) e
                 group by e.item_id
               ) m
               -- What is left of contributions that cancelled is float residue, not a score.
               where abs(m.score) > 1e-12
             ),
             updated_at = now()
       where s.user_id = target;
    elsif inserted
          and (select count(*) from public.ratings r where r.user_id = target) >= public.model_score_cache_min_ratings()
    then
      perform public.sum_user_model_scores(target, model);
    end if;
  end loop;
end;
$$;

create function public.track_user_model_scores() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  model public.recommender_models;
  changed_users uuid[];
  changed_items bigint[];
  signal_deltas double precision[];
begin
  select m.* into model
  from public.recommender_active a
  join public.recommender_models m on m.version = a.model_version;
  if not found then
    return null;
  end if;
  if tg_op = 'INSERT' then
    select array_agg(n.user_id), array_agg(n.item_id),
           array_agg(case when n.rating >= model.liked_rating then 1.0
                          when n.rating >= model.neutral_rating then model.neutral_weight else 0.0 end)
      into changed_users, changed_items, signal_deltas
    from new_ratings n;
  elsif tg_op = 'DELETE' then
    select array_agg(o.user_id), array_agg(o.item_id),
           array_agg(-case when o.rating >= model.liked_rating then 1.0
                           when o.rating >= model.neutral_rating then model.neutral_weight else 0.0 end)
      into changed_users, changed_items, signal_deltas
    from old_ratings o;
  else
    select array_agg(c.user_id), array_agg(c.item_id), array_agg(c.delta)
      into changed_users, changed_items, signal_deltas
    from (
      select x.user_id, x.item_id, sum(x.signal) as delta
      from (
        select n.user_id, n.item_id,
               case when n.rating >= model.liked_rating then 1.0
                    when n.rating >= model.neutral_rating then model.neutral_weight else 0.0 end as signal
        from new_ratings n
        union all
        select o.user_id, o.item_id,
               -case when o.rating >= model.liked_rating then 1.0
                     when o.rating >= model.neutral_rating then model.neutral_weight else 0.0 end
        from old_ratings o
      ) x
      group by x.user_id, x.item_id
    ) c
    -- A changed rating whose signal did not change (4.5 -> 5.0) leaves every score as it was; an update that
    -- changes nothing touches no user.
    where c.delta <> 0;
  end if;
  if changed_users is not null then
    perform public.apply_model_score_changes(model, changed_users, changed_items, signal_deltas, tg_op = 'INSERT');
  end if;
  return null;
end;
$$;

revoke execute on function public.model_score_cache_min_ratings(), public.lock_user_model_scores(uuid),
  public.sum_user_model_scores(uuid, public.recommender_models),
  public.apply_model_score_changes(public.recommender_models, uuid[], bigint[], double precision[], boolean),
  public.track_user_model_scores()
  from public, anon, authenticated;
-- The trigger runs as whoever writes the rating: the service role's functions.
grant execute on function public.model_score_cache_min_ratings(), public.lock_user_model_scores(uuid),
  public.sum_user_model_scores(uuid, public.recommender_models),
  public.apply_model_score_changes(public.recommender_models, uuid[], bigint[], double precision[], boolean)
  to service_role;

-- Transition tables: a bulk write (an import, an account's erasure) runs the trigger once, not once a row.
create trigger ratings_track_model_scores_insert
  after insert on public.ratings referencing new table as new_ratings
  for each statement execute function public.track_user_model_scores();
create trigger ratings_track_model_scores_update
  after update on public.ratings referencing old table as old_ratings new table as new_ratings
  for each statement execute function public.track_user_model_scores();
create trigger ratings_track_model_scores_delete
  after delete on public.ratings referencing old table as old_ratings
  for each statement execute function public.track_user_model_scores();

-- TRUNCATE fires no row or statement trigger above: it forgets every cached vector instead (summed live until
-- the next refresh).
create function public.forget_user_model_scores() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  delete from public.user_model_scores;
  return null;
end;
$$;
revoke execute on function public.forget_user_model_scores() from public, anon, authenticated;
create trigger ratings_truncate_forgets_model_scores
  after truncate on public.ratings
  for each statement execute function public.forget_user_model_scores();

-- Deleting an item cascades to its ratings and to its neighbour list in an order of PostgreSQL's choosing; if
-- the list went first, the ratings trigger could no longer subtract the item's contribution. Its ratings are
-- deleted first, while the list is still there.
create function public.delete_item_ratings_first() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  delete from public.ratings r where r.item_id = old.id;
  return old;
end;
$$;
revoke execute on function public.delete_item_ratings_first() from public, anon, authenticated;
create trigger items_delete_ratings_first
  before delete on public.items
  for each row execute function public.delete_item_ratings_first();

-- Sums the cached rows of heavy users (at least model_score_cache_min_ratings() ratings) that are missing or of
-- another version, for the active version: at most `max_users` users after `after_user_id` in user id order,
-- one transaction. Returns the active version, how many rows were summed, and the user id to pass next (null
-- when every heavy user was visited). Rows kept current by the trigger are left as they are.
create function public.refresh_user_model_scores(after_user_id uuid default null, max_users integer default 20)
returns table (model_version bigint, refreshed integer, heavy_users integer, next_user_id uuid)
language plpgsql
volatile
set search_path = ''
as $$
declare
  model public.recommender_models;
  batch integer := least(greatest(max_users, 1), 200);
  target uuid;
  last_seen uuid;
  seen integer := 0;
  summed integer := 0;
begin
  if current_setting('transaction_isolation') <> 'read committed' then
    raise exception 'refresh_user_model_scores needs read committed isolation' using errcode = '25000';
  end if;
  select m.* into model
  from public.recommender_active a
  join public.recommender_models m on m.version = a.model_version;
  if not found then
    return query select null::bigint, 0, 0, null::uuid;
    return;
  end if;
  for target in
    select r.user_id from public.ratings r
    where after_user_id is null or r.user_id > after_user_id
    group by r.user_id
    having count(*) >= public.model_score_cache_min_ratings()
    order by r.user_id
    limit batch
  loop
    seen := seen + 1;
    last_seen := target;
    perform public.lock_user_model_scores(target);
    if not exists (select 1 from public.user_model_scores s
                   where s.user_id = target and s.model_version = model.version) then
      perform public.sum_user_model_scores(target, model);
      summed := summed + 1;
    end if;
  end loop;
  return query select model.version, summed, seen, case when seen = batch then last_seen end;
end;
$$;
revoke execute on function public.refresh_user_model_scores(uuid, integer) from public, anon, authenticated;
grant execute on function public.refresh_user_model_scores(uuid, integer) to service_role;

-- Same signature and columns as 20261225000200's. The shortlist comes from the cached vector when the user has
-- one for the active version, else from the live sum over every rating; the rest (titles, duplicates, the
-- predicted rating and reasons for the shown items) is shared.
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
  cached_ids bigint[];
  cached_scores double precision[];
  -- The candidates (a few more than wanted, for duplicate titles), then the shown items.
  shortlist_ids bigint[];
  shortlist_scores double precision[];
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

  select s.item_ids, s.scores into cached_ids, cached_scores
  from public.user_model_scores s
  where s.user_id = target_user_id and s.model_version = active.version;

  if found then
    with rated as materialized (
        select r.item_id from public.ratings r where r.user_id = target_user_id
      ),
      shortlist as (
        select c.item_id, c.score
        from unnest(cached_ids, cached_scores) as c (item_id, score)
        where c.score > 1e-9
          and not exists (select 1 from rated x where x.item_id = c.item_id)
          and (filter_item_type = 'all'
               or exists (select 1 from public.items i where i.id = c.item_id and i.item_type = filter_item_type))
        order by c.score desc, c.item_id
        limit wanted * 2 + 20
      )
    select array_agg(s.item_id order by s.score desc, s.item_id), array_agg(s.score order by s.score desc, s.item_id)
      into shortlist_ids, shortlist_scores
    from shortlist s;
  else
    with mine as materialized (
        select r.item_id,
               case when r.rating >= active.liked_rating then 1.0
                    when r.rating >= active.neutral_rating then active.neutral_weight
                    else 0.0 end as signal
        from public.ratings r
        where r.user_id = target_user_id
      ),
      lifted as (
        select m.signal, unnest(l.neighbour_ids) as neighbour_id, unnest(l.weights) as weight
        from mine m
        join public.item_neighbour_lists l on l.model_version = active.version and l.item_id = m.item_id
        where m.signal <> 0
      ),
      scored as (
        select c.neighbour_id as item_id, sum(c.signal * c.weight) as score
        from lifted c
        group by c.neighbour_id
        having sum(c.signal * c.weight) > 1e-9
      ),
      shortlist as (
        select s.* from scored s
        where not exists (select 1 from mine x where x.item_id = s.item_id)
          and (filter_item_type = 'all'
               or exists (select 1 from public.items i where i.id = s.item_id and i.item_type = filter_item_type))
        order by s.score desc, s.item_id
        limit wanted * 2 + 20
      )
    select array_agg(s.item_id order by s.score desc, s.item_id), array_agg(s.score order by s.score desc, s.item_id)
      into shortlist_ids, shortlist_scores
    from shortlist s;
  end if;
  if shortlist_ids is null then
    return;
  end if;

  with shortlist as (
      select s.item_id, s.score from unnest(shortlist_ids, shortlist_scores) as s (item_id, score)
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
      from public.ratings r
      join public.items i on i.id = r.item_id
      left join public.movies mv on mv.item_id = r.item_id
      left join public.books b on b.item_id = r.item_id
      where r.user_id = target_user_id
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
    with mine as materialized (
      select r.item_id, r.rating::double precision as rating,
             case when r.rating >= active.liked_rating then 1.0
                  when r.rating >= active.neutral_rating then active.neutral_weight
                  else 0.0 end as signal
      from public.ratings r
      where r.user_id = target_user_id
    ),
    top as materialized (
      select t.* from unnest(top_ids, top_types, top_titles, top_years, top_images, top_scores)
                        as t (item_id, item_type, title, year, image_url, score)
    ),
    -- Each shown item's entries in the rated items' lists: the rows the lists were built from.
    shown as materialized (
      select n.neighbour_id, m.item_id as source_id, m.signal * n.weight as lift, n.weight::double precision as weight,
             m.rating - active.global_mean - user_bias - coalesce(ib.bias, 0) as residual
      from mine m
      join public.item_neighbours n
        on n.model_version = active.version and n.item_id = m.item_id and n.neighbour_id = any (top_ids)
      left join public.item_biases ib on ib.model_version = active.version and ib.item_id = m.item_id
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

-- The same neighbourhood as get_model_recommendations' predicted ratings, now the whole history too (was the 2,000
-- most recently updated ratings), for predicted ratings of any items. Otherwise as 20261221000200's.
create or replace function public.predict_user_ratings(target_user_id uuid, target_item_ids bigint[])
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

  select coalesce(sum(r.rating::double precision - active.global_mean - coalesce(ib.bias, 0)), 0)
         / (active.user_reg + count(*))
    into user_bias
  from public.ratings r
  left join public.item_biases ib on ib.model_version = active.version and ib.item_id = r.item_id
  where r.user_id = target_user_id;

  return query
    with wanted as materialized (
      select distinct w.item_id from unnest(target_item_ids[1:1000]) as w (item_id)
    ),
    mine as materialized (
      select r.item_id, r.rating::double precision as rating
      from public.ratings r
      where r.user_id = target_user_id
    ),
    neighbourhood as (
      select u.neighbour_id as item_id,
             sum(u.weight * (re.rating - active.global_mean - user_bias - coalesce(ib.bias, 0))) as deviation,
             sum(abs(u.weight)) as weight_sum
      from mine re
      join public.item_neighbour_lists l on l.model_version = active.version and l.item_id = re.item_id
      left join public.item_biases ib on ib.model_version = active.version and ib.item_id = re.item_id
      cross join lateral unnest(l.neighbour_ids, l.weights) as u (neighbour_id, weight)
      where u.neighbour_id in (select w.item_id from wanted w)
      group by u.neighbour_id
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
