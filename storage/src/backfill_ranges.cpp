// The backfill ranges repository (backfill_ranges.hpp).
#include "vtsync/storage/backfill_ranges.hpp"

#include "sql_text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace vtsync::storage {

std::vector<backfill_range> split_id_range(std::int64_t lower, std::int64_t upper, int parts) {
  std::vector<backfill_range> out;
  if (upper < lower || parts < 1) return out;
  const auto span = static_cast<unsigned long long>(upper - lower) + 1ull;
  const auto count = std::min<unsigned long long>(span, static_cast<unsigned long long>(parts));
  const auto step = span / count, extra = span % count;
  std::int64_t next = lower;
  for (unsigned long long i = 0; i < count; ++i) {
    const auto size = step + (i < extra ? 1 : 0);
    backfill_range r;
    r.range_no = static_cast<int>(i);
    r.lower_id = next;
    r.upper_id = static_cast<std::int64_t>(static_cast<unsigned long long>(next) + size - 1);
    out.push_back(r);
    next = r.upper_id + 1;
  }
  return out;
}

backfill_ranges::backfill_ranges(connection& conn, state_options options)
    : conn_(conn), options_(std::move(options)) {}

asio::awaitable<void> backfill_ranges::plan_backfill(std::string_view module,
                                                     std::span<const backfill_range> ranges) {
  auto plan = nlohmann::json::array();
  for (const auto& r : ranges) {
    plan.push_back(
        {{"range_no", r.range_no},
         {"lower_id", r.lower_id},
         {"upper_id", r.upper_id},
         {"last_id_done", r.last_id_done ? nlohmann::json(*r.last_id_done) : nlohmann::json(nullptr)},
         {"done", r.done}});
  }
  const std::string state = quote_ident(options_.state_schema);
  const std::string plan_param = detail::to_param(plan);
  co_await run_transaction(
      conn_,
      [&](connection& c) -> asio::awaitable<void> {
        co_await c.query("DELETE FROM " + state + ".backfill_ranges WHERE schema_name = $1 AND module = $2",
                         params(options_.mirror_schema, std::string{module}));
        co_await c.query(
            "INSERT INTO " + state +
                ".backfill_ranges (schema_name, module, range_no, lower_id, upper_id, last_id_done, "
                "done) SELECT $1, $2, p.range_no, p.lower_id, p.upper_id, p.last_id_done, p.done "
                "FROM jsonb_to_recordset($3::jsonb) AS p(range_no integer, lower_id bigint, "
                "upper_id bigint, last_id_done bigint, done boolean)",
            params(options_.mirror_schema, std::string{module}, plan_param));
      },
      options_.retry);
}

asio::awaitable<std::vector<backfill_range>> backfill_ranges::load_backfill(std::string_view module) {
  auto res = co_await conn_.query(
      "SELECT range_no, lower_id, upper_id, last_id_done, done FROM " + quote_ident(options_.state_schema) +
          ".backfill_ranges WHERE schema_name = $1 AND module = $2 ORDER BY range_no",
      params(options_.mirror_schema, std::string{module}));
  std::vector<backfill_range> out;
  for (int i = 0; i < res.rows(); ++i) {
    backfill_range r;
    r.range_no = static_cast<int>(detail::to_i64(res.value(i, 0)));
    r.lower_id = detail::to_i64(res.value(i, 1));
    r.upper_id = detail::to_i64(res.value(i, 2));
    if (!res.is_null(i, 3)) r.last_id_done = detail::to_i64(res.value(i, 3));
    r.done = res.value(i, 4) == "t";
    out.push_back(r);
  }
  co_return out;
}

asio::awaitable<void> backfill_ranges::save_progress(connection& tx, const std::string& state_schema,
                                                     const std::string& mirror_schema,
                                                     const std::string& module,
                                                     const backfill_progress& progress) {
  const std::string sql = "UPDATE " + quote_ident(state_schema) +
                          ".backfill_ranges SET last_id_done = $4, done = $5, updated_at = "
                          "now() WHERE schema_name = $1 AND module = $2 AND range_no = $3";
  auto res =
      co_await tx.query(sql, params(mirror_schema, module, std::to_string(progress.range_no),
                                    std::to_string(progress.last_id_done), progress.done ? "true" : "false"));
  if (res.affected_rows() != 1) {
    throw pg_error(error_kind::other, "",
                   "no backfill range " + std::to_string(progress.range_no) + " planned for " + module);
  }
}

}  // namespace vtsync::storage
