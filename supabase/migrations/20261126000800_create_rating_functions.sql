-- One row per user and item: rating again updates it. Concurrent upserts of the same pair converge on
-- one row through the unique constraint; an unknown item is a foreign-key violation (not found).
create function public.upsert_rating(rating_user_id uuid, rating_item_id bigint, rating_value numeric)
returns table (
  id bigint, item_id bigint, item_type text, rating numeric, created_at timestamptz,
  updated_at timestamptz, created boolean
)
language sql
volatile
set search_path = ''
as $$
  with upserted as (
    insert into public.ratings as r (user_id, item_id, rating)
    values (rating_user_id, rating_item_id, rating_value)
    on conflict (user_id, item_id) do update
      set rating = excluded.rating, updated_at = now()
    returning r.id, r.item_id, r.rating, r.created_at, r.updated_at, (r.xmax = 0) as created
  )
  select u.id, u.item_id, i.item_type, u.rating, u.created_at, u.updated_at, u.created
  from upserted u
  join public.items i on i.id = u.item_id;
$$;

create function public.list_user_ratings(
  rating_user_id uuid,
  filter_item_type text default 'all',
  page_limit integer default 20,
  page_offset integer default 0
)
returns table (
  id bigint, item_id bigint, item_type text, title text, year integer, image_url text, rating numeric,
  created_at timestamptz, updated_at timestamptz, total_count bigint
)
language sql
stable
set search_path = ''
as $$
  select r.id, r.item_id, i.item_type, coalesce(m.title, b.title),
         coalesce(m.release_year, b.published_year),
         coalesce(m.poster_url, b.thumbnail_url), r.rating, r.created_at, r.updated_at, count(*) over ()
  from public.ratings r
  join public.items i on i.id = r.item_id
  left join public.movies m on m.item_id = r.item_id
  left join public.books b on b.item_id = r.item_id
  where r.user_id = rating_user_id
    and (filter_item_type = 'all' or i.item_type = filter_item_type)
  order by r.updated_at desc, r.id desc
  limit least(greatest(page_limit, 1), 100)
  offset greatest(page_offset, 0);
$$;

create function public.delete_rating(rating_user_id uuid, target_rating_id bigint)
returns boolean
language sql
volatile
set search_path = ''
as $$
  with deleted as (
    delete from public.ratings r
    where r.id = target_rating_id and r.user_id = rating_user_id
    returning 1
  )
  select exists (select 1 from deleted);
$$;

create function public.count_user_ratings(rating_user_id uuid)
returns integer
language sql
stable
set search_path = ''
as $$
  select count(*)::integer from public.ratings r where r.user_id = rating_user_id;
$$;

create function public.record_interaction(
  interaction_user_id uuid,
  interaction_kind text,
  interaction_item_id bigint default null,
  interaction_query text default null
)
returns table (id bigint, kind text, item_id bigint, query text, created_at timestamptz)
language sql
volatile
set search_path = ''
as $$
  insert into public.interactions (user_id, kind, item_id, query)
  values (interaction_user_id, interaction_kind, interaction_item_id, interaction_query)
  returning interactions.id, interactions.kind, interactions.item_id, interactions.query,
            interactions.created_at;
$$;
