#pragma once
// A JWKS fetched over HTTP from a provider's endpoints, refreshed every
// `refresh` (and sooner when a token names a key it does not have, at most
// every few seconds), on a thread of its own so no worker waits on the
// identity provider. Workers read the current key set without a lock: each
// keeps its own copy and takes a new one when the version moves.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gateway/filter.hpp>

#include "tls/jwk.hpp"

namespace gateway::filters {

class jwks_fetcher {
 public:
  struct options {
    std::vector<std::pair<std::string, std::uint16_t>> endpoints;  // IP, port; tried in turn
    std::string host;                                              // Host field of the request
    std::string path;                                              // with the query
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
