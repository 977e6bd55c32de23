create table public.ratings (
  id         bigint generated always as identity primary key,
  user_id    uuid not null references public.users (id) on delete cascade,
  item_id    bigint not null references public.items (id) on delete cascade,
  -- 0.5 to 5.0 in steps of 0.5.
  rating     numeric not null check (rating between 0.5 and 5.0 and mod(rating * 2, 1) = 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint ratings_user_item_key unique (user_id, item_id)
);
create index ratings_item_id_idx on public.ratings (item_id);
create index ratings_user_updated_idx on public.ratings (user_id, updated_at desc);

create table public.interactions (
  id         bigint generated always as identity primary key,
  user_id    uuid not null references public.users (id) on delete cascade,
  item_id    bigint references public.items (id) on delete cascade,
  kind       text not null check (kind in ('view', 'click', 'search')),
  query      text check (query is null or length(query) between 1 and 500),
  created_at timestamptz not null default now(),
  -- A view or click is of an item; a search is of a query.
  constraint interactions_target_check check (
    (kind in ('view', 'click') and item_id is not null) or (kind = 'search' and query is not null)
  )
);
create index interactions_user_created_idx on public.interactions (user_id, created_at desc);
create index interactions_item_created_idx on public.interactions (item_id, created_at desc);

alter table public.ratings enable row level security;
alter table public.interactions enable row level security;
-- No policies: personal data is reachable only through the service role.
