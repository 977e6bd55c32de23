-- GET /recommendations/personalized asked the database three things one round trip at a time before it could
-- answer: is the token's session still live (issue 10), how many ratings has the user, and what does the
-- trained model recommend (issue 9). This asks all three in one call. Each answer is exactly what its own
-- function gives (check_auth_session, count_user_ratings, get_model_recommendations, all called here
-- unchanged); the model's list is only computed for a live session and a user with ratings.
--
-- Returns {"session_live": false} when the session has ended, expired or belongs to a disabled account (or is
-- null), and nothing else is read; otherwise {"session_live": true, "rating_count": n, "model_items": [rows of
-- get_model_recommendations, in its order]} with "model_items" null when the user has no ratings.
create function public.get_personalized_start(
  target_user_id uuid,
  target_session_id uuid,
  filter_item_type text default 'all',
  result_limit integer default 20
)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  rating_count integer;
  model_items jsonb;
begin
  if not coalesce(public.check_auth_session(target_session_id, target_user_id), false) then
    return jsonb_build_object('session_live', false);
  end if;
  rating_count := public.count_user_ratings(target_user_id);
  if rating_count > 0 then
    select coalesce(jsonb_agg(to_jsonb(g) - 'ordinality' order by g.ordinality), '[]'::jsonb)
      into model_items
    from public.get_model_recommendations(target_user_id, filter_item_type, result_limit) with ordinality as g;
  end if;
  return jsonb_build_object('session_live', true, 'rating_count', rating_count, 'model_items', model_items);
end;
$$;

revoke execute on function public.get_personalized_start(uuid, uuid, text, integer) from public, anon, authenticated;
grant execute on function public.get_personalized_start(uuid, uuid, text, integer) to service_role;
