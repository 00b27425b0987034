// Versioned migrations of the state schema. A migration is never edited once released: add a new one.
#include "vtsync/storage/state.hpp"

#include "sql_text.hpp"

#include <stdexcept>

namespace vtsync::storage {

namespace {

struct migration {
  int version;
  const char* release;  // the vtsync release (CHANGELOG.md) that brought it; recorded in schema_version
  const char* description;
  const char* sql;  // "@S@" stands for the quoted state schema
};

// Version 1: the state tables and the capture trigger functions.
//
// Capture (installed on each mirror table by ensure_mirror_table):
// - mark_pending (BEFORE INSERT OR UPDATE): a user's insert, or an update that changes a data column, sets
//   _sync_state = 'pending'. An update of internal columns only (a user resetting _sync_state) is left as is.
// - capture (AFTER INSERT OR UPDATE OR DELETE): one outbox row per user change, in the user's transaction,
//   and a NOTIFY on vtsync_outbox with payload "<schema>.<table>" (identical payloads of one transaction are
//   folded into one by PostgreSQL, so a bulk update does not flood the listener).
// Both return at once for the daemon's own writes (vtsync.origin = 'daemon', transaction-local).
constexpr migration migrations[] = {
    {1, "0.1.0", "state tables, outbox and capture triggers", R"sql(
CREATE TABLE @S@.mirror_tables (
  schema_name text NOT NULL,
  table_name text NOT NULL,
  module text NOT NULL,
  registered_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (schema_name, table_name)
);

CREATE TABLE @S@.cursors (
  schema_name text NOT NULL,
  module text NOT NULL,
  modifiedtime text,
  last_id text,
  last_success_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (schema_name, module)
);

CREATE TABLE @S@.backfill_ranges (
  schema_name text NOT NULL,
  module text NOT NULL,
  range_no integer NOT NULL,
  lower_id bigint NOT NULL,
  upper_id bigint NOT NULL,
  last_id_done bigint,
  done boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (schema_name, module, range_no)
);

CREATE TABLE @S@.outbox (
  id bigserial PRIMARY KEY,
  schema_name text NOT NULL,
  table_name text NOT NULL,
  module text NOT NULL,
  row_id bigint NOT NULL,
  vtiger_id text,
  op text NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
  changed_columns text[] NOT NULL DEFAULT '{}',
  old_values jsonb,
  new_values jsonb,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'in_flight', 'done', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  error text,
  idempotency_key text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX outbox_open ON @S@.outbox (id) WHERE state IN ('pending', 'in_flight');
CREATE INDEX outbox_row ON @S@.outbox (schema_name, table_name, row_id, id);
CREATE INDEX outbox_failed ON @S@.outbox (module) WHERE state = 'failed';

CREATE TABLE @S@.conflicts (
  id bigserial PRIMARY KEY,
  module text NOT NULL,
  vtiger_id text,
  field text NOT NULL,
  local_value text,
  remote_value text,
  decision text NOT NULL,
  at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION @S@.mark_pending() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  internal constant text[] := ARRAY['_row_id', 'vtiger_id', '_sync_state', '_sync_error', '_sync_base'];
BEGIN
  IF current_setting('vtsync.origin', true) = 'daemon' THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'INSERT' THEN
    NEW._sync_state := 'pending';
    NEW._sync_error := NULL;
  ELSIF (to_jsonb(NEW) - internal) IS DISTINCT FROM (to_jsonb(OLD) - internal) THEN
    NEW._sync_state := 'pending';
  END IF;
  RETURN NEW;
END
$fn$;

CREATE FUNCTION @S@.capture() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  internal constant text[] := ARRAY['_row_id', 'vtiger_id', '_sync_state', '_sync_error', '_sync_base'];
  o jsonb;
  n jsonb;
  changed text[];
BEGIN
  IF current_setting('vtsync.origin', true) = 'daemon' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    n := to_jsonb(NEW) - internal;
    INSERT INTO @S@.outbox (schema_name, table_name, module, row_id, vtiger_id, op, changed_columns,
                            new_values, idempotency_key)
    VALUES (TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[0], NEW._row_id, NEW.vtiger_id, 'insert',
            ARRAY(SELECT e.key FROM jsonb_each(n) e WHERE e.value <> 'null'::jsonb ORDER BY e.key), n,
            gen_random_uuid()::text);
  ELSIF TG_OP = 'UPDATE' THEN
    o := to_jsonb(OLD) - internal;
    n := to_jsonb(NEW) - internal;
    SELECT array_agg(e.key ORDER BY e.key) INTO changed
      FROM jsonb_each(n) e WHERE e.value IS DISTINCT FROM o -> e.key;
    IF changed IS NULL THEN
      RETURN NULL;  -- only internal columns changed: nothing to push
    END IF;
    INSERT INTO @S@.outbox (schema_name, table_name, module, row_id, vtiger_id, op, changed_columns,
                            old_values, new_values)
    VALUES (TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[0], NEW._row_id, NEW.vtiger_id, 'update', changed,
            (SELECT jsonb_object_agg(k, o -> k) FROM unnest(changed) k),
            (SELECT jsonb_object_agg(k, n -> k) FROM unnest(changed) k));
  ELSE
    INSERT INTO @S@.outbox (schema_name, table_name, module, row_id, vtiger_id, op, old_values)
    VALUES (TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[0], OLD._row_id, OLD.vtiger_id, 'delete',
            to_jsonb(OLD) - internal);
  END IF;
  PERFORM pg_notify('vtsync_outbox', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);
  RETURN NULL;
END
$fn$;

-- For the push: timestamptz values of a captured row shifted into the Vtiger server's zone (PostgreSQL has
-- the time zone database), plus each column's type so the client can format the rest.
CREATE FUNCTION @S@.render_values(p_schema text, p_table text, vals jsonb, zone text,
                                  OUT shifted jsonb, OUT types jsonb)
LANGUAGE sql STABLE AS $fn$
  SELECT coalesce(jsonb_object_agg(e.key,
           CASE WHEN a.atttypid = 'timestamptz'::regtype AND jsonb_typeof(e.value) = 'string'
                THEN to_jsonb(to_char((e.value #>> '{}')::timestamptz AT TIME ZONE zone, 'YYYY-MM-DD HH24:MI:SS'))
                ELSE e.value END), '{}'::jsonb),
         coalesce(jsonb_object_agg(e.key, format_type(a.atttypid, NULL)), '{}'::jsonb)
  FROM jsonb_each(coalesce(vals, '{}'::jsonb)) e
  JOIN pg_attribute a ON a.attrelid = to_regclass(quote_ident(p_schema) || '.' || quote_ident(p_table))
                     AND a.attname = e.key AND a.attnum > 0 AND NOT a.attisdropped
$fn$;
)sql"},
    // Version 2: several Vtiger instances share the state schema, each with its own mirror schema. Cursors,
    // backfill ranges, mirror_tables and the outbox were keyed by schema from the start; the conflicts log
    // was keyed by module only, so the same module of two instances could not be told apart there.
    {2, "0.1.0", "conflicts log keyed by mirror schema (several Vtiger instances)", R"sql(
ALTER TABLE @S@.conflicts ADD COLUMN schema_name text;
CREATE INDEX conflicts_module ON @S@.conflicts (schema_name, module, at);
)sql"},
    // Version 3: mirror tables whose local writes are refused (pull-only modules, Users and Groups). The
    // statement trigger (install_write_refusal, schema.hpp) passes what the table is, why, and what to do;
    // the daemon's own writes pass.
    {3, "0.3.0", "refusal of local writes on pull-only and read-only mirror tables", R"sql(
CREATE FUNCTION @S@.refuse_write() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF current_setting('vtsync.origin', true) = 'daemon' THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION '%.% is %: % is refused', quote_ident(TG_TABLE_SCHEMA), quote_ident(TG_TABLE_NAME),
    TG_ARGV[0], TG_OP
    USING ERRCODE = 'insufficient_privilege', DETAIL = TG_ARGV[1], HINT = TG_ARGV[2];
END
$fn$;
)sql"},
    // Version 4: the inventory modules' line item tables (line_rows.hpp). A user's change of a line is
    // captured as an `update` entry of its HEADER row with changed column "LineItems" (added to the header's
    // pending update if it has one; none while the header's create is pending: the create reads the lines
    // when it is sent), and the header row becomes 'pending'. A line names its header by parent_row_id or
    // parent_id (the other is filled in). The trigger arguments name the header table and its module.
    {4, "0.3.0", "inventory line items: capture of line changes as changes of their header", R"sql(
CREATE FUNCTION @S@.mark_line_pending() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  internal constant text[] := ARRAY['_row_id', 'vtiger_id', '_sync_state', '_sync_error', '_sync_base'];
  header constant text := format('%I.%I', TG_ARGV[0], TG_ARGV[1]);
BEGIN
  IF current_setting('vtsync.origin', true) = 'daemon' THEN
    RETURN NEW;
  END IF;
  IF NEW.parent_row_id IS NULL AND NEW.parent_id IS NOT NULL THEN
    EXECUTE format('SELECT _row_id FROM %s WHERE vtiger_id = $1', header) INTO NEW.parent_row_id
      USING NEW.parent_id;
  END IF;
  IF NEW.parent_row_id IS NULL THEN
    RAISE EXCEPTION 'a line item of % needs its header: parent_row_id (the header row''s _row_id) or parent_id (its vtiger_id)', header
      USING ERRCODE = 'not_null_violation';
  END IF;
  IF TG_OP = 'INSERT' THEN
    EXECUTE format('SELECT vtiger_id FROM %s WHERE _row_id = $1', header) INTO NEW.parent_id USING NEW.parent_row_id;
    NEW._sync_state := 'pending';
    NEW._sync_error := NULL;
  ELSE
    IF NEW.parent_row_id IS DISTINCT FROM OLD.parent_row_id THEN
      EXECUTE format('SELECT vtiger_id FROM %s WHERE _row_id = $1', header) INTO NEW.parent_id
        USING NEW.parent_row_id;
    END IF;
    IF (to_jsonb(NEW) - internal) IS DISTINCT FROM (to_jsonb(OLD) - internal) THEN
      NEW._sync_state := 'pending';
    END IF;
  END IF;
  RETURN NEW;
END
$fn$;

CREATE FUNCTION @S@.line_changed(h_schema text, h_table text, h_module text, h_row bigint)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  h_found boolean;
  h_id text;
  e bigint;
  n integer := 0;
BEGIN
  EXECUTE format('SELECT true, vtiger_id FROM %I.%I WHERE _row_id = $1', h_schema, h_table)
    INTO h_found, h_id USING h_row;
  IF h_found IS NULL THEN
    RETURN;  -- the header is gone (its DELETE cascaded here): the header's delete is what is pushed
  END IF;
  IF NOT EXISTS (SELECT 1 FROM @S@.outbox WHERE schema_name = h_schema AND table_name = h_table
                 AND row_id = h_row AND state = 'pending' AND op = 'insert') THEN
    SELECT id INTO e FROM @S@.outbox WHERE schema_name = h_schema AND table_name = h_table AND row_id = h_row
      AND state = 'pending' AND op = 'update' ORDER BY id DESC LIMIT 1;
    IF e IS NOT NULL THEN
      UPDATE @S@.outbox SET changed_columns = CASE WHEN 'LineItems' = ANY(changed_columns) THEN changed_columns
                                                   ELSE array_append(changed_columns, 'LineItems') END
        WHERE id = e AND state = 'pending';
      GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    IF n = 0 THEN
      INSERT INTO @S@.outbox (schema_name, table_name, module, row_id, vtiger_id, op, changed_columns,
                              old_values, new_values)
      VALUES (h_schema, h_table, h_module, h_row, h_id, 'update', ARRAY['LineItems'], '{}'::jsonb, '{}'::jsonb);
    END IF;
  END IF;
  EXECUTE format('UPDATE %I.%I SET _sync_state = ''pending'' WHERE _row_id = $1 AND _sync_state <> ''pending''',
                 h_schema, h_table) USING h_row;
  PERFORM pg_notify('vtsync_outbox', h_schema || '.' || h_table);
END
$fn$;

CREATE FUNCTION @S@.capture_line() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  internal constant text[] := ARRAY['_row_id', 'vtiger_id', '_sync_state', '_sync_error', '_sync_base'];
BEGIN
  IF current_setting('vtsync.origin', true) = 'daemon' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    IF (to_jsonb(NEW) - internal) IS NOT DISTINCT FROM (to_jsonb(OLD) - internal) THEN
      RETURN NULL;  -- only internal columns changed
    END IF;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    PERFORM @S@.line_changed(TG_ARGV[0], TG_ARGV[1], TG_ARGV[2], NEW.parent_row_id);
    IF TG_OP = 'UPDATE' THEN
      IF OLD.parent_row_id IS DISTINCT FROM NEW.parent_row_id THEN
        PERFORM @S@.line_changed(TG_ARGV[0], TG_ARGV[1], TG_ARGV[2], OLD.parent_row_id);
      END IF;
    END IF;
  ELSE
    PERFORM @S@.line_changed(TG_ARGV[0], TG_ARGV[1], TG_ARGV[2], OLD.parent_row_id);
  END IF;
  RETURN NULL;
END
$fn$;
)sql"},
    // Version 5: the related lists (relations.hpp). Vtiger's web service can add a link but not remove or
    // change one (no delete_related): a user's UPDATE or DELETE of a link Vtiger has is refused (the
    // daemon's own writes, and rows never pushed, pass). relation_loads: the walk reading the links of
    // records mirrored before their list was configured.
    {5, "0.3.0", "related lists: refusal of unlinking through SQL, the first read of a new list's links",
     R"sql(
CREATE TABLE @S@.relation_loads (
  schema_name text NOT NULL,
  module text NOT NULL,
  label text NOT NULL,
  last_id bigint NOT NULL DEFAULT 0,
  done boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (schema_name, module, label)
);

CREATE FUNCTION @S@.refuse_unlink() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  internal constant text[] := ARRAY['_row_id', 'vtiger_id', '_sync_state', '_sync_error', '_sync_base'];
BEGIN
  IF current_setting('vtsync.origin', true) = 'daemon' OR OLD.vtiger_id IS NULL THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) - internal) = (to_jsonb(OLD) - internal) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION '%.%: the link % cannot be removed or changed here (% is refused)', quote_ident(TG_TABLE_SCHEMA),
    quote_ident(TG_TABLE_NAME), OLD.vtiger_id, TG_OP
    USING ERRCODE = 'insufficient_privilege',
          DETAIL = 'Vtiger''s web service adds links (add_related) but cannot remove one: it has no delete_related.',
          HINT = 'Unlink the records in Vtiger (the related list''s unlink): the next pull of the source record removes this row.';
END
$fn$;
)sql"},
};

std::string with_schema(std::string_view sql, const std::string& schema) {
  std::string out;
  constexpr std::string_view marker = "@S@";
  std::size_t pos = 0;
  while (true) {
    const auto next = sql.find(marker, pos);
    out.append(sql.substr(pos, next - pos));
    if (next == std::string_view::npos) break;
    out += schema;
    pos = next + marker.size();
  }
  return out;
}

}  // namespace

int latest_state_version() noexcept { return migrations[std::size(migrations) - 1].version; }

std::vector<std::string> migration_releases() {
  std::vector<std::string> out;
  for (const auto& m : migrations) out.emplace_back(m.release);
  return out;
}

asio::awaitable<int> migrate(connection& conn, std::string_view state_schema) {
  const std::string schema = quote_ident(state_schema);
  const auto key = std::to_string(detail::lock_key("vtsync.migrate:" + std::string{state_schema}));
  co_return co_await run_transaction(conn, [&](connection& c) -> asio::awaitable<int> {
    // Everyone takes the lock before looking: the second daemon waits here, then sees the new version.
    co_await c.query("SELECT pg_advisory_xact_lock($1::bigint)", params(key));
    co_await c.execute("CREATE SCHEMA IF NOT EXISTS " + schema + "; CREATE TABLE IF NOT EXISTS " + schema +
                       ".schema_version (version integer PRIMARY KEY, description text NOT NULL, "
                       "applied_at timestamptz NOT NULL DEFAULT now())");
    co_await c.execute("ALTER TABLE " + schema + ".schema_version ADD COLUMN IF NOT EXISTS release text");
    auto current = co_await c.query("SELECT coalesce(max(version), 0), coalesce((SELECT release FROM " +
                                    schema + ".schema_version ORDER BY version DESC LIMIT 1), '') FROM " +
                                    schema + ".schema_version");
    const int have = std::stoi(std::string{current.value(0, 0)});
    if (have > latest_state_version()) {
      // A newer vtsync migrated this database: running on it could undo what that release relies on.
      throw std::runtime_error("the state schema " + std::string{state_schema} + " is at version " +
                               std::to_string(have) + " (vtsync " + std::string{current.value(0, 1)} +
                               "), newer than this vtsyncd knows (" + std::to_string(latest_state_version()) +
                               "): run the newer vtsync, or restore a database of this release");
    }
    int applied = 0;
    for (const auto& m : migrations) {
      if (m.version <= have) continue;
      co_await c.execute(with_schema(m.sql, schema));
      co_await c.query(
          "INSERT INTO " + schema + ".schema_version (version, description, release) VALUES ($1, $2, $3)",
          params(std::to_string(m.version), std::string{m.description}, std::string{m.release}));
      ++applied;
    }
    co_return applied;
  });
}

}  // namespace vtsync::storage
