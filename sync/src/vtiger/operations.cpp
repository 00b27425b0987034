// The web-service operations of a session (client.hpp): listtypes, describe (cached per context), query and
// query_records, retrieve, the writes (create, update, revise, delete), sync and its probe, and call() for
// any operation by name. Each describes itself as an op_spec and goes through the session's invoke().
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "ascii.hpp"
#include "client_impl.hpp"

namespace vtsync::vtiger {

namespace asio = boost::asio;
using asio::awaitable;
using detail::iequals;
using detail::make_spec;
using detail::op_class;
using detail::op_spec;

namespace {

param_list one_param(std::string_view name, std::string value) {
  param_list params;
  params.emplace_back(std::string(name), std::move(value));
  return params;
}

}  // namespace

awaitable<api_result<json>> client::listtypes() {
  auto self = impl_;
  const op_spec spec = make_spec("listtypes", http_method::get, true, op_class::read);
  co_return co_await self->invoke(spec, param_list());
}

awaitable<api_result<json>> client::describe(std::string module) {
  auto self = impl_;
  auto& cache = self->st.describe_cache;
  if (auto it = cache.find(module); it != cache.end()) {
    co_return api_result<json>(boost::system::in_place_value, it->second);
  }
  const op_spec spec = make_spec("describe", http_method::get, true, op_class::read);
  auto answer = co_await self->invoke(spec, one_param("elementType", module));
  if (answer) cache.insert_or_assign(module, *answer);
  co_return answer;
}

void client::forget_describe(std::string_view module) {
  auto& cache = impl_->st.describe_cache;
  if (const auto it = cache.find(module); it != cache.end()) cache.erase(it);
}

awaitable<api_result<json>> client::query(std::string vtql) {
  auto self = impl_;
  const op_spec spec = make_spec("query", http_method::get, true, op_class::read);
  co_return co_await self->invoke(spec, one_param("query", std::move(vtql)));
}

awaitable<api_result<record_answer>> client::query_records(std::string vtql) {
  auto self = impl_;
  std::optional<std::vector<flat_record>> records;
  op_spec spec = make_spec("query", http_method::get, true, op_class::read);
  spec.records = &records;
  auto answer = co_await self->invoke(spec, one_param("query", std::move(vtql)));
  if (!answer) co_return api_result<record_answer>(boost::system::in_place_error, answer.error());
  record_answer out;
  if (records) {
    out.records = std::move(*records);
  } else {
    out.other = std::move(*answer);
  }
  co_return api_result<record_answer>(boost::system::in_place_value, std::move(out));
}

awaitable<api_result<json>> client::retrieve(std::string id) {
  auto self = impl_;
  const op_spec spec = make_spec("retrieve", http_method::get, true, op_class::read);
  co_return co_await self->invoke(spec, one_param("id", std::move(id)));
}

awaitable<api_result<json>> client::create(std::string module, json element) {
  auto self = impl_;
  const op_spec spec = make_spec("create", http_method::post, true, op_class::write);
  param_list params = one_param("elementType", std::move(module));
  params.emplace_back("element", encode_element(element));
  co_return co_await self->invoke(spec, params);
}

awaitable<api_result<json>> client::update(json element) {
  auto self = impl_;
  const op_spec spec = make_spec("update", http_method::post, true, op_class::write);
  co_return co_await self->invoke(spec, one_param("element", encode_element(element)));
}

awaitable<api_result<json>> client::revise(json element) {
  auto self = impl_;
  const op_spec spec = make_spec("revise", http_method::post, true, op_class::write);
  co_return co_await self->invoke(spec, one_param("element", encode_element(element)));
}

awaitable<api_result<json>> client::delete_record(std::string id) {
  auto self = impl_;
  const op_spec spec = make_spec("delete", http_method::post, true, op_class::write);
  co_return co_await self->invoke(spec, one_param("id", std::move(id)));
}

awaitable<api_result<std::optional<json>>> client::sync(std::string module, std::int64_t modified_time,
                                                        std::optional<std::string> sync_type) {
  auto self = impl_;
  // "0" counts as a missing parameter on the server (§13.2): start from 1.
  param_list params = one_param("modifiedTime", std::to_string(std::max<std::int64_t>(1, modified_time)));
  if (!module.empty()) params.emplace_back("elementType", std::move(module));
  if (sync_type) params.emplace_back("syncType", std::move(*sync_type));
  op_spec spec = make_spec("sync", http_method::get, true, op_class::read);
  spec.empty_500_means_unsupported = true;
  bool unsupported = false;
  api_result<json> answer(boost::system::in_place_value, json());
  try {
    answer = co_await self->invoke(spec, params);
  } catch (const client_error& e) {
    if (e.kind() != error_kind::unsupported) throw;
    unsupported = true;
  }
  if (unsupported) {
    self->st.log().debug("vtiger: sync is not supported by this server (stock Vtiger 8 on PHP 8)");
    co_return api_result<std::optional<json>>(boost::system::in_place_value, std::nullopt);
  }
  if (!answer) co_return api_result<std::optional<json>>(boost::system::in_place_error, answer.error());
  co_return api_result<std::optional<json>>(boost::system::in_place_value, std::move(*answer));
}

awaitable<bool> client::probe_sync(std::string module) {
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto answer = co_await sync(module, now);
  if (!answer) {
    impl_->st.log().info("vtiger: sync probe for {} refused ({}); treating sync as unavailable", module,
                         answer.error().code);
    co_return false;
  }
  co_return answer->has_value();
}

awaitable<api_result<json>> client::call(std::string operation, param_list params, http_method method) {
  auto self = impl_;
  // Never send a sessionName with getchallenge or login: the server would validate it (§3.2).
  const bool prelogin = iequals(operation, "getchallenge") || iequals(operation, "login");
  const op_class cls = prelogin                       ? op_class::login
                       : iequals(operation, "logout") ? op_class::logout
                       : method == http_method::post  ? op_class::write
                                                      : op_class::read;
  const op_spec spec = make_spec(operation, method, !prelogin, cls);
  co_return co_await self->invoke(spec, params);
}

}  // namespace vtsync::vtiger
