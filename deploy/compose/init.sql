-- Runs once, when the compose PostgreSQL volume is first initialised
-- (docker-entrypoint-initdb.d). The ingester creates its replication slot itself.

-- Example table. REPLICA IDENTITY FULL makes UPDATE and DELETE events carry the whole old row
-- (old_record) instead of only the primary key.
CREATE TABLE IF NOT EXISTS public.users (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  email text UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE public.users REPLICA IDENTITY FULL;

-- The publication the ingester streams (PUBLICATION, default supabase_realtime).
CREATE PUBLICATION supabase_realtime FOR ALL TABLES;
