-- Functions are executable by PUBLIC by default (and Supabase grants anon and authenticated on new ones):
-- revoke that everywhere, then grant back only the public catalog functions. Everything touching users,
-- ratings, interactions or ingest is for the service role alone.
revoke execute on all functions in schema public from public, anon, authenticated;

grant execute on function
  public.get_movie(bigint),
  public.get_book(bigint),
  public.list_movies(text, text, integer, integer, integer, integer),
  public.list_books(text, text, integer, integer, integer, integer),
  public.match_movies(extensions.vector, double precision, integer, text, text, integer, integer),
  public.match_books(extensions.vector, double precision, integer, text, text, integer, integer),
  public.search_titles(text, text, integer, text, text, text, integer, integer),
  public.get_similar_items(bigint, text, integer)
to anon, authenticated;

grant execute on all functions in schema public to service_role;

-- Personal and operational tables: no direct access for the client roles (RLS, with no policy, is the
-- second line of defence); the service role works through the functions above.
revoke all on public.users, public.ratings, public.interactions, public.ingest_runs,
  public.ingest_checkpoints from anon, authenticated;
grant select, insert, update, delete on all tables in schema public to service_role;
grant usage, select on all sequences in schema public to service_role;
