-- A sample company schema for the compose file's PostgreSQL (docker-entrypoint-initdb.d): the seed's
-- tables, with REPLICA IDENTITY FULL so that an update carries the old values of what changed.
-- The CDC bridge creates the publication and the slot itself (cdc.create_slot).
CREATE SCHEMA daisi_acme;
CREATE TABLE daisi_acme.chats (
  chat_id text PRIMARY KEY, agent_id text NOT NULL, title text, unread int DEFAULT 0,
  updated_at timestamptz DEFAULT now()
);
CREATE TABLE daisi_acme.messages (
  message_id text, chat_id text NOT NULL, agent_id text NOT NULL, body text, meta jsonb,
  message_date timestamptz NOT NULL, PRIMARY KEY (message_id, message_date)
) PARTITION BY RANGE (message_date);
CREATE TABLE daisi_acme.messages_default PARTITION OF daisi_acme.messages DEFAULT;
CREATE TABLE daisi_acme.agents (agent_id text PRIMARY KEY, name text, active boolean DEFAULT true);
ALTER TABLE daisi_acme.chats REPLICA IDENTITY FULL;
ALTER TABLE daisi_acme.messages_default REPLICA IDENTITY FULL;
ALTER TABLE daisi_acme.agents REPLICA IDENTITY FULL;
