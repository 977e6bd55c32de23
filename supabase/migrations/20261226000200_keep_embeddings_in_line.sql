-- Keep each item's embedding in its row (issue 12, session 4).
--
-- pgvector's vector type is stored EXTERNAL: once a row is over PostgreSQL's TOAST threshold (about 2 kB) its
-- embedding (1.5 kB at 384 dimensions) is the first value moved out of line. The search columns of issue 12
-- (search_document, title_keys, people_keys) put the average movie row over it, so every embedding went to
-- the TOAST table (19 MB of the 20,000-item benchmark catalog; none before). A filtered search ranks the
-- rows that pass the filter by exact distance (match_items: the language and year indexes, then a sort),
-- and each of those rows' embedding was then fetched from TOAST: 7 ms against 1.4 ms for the 732 Hindi
-- movies since 1990 of that catalog (auto_explain). MAIN keeps the embedding in the row and moves the
-- long text columns out of line first; an embedding leaves the row only if it still does not fit.
--
-- Only rows written from now on are stored this way. Rows already stored keep their out-of-line embedding
-- until they are next written (docs/operations.md, "Search keys", says how to rewrite them at once).
alter table public.movies alter column embedding set storage main;
alter table public.books alter column embedding set storage main;
