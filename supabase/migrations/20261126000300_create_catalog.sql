-- One items table that movies and books share, so ratings and interactions can reference "an item"
-- with a real foreign key. Each movie or book row owns exactly one item row of its own type.
create table public.items (
  id         bigint generated always as identity primary key,
  item_type  text not null check (item_type in ('movie', 'book')),
  -- Demo catalog rows (bundled with the project) are marked so they are never mistaken for real data.
  is_demo    boolean not null default false,
  created_at timestamptz not null default now(),
  constraint items_id_type_key unique (id, item_type)
);

create table public.movies (
  item_id           bigint primary key,
  item_type         text not null default 'movie' check (item_type = 'movie'),
  tmdb_id           integer not null,
  title             text not null check (length(title) between 1 and 500),
  original_title    text,
  overview          text,
  release_date      date,
  -- The year alone where the full date is unknown (TMDB sends "" for some titles); filters use this.
  release_year      integer check (release_year is null or release_year between 1870 and 2100),
  original_language text,
  genres            text[] not null default '{}',
  director          text,
  cast_members      jsonb not null default '[]' check (jsonb_typeof(cast_members) = 'array'),
  crew              jsonb not null default '[]' check (jsonb_typeof(crew) = 'array'),
  runtime           integer check (runtime is null or runtime >= 0),
  popularity        double precision,
  vote_average      double precision check (vote_average is null or vote_average between 0 and 10),
  vote_count        integer check (vote_count is null or vote_count >= 0),
  poster_url        text,
  embedding         extensions.vector(384),
  content_hash      text,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  constraint movies_tmdb_id_key unique (tmdb_id),
  constraint movies_item_fkey foreign key (item_id, item_type)
    references public.items (id, item_type) on delete cascade
);

create table public.books (
  item_id        bigint primary key,
  item_type      text not null default 'book' check (item_type = 'book'),
  google_id      text not null check (length(google_id) between 1 and 100),
  title          text not null check (length(title) between 1 and 500),
  subtitle       text,
  authors        text[] not null default '{}',
  description    text,
  categories     text[] not null default '{}',
  -- As the source gives it: "2005", "2005-03" or "2005-03-01". `published_year` makes it filterable.
  published_date text check (published_date is null or published_date ~ '^\d{4}(-\d{2}(-\d{2})?)?$'),
  published_year integer generated always as (substr(published_date, 1, 4)::integer) stored,
  language       text,
  page_count     integer check (page_count is null or page_count >= 0),
  isbn_10        text,
  isbn_13        text,
  thumbnail_url  text,
  publisher      text,
  average_rating double precision,
  ratings_count  integer,
  embedding      extensions.vector(384),
  content_hash   text,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  constraint books_google_id_key unique (google_id),
  constraint books_item_fkey foreign key (item_id, item_type)
    references public.items (id, item_type) on delete cascade
);

-- Deleting a movie or book removes its item, and with it (by cascade) its ratings and interactions.
create function public.delete_owning_item() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  delete from public.items where id = old.item_id;
  return old;
end;
$$;
revoke execute on function public.delete_owning_item() from public;

create trigger movies_delete_item after delete on public.movies
  for each row execute function public.delete_owning_item();
create trigger books_delete_item after delete on public.books
  for each row execute function public.delete_owning_item();

-- Vector search: HNSW (builds incrementally, unlike IVFFlat on an empty table) with the operator class
-- that matches the `<=>` cosine distance the search functions order by.
create index movies_embedding_idx on public.movies using hnsw (embedding extensions.vector_cosine_ops);
create index books_embedding_idx on public.books using hnsw (embedding extensions.vector_cosine_ops);

-- Filters and lookups.
create index movies_genres_idx on public.movies using gin (genres);
create index books_categories_idx on public.books using gin (categories);
create index movies_language_idx on public.movies (original_language);
create index movies_release_year_idx on public.movies (release_year);
create index movies_popularity_idx on public.movies (popularity desc nulls last);
create index books_language_idx on public.books (language);
create index books_published_year_idx on public.books (published_year);
create index books_isbn_13_idx on public.books (isbn_13) where isbn_13 is not null;

-- Exact and misspelt title matches ("Bahubali" -> "Baahubali"): trigram indexes on lower-cased titles.
create index movies_title_trgm_idx on public.movies using gin (lower(title) extensions.gin_trgm_ops);
create index movies_original_title_trgm_idx on public.movies using gin (lower(original_title) extensions.gin_trgm_ops);
create index books_title_trgm_idx on public.books using gin (lower(title) extensions.gin_trgm_ops);

alter table public.items enable row level security;
alter table public.movies enable row level security;
alter table public.books enable row level security;

-- The catalog is public: anyone may read it (the embedding column included; it is not personal data).
create policy items_public_read on public.items for select to anon, authenticated using (true);
create policy movies_public_read on public.movies for select to anon, authenticated using (true);
create policy books_public_read on public.books for select to anon, authenticated using (true);
grant select on public.items, public.movies, public.books to anon, authenticated;
