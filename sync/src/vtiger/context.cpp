// What the sessions of one Vtiger user share (client.hpp: client_context; options.hpp: inflight_limit):
// the TLS setup, the request rate, the secrets scrubbed from messages, the counters and their hooks, and
// the in-flight limit that several contexts may share.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "client_impl.hpp"

namespace vtsync::vtiger {

namespace asio = boost::asio;
namespace ssl = asio::ssl;

namespace {

constexpr std::size_t max_remembered_secrets = 64;

// One more for `key` (the caller holds stats_mutex).
void bump(std::map<std::string, std::uint64_t, std::less<>>& counts, std::string_view key) {
  auto it = counts.find(key);
  if (it == counts.end()) it = counts.emplace(std::string(key), 0).first;
  ++it->second;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// client_context::state

client_context::state::state(asio::any_io_executor ex, client_options opts)
    : executor(std::move(ex)),
      options(std::move(opts)),
      ep(parse_endpoint(options.url)),
      rate(options.max_requests_per_second),
      rng(std::random_device{}()) {
  if (ep.tls) {
    tls.emplace(ssl::context::tls_client);
    tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    boost::system::error_code ec;
    tls->set_default_verify_paths(ec);  // the system's CAs; a missing store only matters with verify on
    if (!options.ca_file.empty()) {
      tls->load_verify_file(options.ca_file, ec);
      if (ec)
        throw client_error(error_kind::tls, "cannot load ca_file " + options.ca_file + ": " + ec.message());
    }
    tls->set_verify_mode(options.verify_tls ? ssl::verify_peer : ssl::verify_none);
    if (!options.verify_tls) {
      log().warn(
          "TLS certificate verification is DISABLED for {} (verify_tls = false): anyone between vtsync and "
          "the "
          "server can impersonate Vtiger and read the synced data. Use ca_file for a private CA instead.",
          ep.to_string());
    }
  }
}

spdlog::logger& client_context::state::log() const {
  return options.logger ? *options.logger : *spdlog::default_logger_raw();
}

asio::awaitable<void> client_context::state::pace() {
  const auto now = rate_schedule::clock::now();
  const auto slot = rate.reserve(now);
  if (slot > now) {
    asio::steady_timer timer(executor, slot);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

void client_context::state::remember_secret(const std::string& secret) {
  if (secret.empty()) return;
  secrets.push_back(secret);
  if (secrets.size() > max_remembered_secrets) secrets.erase(secrets.begin());
}

std::string client_context::state::scrub(std::string text) const {
  auto hide = [&text](const std::string& secret) {
    if (secret.empty()) return;
    for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos + 3)) {
      text.replace(pos, secret.size(), "***");
    }
  };
  hide(options.access_key);
  for (const auto& s : secrets) hide(s);
  return text;
}

client_error client_context::state::scrubbed(const client_error& e) const {
  const std::string message = scrub(e.what());
  if (message == e.what()) return e;
  client_error copy(e.kind(), message, e.http_status(), e.api());
  return copy;
}

void client_context::state::count_request(std::string_view operation) {
  {
    std::lock_guard lock(stats_mutex);
    bump(stats.requests, operation);
  }
  if (options.hooks.on_request) options.hooks.on_request(operation);
}

void client_context::state::time_answer(std::string_view operation, std::chrono::nanoseconds took) {
  if (options.hooks.on_answer) options.hooks.on_answer(operation, took);
}

void client_context::state::count_error(std::string_view code) {
  {
    std::lock_guard lock(stats_mutex);
    bump(stats.errors, code);
  }
  if (options.hooks.on_error) options.hooks.on_error(code);
}

void client_context::state::count_retry(std::string_view operation, error_kind kind) {
  {
    std::lock_guard lock(stats_mutex);
    ++stats.retries;
  }
  if (options.hooks.on_retry) options.hooks.on_retry(operation, kind);
}

void client_context::state::count_login(bool relogin) {
  {
    std::lock_guard lock(stats_mutex);
    ++stats.logins;
    if (relogin) ++stats.relogins;
  }
  if (relogin && options.hooks.on_relogin) options.hooks.on_relogin();
}

// ---------------------------------------------------------------------------------------------------------
// client_context

client_context::client_context(asio::any_io_executor executor, client_options options)
    : state_(std::make_unique<state>(std::move(executor), std::move(options))) {}
client_context::~client_context() = default;

const client_options& client_context::options() const { return state_->options; }
const endpoint& client_context::target() const { return state_->ep; }
asio::any_io_executor client_context::executor() const { return state_->executor; }
client_stats client_context::stats() const {
  std::lock_guard lock(state_->stats_mutex);
  return state_->stats;
}

// ---------------------------------------------------------------------------------------------------------
// inflight_limit

struct inflight_limit::impl {
  explicit impl(std::size_t max) : semaphore(std::max<std::size_t>(1, max)) {}
  detail::async_semaphore semaphore;
};

inflight_limit::inflight_limit(std::size_t max_in_flight) : impl_(std::make_unique<impl>(max_in_flight)) {}
inflight_limit::~inflight_limit() = default;

asio::awaitable<inflight_limit::slot> inflight_limit::acquire() {
  auto self = shared_from_this();
  co_await impl_->semaphore.acquire();
  ++in_flight_;
  co_return slot(std::move(self));
}

void inflight_limit::release() {
  --in_flight_;
  impl_->semaphore.release();
}

inflight_limit::slot& inflight_limit::slot::operator=(slot&& other) noexcept {
  if (this != &other) {
    if (owner_) owner_->release();
    owner_ = std::move(other.owner_);
  }
  return *this;
}

inflight_limit::slot::~slot() {
  if (owner_) owner_->release();
}

}  // namespace vtsync::vtiger
