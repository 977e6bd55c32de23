-- The training job's RPCs (issue 9): read every rating a page at a time, write a model version, and
-- swap it in. Every function is for the service role only.

-- One page of ratings after `after_rating_id`, as parallel arrays in a single row: PostgREST caps the
-- rows a call returns (1,000 on Supabase), not the length of an array.
create function public.get_training_ratings(after_rating_id bigint default 0, page_size integer default 50000)
returns table (last_rating_id bigint, user_ids uuid[], item_ids bigint[], ratings real[])
language sql
stable
set search_path = ''
as $$
  with page as (
    select r.id, r.user_id, r.item_id, r.rating
    from public.ratings r
    where r.id > after_rating_id
    order by r.id
    limit least(greatest(page_size, 1), 100000)
  )
  select max(p.id), coalesce(array_agg(p.user_id order by p.id), '{}'),
         coalesce(array_agg(p.item_id order by p.id), '{}'), coalesce(array_agg(p.rating::real order by p.id), '{}')
  from page p;
$$;

create function public.begin_recommender_model(
  model_algorithm text,
  model_liked_rating numeric,
  model_neutral_rating numeric,
  model_neutral_weight double precision,
  model_global_mean double precision,
  model_user_reg double precision,
  model_prediction_shrinkage double precision,
  model_params jsonb
)
returns bigint
language sql
volatile
set search_path = ''
as $$
  insert into public.recommender_models (
    algorithm, liked_rating, neutral_rating, neutral_weight, global_mean, user_reg, prediction_shrinkage, params
  )
  values (
    model_algorithm, model_liked_rating, model_neutral_rating, model_neutral_weight, model_global_mean,
    model_user_reg, model_prediction_shrinkage, coalesce(model_params, '{}')
  )
  returning version;
$$;

-- Rows for a version still being built; items deleted since the ratings were read are skipped.
create function public.save_item_neighbours(
  target_model_version bigint, item_ids bigint[], neighbour_ids bigint[], weights real[]
)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
  saved integer;
begin
  if not exists (
    select 1 from public.recommender_models m where m.version = target_model_version and m.status = 'building'
  ) then
    raise exception 'model version % is not being built', target_model_version using errcode = '22023';
  end if;
  if cardinality(item_ids) <> cardinality(neighbour_ids) or cardinality(item_ids) <> cardinality(weights) then
    raise exception 'item_ids, neighbour_ids and weights must have the same length' using errcode = '22023';
  end if;
  insert into public.item_neighbours (model_version, item_id, neighbour_id, weight)
  select target_model_version, n.item_id, n.neighbour_id, n.weight
  from unnest(item_ids, neighbour_ids, weights) as n (item_id, neighbour_id, weight)
  where exists (select 1 from public.items i where i.id = n.item_id)
    and exists (select 1 from public.items i where i.id = n.neighbour_id);
  get diagnostics saved = row_count;
  return saved;
end;
$$;

create function public.save_item_biases(target_model_version bigint, item_ids bigint[], biases real[])
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
  saved integer;
begin
  if not exists (
    select 1 from public.recommender_models m where m.version = target_model_version and m.status = 'building'
  ) then
    raise exception 'model version % is not being built', target_model_version using errcode = '22023';
  end if;
  if cardinality(item_ids) <> cardinality(biases) then
    raise exception 'item_ids and biases must have the same length' using errcode = '22023';
  end if;
  insert into public.item_biases (model_version, item_id, bias)
  select target_model_version, b.item_id, b.bias
  from unnest(item_ids, biases) as b (item_id, bias)
  where exists (select 1 from public.items i where i.id = b.item_id);
  get diagnostics saved = row_count;
  return saved;
end;
$$;

-- Marks the version ready with its figures and makes it the active one, in one transaction; then forgets
-- every other version but the one it replaced (kept so an operator can switch back).
create function public.activate_recommender_model(target_model_version bigint, model_stats jsonb)
returns table (model_version bigint, previous_version bigint, neighbour_count bigint, deleted_versions integer)
language plpgsql
volatile
set search_path = ''
as $$
declare
  previous bigint;
  neighbours bigint;
  deleted integer;
begin
  select count(*) into neighbours from public.item_neighbours n where n.model_version = target_model_version;
  update public.recommender_models m
     set status = 'ready', finished_at = now(), neighbour_count = neighbours,
         item_count = (model_stats ->> 'item_count')::integer,
         user_count = (model_stats ->> 'user_count')::integer,
         rating_count = (model_stats ->> 'rating_count')::bigint,
         train_seconds = (model_stats ->> 'train_seconds')::double precision,
         peak_memory_bytes = (model_stats ->> 'peak_memory_bytes')::bigint,
         metrics = coalesce(model_stats -> 'metrics', '{}')
   where m.version = target_model_version and m.status = 'building';
  if not found then
    raise exception 'model version % is not being built', target_model_version using errcode = '22023';
  end if;
  -- Serialises two runs finishing at once: the later activation wins, whole.
  select a.model_version into previous from public.recommender_active a for update;
  insert into public.recommender_active as a (singleton, model_version, activated_at)
  values (true, target_model_version, now())
  on conflict (singleton) do update set model_version = excluded.model_version, activated_at = now();
  delete from public.recommender_models m
   where m.version not in (target_model_version, coalesce(previous, target_model_version))
     and m.status <> 'building';
  get diagnostics deleted = row_count;
  return query select target_model_version, previous, neighbours, deleted;
end;
$$;

-- A failed run: its rows go, its record stays (with the error) until the next successful activation.
create function public.fail_recommender_model(target_model_version bigint, failure text)
returns void
language sql
volatile
set search_path = ''
as $$
  delete from public.item_neighbours n where n.model_version = target_model_version;
  delete from public.item_biases b where b.model_version = target_model_version;
  update public.recommender_models m
     set status = 'failed', finished_at = now(), error = left(failure, 2000)
   where m.version = target_model_version and m.status = 'building';
$$;

-- The version readers use, with its record; no row when no model has been trained.
create function public.get_active_recommender_model()
returns table (
  version bigint, algorithm text, status text, activated_at timestamptz, created_at timestamptz,
  finished_at timestamptz, item_count integer, user_count integer, rating_count bigint, neighbour_count bigint,
  train_seconds double precision, peak_memory_bytes bigint, liked_rating numeric, neutral_rating numeric,
  neutral_weight double precision, global_mean double precision, user_reg double precision,
  prediction_shrinkage double precision, params jsonb, metrics jsonb
)
language sql
stable
set search_path = ''
as $$
  select m.version, m.algorithm, m.status, a.activated_at, m.created_at, m.finished_at, m.item_count,
         m.user_count, m.rating_count, m.neighbour_count, m.train_seconds, m.peak_memory_bytes, m.liked_rating,
         m.neutral_rating, m.neutral_weight, m.global_mean, m.user_reg, m.prediction_shrinkage, m.params,
         m.metrics
  from public.recommender_active a
  join public.recommender_models m on m.version = a.model_version;
$$;

revoke execute on function
  public.get_training_ratings(bigint, integer),
  public.begin_recommender_model(text, numeric, numeric, double precision, double precision, double precision,
                                 double precision, jsonb),
  public.save_item_neighbours(bigint, bigint[], bigint[], real[]),
  public.save_item_biases(bigint, bigint[], real[]),
  public.activate_recommender_model(bigint, jsonb),
  public.fail_recommender_model(bigint, text),
  public.get_active_recommender_model()
from public, anon, authenticated;
grant execute on function
  public.get_training_ratings(bigint, integer),
  public.begin_recommender_model(text, numeric, numeric, double precision, double precision, double precision,
                                 double precision, jsonb),
  public.save_item_neighbours(bigint, bigint[], bigint[], real[]),
  public.save_item_biases(bigint, bigint[], real[]),
  public.activate_recommender_model(bigint, jsonb),
  public.fail_recommender_model(bigint, text),
  public.get_active_recommender_model()
to service_role;
