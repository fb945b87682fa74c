// The filter chain runtime and the small public types it is made of.
#include "filters/filter_chain.hpp"

#include <gateway/error.hpp>

#include <algorithm>
#include <cstring>
#include <exception>

namespace gateway {

// ---- header_map ----

std::optional<std::string_view> header_map::get(std::string_view name) const noexcept {
  if (const http::header* h = http::find_header(*fields_, name)) return h->value;
  return std::nullopt;
}

std::span<const http::header> header_map::all() const noexcept {
  return *fields_;
}

void header_map::set(std::string_view name, std::string_view value) {
  remove(name);
  add(name, value);
}

void header_map::add(std::string_view name, std::string_view value) {
  fields_->push_back({text_->copy(name), text_->copy(value)});
}

bool header_map::remove(std::string_view name) noexcept {
  auto gone = std::remove_if(fields_->begin(), fields_->end(),
                             [&](const http::header& h) { return http::iequals(h.name, name); });
  const bool any = gone != fields_->end();
  fields_->erase(gone, fields_->end());
  return any;
}

std::string_view header_map::storage::copy(std::string_view text) {
  if (text.empty()) return {};
  if (blocks_.empty() || blocks_.back().size - used_ < text.size()) {
    std::size_t size = std::max<std::size_t>(4096, text.size());
    blocks_.push_back({std::make_unique<char[]>(size), size});
    used_ = 0;
  }
  char* at = blocks_.back().data.get() + used_;
  std::memcpy(at, text.data(), text.size());
  used_ += text.size();
  return {at, text.size()};
}

void header_map::storage::reset() noexcept {
  if (blocks_.size() > 1) blocks_.erase(blocks_.begin() + 1, blocks_.end());
  used_ = 0;
}

// ---- filter_arena ----

void* filter_arena::allocate(std::size_t size, std::size_t align, void (*destroy)(void*) noexcept) {
  auto fits = [&](const block& b, std::size_t& offset) {
    offset = (used_ + align - 1) / align * align;
    return offset + size <= b.size;
  };
  std::size_t offset = 0;
  if (blocks_.empty() || !fits(blocks_.back(), offset)) {
    const std::size_t n = std::max<std::size_t>(2048, size + align);
    blocks_.push_back({std::unique_ptr<std::byte[]>(new std::byte[n]), n});
    used_ = 0;
    fits(blocks_.back(), offset);
    // A fresh block's start is aligned for any fundamental type.
  }
  void* p = blocks_.back().data.get() + offset;
  used_ = offset + size;
  if (destroy) cleanups_.push_back({destroy, p});
  return p;
}

filter_arena::~filter_arena() {
  reset();
}

void filter_arena::reset() noexcept {
  for (auto it = cleanups_.rbegin(); it != cleanups_.rend(); ++it)
    it->destroy(it->object);
  cleanups_.clear();
  if (blocks_.size() > 1) blocks_.erase(blocks_.begin() + 1, blocks_.end());
  used_ = 0;
}

// ---- resume_handle ----

void resume_handle::resume() const noexcept {
  if (!state_ || state_->used.exchange(true)) return;
  try {
    if (state_->wake) state_->wake();
  } catch (...) {  // posting can only fail on allocation; the request times out then
  }
}

// ---- filter_chain ----

bool filter_chain::begin(std::span<const filter_ref> first, std::span<const filter_ref> second,
                         const chain_request& request, std::vector<http::header>& request_fields) {
  // The head's bytes leave the connection's buffer once it is forwarded; the
  // facts filters read later (in response hooks, on_log) are copied.
  begun_ = true;
  request_ = request;
  request_.method = text_.copy(request.method);
  request_.path = text_.copy(request.path);
  request_.query = text_.copy(request.query);
  request_.host = text_.copy(request.host);
  request_map_ = header_map(request_fields, text_);
  response_map_ = header_map(no_fields_, text_);
  trailers_map_ = header_map(no_fields_, text_);
  hooks_ = 0;
  entered_ = 0;
  if (observer_) state<observer_slot>().observer = observer_;
  for (auto refs : {first, second})
    for (const filter_ref& ref : refs) {
      filter* made = nullptr;
      try {
        made = ref.factory->create(arena_);
      } catch (const std::exception& e) {
        fail(filters_.size(), e.what());
      } catch (...) {
        fail(filters_.size(), "unknown exception");
      }
      if (!made) {
        if (!has_reply()) fail(filters_.size(), "the factory made no filter");
        return false;
      }
      const std::uint8_t h = ref.factory->hooks();
      filters_.push_back({made, h, &ref.name});
      hooks_ |= h;
    }
  // Without a request hook the request phase is skipped, not run: every filter
  // counts as entered, so their response hooks run.
  if (!(hooks_ & hook_request)) entered_ = filters_.size();
  return true;
}

void filter_chain::run_log() noexcept {
  if (logged_) return;
  logged_ = true;
  for (const entry& e : filters_)
    if (e.hooks & hook_log) e.instance->on_log(*this);
}

void filter_chain::finish() noexcept {
  run_log();
  logged_ = false;
  begun_ = false;
  filters_.clear();
  arena_.reset();
  states_.clear();
  text_.reset();
  metadata_count_ = 0;
  no_fields_.clear();
  request_map_ = header_map(no_fields_, text_);
  response_map_ = header_map(no_fields_, text_);
  trailers_map_ = header_map(no_fields_, text_);
  response_status_ = 0;
  buffer_limit_ = 0;
  buffer_whole_ = false;
  overflow_ = body_overflow::reject;
  response_hold_ = 0;
  drop_ = false;
  query_changed_ = false;
  clear_reply();
}

void filter_chain::clear_reply() noexcept {
  reply_status_ = 0;
  reply_fields_.clear();
  reply_body_.clear();
}

void filter_chain::fail(std::size_t i, std::string_view what) noexcept {
  try {
    if (on_error_) {
      std::string line = "filter ";
      line.append(i < filters_.size() ? std::string_view(*filters_[i].name) : "(creating)");
      line.append(" failed: ").append(what);
      on_error_(line);
    }
    clear_reply();
    reply_status_ = 500;
    reply_body_.assign("filter error\n");
  } catch (...) {
    reply_status_ = 500;
  }
}

template <class Hook>
filter_status filter_chain::call(std::size_t i, Hook&& hook) noexcept {
  try {
    return hook(*filters_[i].instance);
  } catch (const std::exception& e) {
    fail(i, e.what());
  } catch (...) {
    fail(i, "unknown exception");
  }
  return filter_status::stop;
}

chain_step filter_chain::run_request(std::size_t from) {
  for (std::size_t i = from; i < filters_.size(); ++i) {
    entered_ = i + 1;
    if (!(filters_[i].hooks & hook_request)) continue;
    filter_status s = call(i, [&](filter& f) { return f.on_request(*this); });
    if (s == filter_status::stop && !has_reply()) fail(i, "stopped without a local reply");
    if (observer_) [[unlikely]]
      observer_->ran(i, "request", s);
    if (s != filter_status::next) return {s, i};
  }
  return {};
}

chain_step filter_chain::run_request_body(std::size_t from, std::string_view data, bool end) {
  for (std::size_t i = from; i < filters_.size(); ++i) {
    if (!(filters_[i].hooks & hook_request_body)) continue;
    filter_status s = call(i, [&](filter& f) { return f.on_request_body(*this, data, end); });
    if (s == filter_status::stop && !has_reply()) fail(i, "stopped without a local reply");
    if (observer_) [[unlikely]]
      observer_->ran(i, "request_body", s);
    if (s != filter_status::next) return {s, i};
  }
  return {};
}

chain_step filter_chain::run_response(std::size_t from, int status,
                                      std::vector<http::header>& fields) {
  response_status_ = status;
  response_map_ = header_map(fields, text_);
  for (std::size_t i = from; i-- > 0;) {
    if (!(filters_[i].hooks & hook_response)) continue;
    filter_status s = call(i, [&](filter& f) { return f.on_response(*this); });
    if (s == filter_status::stop && !has_reply()) fail(i, "stopped without a local reply");
    if (observer_) [[unlikely]]
      observer_->ran(i, "response", s);
    if (s != filter_status::next) return {s, i};
  }
  return {};
}

chain_step filter_chain::run_response_body(std::size_t from, body_chunk& chunk) {
  for (std::size_t i = from; i-- > 0;) {
    if (!(filters_[i].hooks & hook_response_body)) continue;
    filter_status s = call(i, [&](filter& f) { return f.on_response_body(*this, chunk); });
    if (s == filter_status::stop && !has_reply()) fail(i, "stopped without a local reply");
    if (observer_) [[unlikely]]
      observer_->ran(i, "response_body", s);
    if (s != filter_status::next) return {s, i};
  }
  return {};
}

chain_step filter_chain::run_response_trailers(std::size_t from,
                                               std::vector<http::header>& trailers) {
  trailers_map_ = header_map(trailers, text_);
  for (std::size_t i = from; i-- > 0;) {
    if (!(filters_[i].hooks & hook_response_trailers)) continue;
    filter_status s = call(i, [&](filter& f) { return f.on_response_trailers(*this); });
    if (s == filter_status::stop && !has_reply()) fail(i, "stopped without a local reply");
    if (observer_) [[unlikely]]
      observer_->ran(i, "response_trailers", s);
    if (s != filter_status::next) return {s, i};
  }
  return {};
}

void filter_chain::resume_timed_out(std::size_t at) {
  if (observer_) observer_->resume_timed_out(at);
  send_local_reply(504, "a filter did not resume the request in time\n", {});
}

filter_status filter_chain::run_resumed(std::size_t at) {
  filter_status s = call(at, [&](filter& f) { return f.on_resume(*this); });
  if (s == filter_status::stop && !has_reply()) fail(at, "stopped without a local reply");
  if (observer_) [[unlikely]]
    observer_->ran(at, "resume", s);
  return s;
}

void filter_chain::send_local_reply(int status, std::string_view body,
                                    std::span<const http::header> headers) {
  clear_reply();
  reply_status_ = status < 200 || status > 599 ? 500 : status;
  reply_body_.assign(body);
  for (const http::header& h : headers)
    reply_fields_.push_back({text_.copy(h.name), text_.copy(h.value)});
}

void filter_chain::buffer_request_body(std::uint64_t limit, body_overflow overflow) noexcept {
  // Several filters may ask; the smallest limit wins, and so does reject.
  buffer_limit_ = buffer_whole_ ? std::min(buffer_limit_, limit) : limit;
  overflow_ = buffer_whole_ && overflow_ == body_overflow::reject ? overflow_ : overflow;
  buffer_whole_ = true;
}

void filter_chain::buffer_response_body(std::uint64_t limit) noexcept {
  response_hold_ = response_hold_ ? std::min(response_hold_, std::max<std::uint64_t>(limit, 1))
                                  : std::max<std::uint64_t>(limit, 1);
}

void filter_chain::drop_connection() noexcept {
  clear_reply();
  reply_status_ = 400;  // what a driver without a connection to drop may answer
  drop_ = true;
}

resume_handle filter_chain::pause_handle() {
  auto s = std::make_shared<resume_handle::state>();
  if (make_wake_) s->wake = make_wake_();
  return resume_handle(std::move(s));
}

void filter_chain::set_metadata(std::string_view key, std::string_view value) {
  for (std::size_t i = 0; i < metadata_count_; ++i)
    if (metadata_[i].first == key) {
      metadata_[i].second.assign(value);
      return;
    }
  if (metadata_count_ == metadata_.size()) metadata_.emplace_back();
  metadata_[metadata_count_].first.assign(key);
  metadata_[metadata_count_].second.assign(value);
  ++metadata_count_;
}

std::optional<std::string_view> filter_chain::metadata(std::string_view key) const noexcept {
  for (std::size_t i = 0; i < metadata_count_; ++i)
    if (metadata_[i].first == key) return std::string_view(metadata_[i].second);
  return std::nullopt;
}

void* filter_chain::find_state(const void* key) const noexcept {
  for (const auto& [k, object] : states_)
    if (k == key) return object;
  return nullptr;
}

void filter_chain::put_state(const void* key, void* object) {
  states_.emplace_back(key, object);
}

}  // namespace gateway
