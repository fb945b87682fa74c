#pragma once
// The per-connection runtime of a filter chain: the filter_context a request's
// filters see, the hooks run in order (forward for the request, reverse for
// the response), pauses, local replies and exceptions. It knows nothing of
// sockets: the connection drives it, and an in-process evaluation can too.
#include <gateway/filter.hpp>

#include <atomic>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace gateway {

// Owned copies of header text edited by filters, reused per connection.
class header_map::storage {
 public:
  std::string_view copy(std::string_view text);
  void reset() noexcept;

 private:
  struct block {
    std::unique_ptr<char[]> data;
    std::size_t size;
  };
  std::vector<block> blocks_;  // the first is kept by reset
  std::size_t used_ = 0;       // in blocks_.back()
};

// Shared between a paused request and its resume handles. `wake` runs on any
// thread; the connection makes it post to its own executor.
struct resume_handle::state {
  std::atomic<bool> used{false};
  std::function<void()> wake;
};

// What a run of one phase ended with.
struct chain_step {
  filter_status status = filter_status::next;
  std::size_t at = 0;  // the filter that paused or stopped
};

// The request facts a chain reads, set by whoever drives it.
struct chain_request {
  std::string_view method, path, query, host, scheme = "http", client_ip, request_id, listener;
  std::string_view target, protocol = "HTTP/1.1", local_ip;
  std::uint16_t client_port = 0, local_port = 0;
  const route* matched_route = nullptr;
  const route_rule* matched_rule = nullptr;
  const tls_info* tls = nullptr;  // null on plain HTTP
};

// Told about every hook a filter ran, with what it returned; an in-process
// evaluation records decisions with it. Null on the proxy path.
struct waf_verdict;
class chain_observer;

// A chain with an observer puts it here in the request's state
// (filter_context::state), so a filter that knows more than its status can
// tell it; on the proxy path it stays null.
struct observer_slot {
  chain_observer* observer = nullptr;
};

class chain_observer {
 public:
  virtual void ran(std::size_t filter, std::string_view phase, filter_status status) = 0;
  // Filter `filter` paused and was not resumed in time (the chain answers 504).
  virtual void resume_timed_out(std::size_t filter) = 0;
  // What a WAF filter decided on the request, in full (rules, messages).
  virtual void waf_decided(const waf_verdict& verdict) = 0;

 protected:
  ~chain_observer() = default;
};

class filter_chain final : public filter_context {
 public:
  filter_chain() = default;

  // Makes the request's filters (gateway-level `first`, then route-level
  // `second`). False when a factory threw: a 500 reply is then set.
  bool begin(std::span<const filter_ref> first, std::span<const filter_ref> second,
             const chain_request& request, std::vector<http::header>& request_fields);
  // Where filter failures are logged (set once).
  void set_error_log(std::function<void(std::string_view)> log) { on_error_ = std::move(log); }
  bool active() const noexcept { return !filters_.empty(); }
  void set_observer(chain_observer* observer) noexcept { observer_ = observer; }
  // Filter `at` paused and its resume() did not come in time: the request is
  // answered 504.
  void resume_timed_out(std::size_t at);
  // The registered name of filter `i` of the current request.
  std::string_view filter_name(std::size_t i) const noexcept { return *filters_[i].name; }
  // begin() was called and finish() not yet.
  bool in_use() const noexcept { return begun_; }
  // The request head's bytes are about to go: request_headers() is empty from now on.
  void end_request_head() noexcept {
    request_map_ = header_map(no_fields_, text_);
    request_.target = {};
  }
  std::uint8_t hooks() const noexcept { return hooks_; }
  // on_log on every created filter (once; finish() does it if not done).
  void run_log() noexcept;
  // Ends the request: frees the filters and everything the request used.
  void finish() noexcept;

  // The phases; `from` is where a paused run goes on (the paused filter's index + 1
  // for the request phases; for the response phases, the index to continue at).
  chain_step run_request(std::size_t from);
  chain_step run_request_body(std::size_t from, std::string_view data, bool end);
  // Response phases run over the filters whose on_request ran, last first.
  chain_step run_response(std::size_t from, int status, std::vector<http::header>& fields);
  chain_step run_response_body(std::size_t from, body_chunk& chunk);
  chain_step run_response_trailers(std::size_t from, std::vector<http::header>& trailers);
  // Runs on_resume of the filter at `at` after its pause ended.
  filter_status run_resumed(std::size_t at);
  // The first index for a response phase run.
  std::size_t response_start() const noexcept { return entered_; }

  // The reply a filter (or a filter failure) asked for.
  bool has_reply() const noexcept { return reply_status_ != 0; }
  int reply_status() const noexcept { return reply_status_; }
  std::span<const http::header> reply_fields() const noexcept { return reply_fields_; }
  std::string_view reply_body() const noexcept { return reply_body_; }
  void clear_reply() noexcept;
  std::uint64_t body_buffer_limit() const noexcept { return buffer_limit_; }
  bool wants_whole_body() const noexcept { return buffer_whole_; }
  body_overflow body_overflow_action() const noexcept { return overflow_; }
  // How much of the response body to hold before the body hooks (0: none).
  std::uint64_t response_hold() const noexcept { return response_hold_; }
  // A filter asked for the connection to be closed without an answer.
  bool dropped() const noexcept { return drop_; }
  // How a pause is resumed: `make_wake` returns what the handle runs.
  void set_waker(std::function<std::function<void()>()> make_wake) {
    make_wake_ = std::move(make_wake);
  }
  std::span<const std::pair<std::string, std::string>> all_metadata() const noexcept {
    return {metadata_.data(), metadata_count_};
  }

  // filter_context
  std::string_view method() const noexcept override { return request_.method; }
  std::string_view path() const noexcept override { return request_.path; }
  std::string_view query() const noexcept override { return request_.query; }
  std::string_view host() const noexcept override { return request_.host; }
  std::string_view scheme() const noexcept override { return request_.scheme; }
  std::string_view target() const noexcept override { return request_.target; }
  std::string_view protocol() const noexcept override { return request_.protocol; }
  std::uint16_t client_port() const noexcept override { return request_.client_port; }
  std::string_view local_ip() const noexcept override { return request_.local_ip; }
  std::uint16_t local_port() const noexcept override { return request_.local_port; }
  header_map& request_headers() noexcept override { return request_map_; }
  void set_query(std::string_view query) override {
    request_.query = text_.copy(query);
    query_changed_ = true;
  }
  // True when a filter replaced the query (then query() is the new one).
  bool query_changed() const noexcept { return query_changed_; }
  std::string_view client_ip() const noexcept override { return request_.client_ip; }
  std::string_view request_id() const noexcept override { return request_.request_id; }
  std::string_view listener() const noexcept override { return request_.listener; }
  const tls_info* tls() const noexcept override { return request_.tls; }
  const route* matched_route() const noexcept override { return request_.matched_route; }
  const route_rule* matched_rule() const noexcept override { return request_.matched_rule; }
  int response_status() const noexcept override { return response_status_; }
  header_map& response_headers() noexcept override { return response_map_; }
  header_map& response_trailers() noexcept override { return trailers_map_; }
  void send_local_reply(int status, std::string_view body,
                        std::span<const http::header> headers) override;
  void buffer_request_body(std::uint64_t limit, body_overflow overflow) noexcept override;
  void buffer_response_body(std::uint64_t limit) noexcept override;
  void drop_connection() noexcept override;
  resume_handle pause_handle() override;
  void set_metadata(std::string_view key, std::string_view value) override;
  std::optional<std::string_view> metadata(std::string_view key) const noexcept override;
  filter_arena& arena() noexcept override { return arena_; }
  void count(filter_counter counter, std::uint64_t n) noexcept override {
    if (!counts_ || !counter.valid()) return;
    if (counter.id() >= counts_->size()) {
      try {
        counts_->resize(counter.id() + 1);  // once per counter and worker
      } catch (...) {
        return;
      }
    }
    (*counts_)[counter.id()] += n;
  }
  // Where count() adds: the worker's counters by filter_counter id (set once).
  void set_counts(std::vector<std::uint64_t>* counts) noexcept { counts_ = counts; }

 protected:
  void* find_state(const void* key) const noexcept override;
  void put_state(const void* key, void* object) override;

 private:
  // Runs `hook` on filter `i`; exceptions become a 500 reply.
  template <class Hook>
  filter_status call(std::size_t i, Hook&& hook) noexcept;
  void fail(std::size_t i, std::string_view what) noexcept;

  struct entry {
    filter* instance;
    std::uint8_t hooks;
    const std::string* name;
  };
  std::vector<std::uint64_t>* counts_ = nullptr;
  std::vector<entry> filters_;
  std::size_t entered_ = 0;  // filters whose on_request has run
  std::uint8_t hooks_ = 0;
  chain_request request_;
  std::vector<http::header> no_fields_;
  header_map::storage text_;
  header_map request_map_{no_fields_, text_};
  header_map response_map_{no_fields_, text_};
  header_map trailers_map_{no_fields_, text_};
  int response_status_ = 0;
  int reply_status_ = 0;
  std::vector<http::header> reply_fields_;
  std::string reply_body_;
  std::uint64_t buffer_limit_ = 0;
  bool buffer_whole_ = false;
  body_overflow overflow_ = body_overflow::reject;
  std::uint64_t response_hold_ = 0;
  bool drop_ = false;
  bool query_changed_ = false;
  bool logged_ = false;
  bool begun_ = false;
  std::vector<std::pair<std::string, std::string>> metadata_;  // capacity and strings reused
  std::size_t metadata_count_ = 0;
  std::vector<std::pair<const void*, void*>> states_;
  filter_arena arena_;
  std::function<std::function<void()>()> make_wake_;
  std::function<void(std::string_view)> on_error_;
  chain_observer* observer_ = nullptr;
};

}  // namespace gateway
