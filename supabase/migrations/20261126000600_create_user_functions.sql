create function public.create_user(user_email text, user_password_hash text, user_name text)
returns table (id uuid, email text, name text, created_at timestamptz)
language sql
volatile
set search_path = ''
as $$
  insert into public.users (email, password_hash, name)
  values (user_email, user_password_hash, user_name)
  returning users.id, users.email, users.name, users.created_at;
$$;

create function public.get_user_credentials(user_email text)
returns table (id uuid, email text, name text, password_hash text, created_at timestamptz)
language sql
stable
set search_path = ''
as $$
  select u.id, u.email, u.name, u.password_hash, u.created_at
  from public.users u
  where u.email = user_email;
$$;

create function public.get_user(target_user_id uuid)
returns table (id uuid, email text, name text, created_at timestamptz)
language sql
stable
set search_path = ''
as $$
  select u.id, u.email, u.name, u.created_at
  from public.users u
  where u.id = target_user_id;
$$;
