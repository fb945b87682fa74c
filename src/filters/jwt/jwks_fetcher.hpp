#pragma once
// A JWKS fetched over HTTP or HTTPS (outbound_call) from a provider's
// endpoints, or the addresses its host name resolves to, refreshed every
// `refresh` (and sooner when a token names a key it does not have, at most
// every few seconds), on the gateway's background thread (filter_services)
// so no worker waits on the identity provider. Workers read the current key
// set without a lock: each keeps its own copy and takes a new one when the
// version moves.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gateway/filter.hpp>

#include "tls/jwk.hpp"
#include "tls/upstream_tls.hpp"

namespace gateway::filters {

class jwks_fetcher {
 public:
  struct options {
    // IP, port; tried in turn. Empty: the addresses `name` resolves to (the
    // system resolver, at each fetch), on `port`.
    std::vector<std::pair<std::string, std::uint16_t>> endpoints;
    std::string name;         // the URI's host (a name or an address)
    std::uint16_t port = 80;  // the URI's port
    std::string host;         // Host field of the request (the URI's authority)
    std::string path;         // with the query
    // HTTPS: verified against the system store, for `name` (null: plain HTTP).
    std::shared_ptr<const tls::client_context> tls;
    filter_services* services = nullptr;  // whose thread runs the fetches (the factory's)
    std::chrono::milliseconds refresh{std::chrono::minutes(5)};
    std::chrono::milliseconds timeout{std::chrono::seconds(5)};
  };
  using key_set = std::vector<tls::jwk>;

  explicit jwks_fetcher(options o);
  ~jwks_fetcher();
  jwks_fetcher(const jwks_fetcher&) = delete;
  jwks_fetcher& operator=(const jwks_fetcher&) = delete;

  // The keys this thread last saw (refreshed when a fetch published new
  // ones); null before the first successful fetch.
  const key_set* keys();
  // True once a fetch has finished, well or not (until then, requests wait).
  bool settled() const noexcept { return settled_.load(std::memory_order_acquire); }
  // Resumes `h` when the first fetch finishes (at once when it already has).
  void wait(resume_handle h);
  // Asks for an early fetch (a token named an unknown key); rate-limited.
  void refresh_soon();

 private:
  struct state;
  std::shared_ptr<state> state_;
  std::atomic<bool>& settled_;
};

}  // namespace gateway::filters
