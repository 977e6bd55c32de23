-- A nearest-neighbour index per catalog language, and the search rows by language and year (issue 12, session 7).
--
-- A search filtered by language ("language=hi", the catalog's eight languages each about an eighth of it) walked
-- the whole catalog's HNSW graph and dropped the neighbours in other languages: to find 30 Hindi films released
-- since 1990 it visited about 600, each a row read to check the filter. At a million items that took 36 ms of
-- match_items' 40 (docs/benchmarks.md, issue 12, session 7). A partial index per language holds only that
-- language's items, as pgvector's documentation advises for filtering on a few values: the walk visits the
-- items that can be answers (5.7 ms). match_items plans each call with its values (force_custom_plan), so the
-- planner picks the language's index whenever the filter names one; any other language, or none, uses the
-- whole catalog's index as before. The languages are the ingest's (CINELIBRE_INGEST_LANGUAGES' default).
create index movies_embedding_en_idx on public.movies using hnsw (embedding extensions.vector_cosine_ops)
  where original_language = 'en';
create index movies_embedding_hi_idx on public.movies using hnsw (embedding extensions.vector_cosine_ops)
  where original_language = 'hi';
create index movies_embedding_te_idx on public.movies using hnsw (embedding extensions.vector_cosine_ops)
  where original_language = 'te';
create index movies_embedding_ta_idx on public.movies using hnsw (embedding extensions.vector_cosine_ops)
  where original_language = 'ta';
create index movies_embedding_kn_idx on public.movies using hnsw (embedding extensions.vector_cosine_ops)
  where original_language = 'kn';
create index movies_embedding_ml_idx on public.movies using hnsw (embedding extensions.vector_cosine_ops)
  where original_language = 'ml';
create index movies_embedding_bn_idx on public.movies using hnsw (embedding extensions.vector_cosine_ops)
  where original_language = 'bn';
create index movies_embedding_mr_idx on public.movies using hnsw (embedding extensions.vector_cosine_ops)
  where original_language = 'mr';
create index books_embedding_en_idx on public.books using hnsw (embedding extensions.vector_cosine_ops)
  where language = 'en';
create index books_embedding_hi_idx on public.books using hnsw (embedding extensions.vector_cosine_ops)
  where language = 'hi';
create index books_embedding_te_idx on public.books using hnsw (embedding extensions.vector_cosine_ops)
  where language = 'te';
create index books_embedding_ta_idx on public.books using hnsw (embedding extensions.vector_cosine_ops)
  where language = 'ta';
create index books_embedding_kn_idx on public.books using hnsw (embedding extensions.vector_cosine_ops)
  where language = 'kn';
create index books_embedding_ml_idx on public.books using hnsw (embedding extensions.vector_cosine_ops)
  where language = 'ml';
create index books_embedding_bn_idx on public.books using hnsw (embedding extensions.vector_cosine_ops)
  where language = 'bn';
create index books_embedding_mr_idx on public.books using hnsw (embedding extensions.vector_cosine_ops)
  where language = 'mr';

-- search_lexical's full-text candidates are the first 1,000 documents holding the query's rarest words that pass
-- the filters. Under a language and year filter (about 6% of the catalog) that read about 16,000 search rows to
-- keep 1,000: 24 ms at a million items. With these, the planner intersects the words' bitmap with the filter's
-- before reading any row (16 ms).
create index movie_search_language_year_idx on public.movie_search (original_language, release_year);
create index book_search_language_year_idx on public.book_search (language, published_year);
