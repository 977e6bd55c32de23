-- The trained item-to-item model (issue 9). Each training run writes a new version: its rows in
-- item_neighbours and item_biases, then one statement points recommender_active at it. A reader resolves
-- the active version once per statement, so it sees the whole old model or the whole new one, never half.
create table public.recommender_models (
  version            bigint generated always as identity primary key,
  algorithm          text not null check (algorithm in ('ease', 'item_knn')),
  status             text not null default 'building' check (status in ('building', 'ready', 'failed')),
  -- How a rating becomes the model's input x_ui: 1 at liked_rating or above, neutral_weight at
  -- neutral_rating or above, else 0. Serving applies the same rule to the user's current ratings.
  liked_rating       numeric not null default 4.0,
  neutral_rating     numeric not null default 3.0,
  neutral_weight     double precision not null default 0.0 check (neutral_weight between 0 and 1),
  -- The rating predictor: global mean, regularised user bias (computed at serve time with user_reg), the
  -- stored item biases, and a neighbourhood term whose weight sum is shrunk by prediction_shrinkage
  -- (null: baseline only).
  global_mean        double precision not null default 0,
  user_reg           double precision not null default 15 check (user_reg >= 0),
  prediction_shrinkage double precision check (prediction_shrinkage is null or prediction_shrinkage > 0),
  params             jsonb not null default '{}',
  metrics            jsonb not null default '{}',
  item_count         integer check (item_count >= 0),
  user_count         integer check (user_count >= 0),
  rating_count       bigint check (rating_count >= 0),
  neighbour_count    bigint check (neighbour_count >= 0),
  train_seconds      double precision,
  peak_memory_bytes  bigint,
  error              text,
  created_at         timestamptz not null default now(),
  finished_at        timestamptz
);

-- At most one row: the version every reader uses.
create table public.recommender_active (
  singleton     boolean primary key default true check (singleton),
  model_version bigint not null references public.recommender_models (version),
  activated_at  timestamptz not null default now()
);

-- For each item, its top-k neighbours: a user's score for neighbour_id sums weight over what they rated.
create table public.item_neighbours (
  model_version bigint not null references public.recommender_models (version) on delete cascade,
  item_id       bigint not null references public.items (id) on delete cascade,
  neighbour_id  bigint not null references public.items (id) on delete cascade,
  weight        real not null,
  primary key (model_version, item_id, neighbour_id)
) with (fillfactor = 100);
create index item_neighbours_neighbour_idx on public.item_neighbours (neighbour_id);

create table public.item_biases (
  model_version bigint not null references public.recommender_models (version) on delete cascade,
  item_id       bigint not null references public.items (id) on delete cascade,
  bias          real not null,
  primary key (model_version, item_id)
);

alter table public.recommender_models enable row level security;
alter table public.recommender_active enable row level security;
alter table public.item_neighbours enable row level security;
alter table public.item_biases enable row level security;
-- No policies: the model is read and written through the service role's functions only.
revoke all on public.recommender_models, public.recommender_active, public.item_neighbours, public.item_biases
  from anon, authenticated;
grant select, insert, update, delete on public.recommender_models, public.recommender_active,
  public.item_neighbours, public.item_biases to service_role;
