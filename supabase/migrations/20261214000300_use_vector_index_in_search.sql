-- The nearest-neighbour searches of search always take the HNSW index (issue 12, session 2).
--
-- An embedding (384 floats, 1.5 kB) makes most catalog rows longer than TOAST's 2 kB threshold, so it is
-- stored out of line and the table's main heap looks small. The planner then costs a sequential scan and a
-- top-N sort as cheaper than the index, and does not count the detoasting of every row's embedding it
-- implies: at 8,000 books match_books took 20-35 ms that way against 3-4 ms through the index
-- (docs/benchmarks.md, issue 12). Sequential scans are off inside these two functions only; a filtered
-- search can still use the filter's own index (bitmap scans stay allowed) or the HNSW iterative scan.
alter function public.match_movies(extensions.vector, double precision, integer, text, text, integer, integer)
  set enable_seqscan = off;
alter function public.match_books(extensions.vector, double precision, integer, text, text, integer, integer)
  set enable_seqscan = off;
