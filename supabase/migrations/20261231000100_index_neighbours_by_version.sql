-- Serving latency for heavy users (issue 9, session 5). get_model_recommendations reads, for the shown items
-- only, the entries of the user's rated items' lists that point at them: `item_neighbours` where
-- neighbour_id = any(shown) and model_version = active. The only index for that was on neighbour_id alone,
-- so each probe fetched the rows of every stored version from the heap and filtered them: activation keeps
-- the previous version for a rollback, so in steady state the table holds two. For the heaviest MovieLens
-- user that was a bitmap heap scan of ~10,600 rows: 36 ms of the function's 96 (auto_explain).
-- The replacement leads with neighbour_id, so it still serves the foreign key's cascade from items, and
-- carries the version, the source item and the weight, so the read is an index-only scan (1.1 ms).
create index item_neighbours_neighbour_version_idx
  on public.item_neighbours (neighbour_id, model_version) include (item_id, weight);
drop index public.item_neighbours_neighbour_idx;
