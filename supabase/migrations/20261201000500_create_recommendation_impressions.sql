-- Online evaluation (issue 9), as Gorse does it: every item a user is shown in a recommendation list is
-- recorded with the method and model version that put it there, so the views and clicks already in
-- public.interactions, and the ratings that follow, can be credited to the method and model that earned them.
create table public.recommendation_impressions (
  id            bigint generated always as identity primary key,
  user_id       uuid not null references public.users (id) on delete cascade,
  item_id       bigint not null references public.items (id) on delete cascade,
  -- As the API names it: ease, item_knn, content_based, popularity, ...
  method        text not null check (method ~ '^[a-z][a-z0-9_]{0,49}$'),
  -- The trained model's version (public.recommender_models), null for methods without one. No foreign key:
  -- what was shown stays on record after old model versions are cleaned up.
  model_version bigint,
  -- 1 = the top of the list.
  position      smallint not null check (position between 1 and 100),
  shown_at      timestamptz not null default now()
);
-- Crediting a click or a rating looks up the user's earlier impressions of that item.
create index recommendation_impressions_user_item_idx
  on public.recommendation_impressions (user_id, item_id, shown_at);
create index recommendation_impressions_shown_at_idx on public.recommendation_impressions (shown_at);

alter table public.recommendation_impressions enable row level security;
-- No policies: personal data, reachable through the service role's functions only.
revoke all on public.recommendation_impressions from anon, authenticated;
grant select, insert, delete on public.recommendation_impressions to service_role;
grant usage, select on sequence public.recommendation_impressions_id_seq to service_role;

-- One call per list shown: impression_items is a JSON array of {item_id, method, model_version, position}.
-- An item deleted since the list was made is skipped rather than failing the call. Returns how many rows
-- were recorded.
create function public.record_recommendation_impressions(impression_user_id uuid, impression_items jsonb)
returns integer
language sql
volatile
set search_path = ''
as $$
  with shown as (
    insert into public.recommendation_impressions (user_id, item_id, method, model_version, position)
    select impression_user_id, s.item_id, s.method, s.model_version, s.position
    from jsonb_to_recordset(impression_items)
      as s (item_id bigint, method text, model_version bigint, position smallint)
    join public.items i on i.id = s.item_id
    -- A list holds at most 100 items (the API's cap): a larger payload is not a list shown to anyone.
    where jsonb_array_length(impression_items) <= 100
    returning 1
  )
  select count(*)::integer from shown;
$$;

-- Per UTC day of the first showing, method and model version: how many distinct (user, item) pairs were
-- shown, how many of them the user then viewed or clicked within 24 hours (click-through), and how many
-- they rated within 7 days (rating after recommendation) and how highly. A pair shown again the same day is
-- counted once, credited to the method and version that showed it first that day.
create view public.recommendation_daily_performance
with (security_invoker = true)
as
with first_shown as (
  select (r.shown_at at time zone 'UTC')::date as day, r.user_id, r.item_id,
         (array_agg(r.method order by r.shown_at, r.id))[1] as method,
         (array_agg(r.model_version order by r.shown_at, r.id))[1] as model_version,
         min(r.shown_at) as shown_at,
         min(r.position) as best_position
  from public.recommendation_impressions r
  group by 1, 2, 3
),
outcomes as (
  select f.*,
         exists (
           select 1 from public.interactions i
           where i.user_id = f.user_id and i.item_id = f.item_id and i.kind in ('view', 'click')
             and i.created_at >= f.shown_at and i.created_at < f.shown_at + interval '24 hours'
         ) as engaged,
         (
           select rt.rating from public.ratings rt
           where rt.user_id = f.user_id and rt.item_id = f.item_id
             and rt.created_at >= f.shown_at and rt.created_at < f.shown_at + interval '7 days'
         ) as rating_after
  from first_shown f
)
select day, method, model_version,
       count(*)::bigint as impressions,
       count(distinct user_id)::bigint as users,
       count(*) filter (where engaged)::bigint as engaged,
       round(count(*) filter (where engaged)::numeric / count(*), 4) as click_through_rate,
       count(rating_after)::bigint as rated,
       round(count(rating_after)::numeric / count(*), 4) as rating_rate,
       round(avg(rating_after), 3) as mean_rating_after,
       count(*) filter (where rating_after >= 4)::bigint as liked
from outcomes
group by day, method, model_version;

revoke all on public.recommendation_daily_performance from anon, authenticated;
grant select on public.recommendation_daily_performance to service_role;

-- The view for the last `report_days` days, newest first: what `cinelibre report` prints.
create function public.get_recommendation_performance(report_days integer default 30)
returns table (
  day date, method text, model_version bigint, impressions bigint, users bigint, engaged bigint,
  click_through_rate numeric, rated bigint, rating_rate numeric, mean_rating_after numeric, liked bigint
)
language sql
stable
set search_path = ''
as $$
  select p.day, p.method, p.model_version, p.impressions, p.users, p.engaged, p.click_through_rate, p.rated,
         p.rating_rate, p.mean_rating_after, p.liked
  from public.recommendation_daily_performance p
  where p.day >= (now() at time zone 'UTC')::date - least(greatest(report_days, 1), 366) + 1
  order by p.day desc, p.method, p.model_version nulls first;
$$;

revoke execute on function public.record_recommendation_impressions(uuid, jsonb) from public, anon, authenticated;
revoke execute on function public.get_recommendation_performance(integer) from public, anon, authenticated;
grant execute on function public.record_recommendation_impressions(uuid, jsonb) to service_role;
grant execute on function public.get_recommendation_performance(integer) to service_role;
