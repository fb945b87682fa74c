#include "server/h2_stream_parts.hpp"

namespace gateway {

namespace {
void keep_small(std::string& body) noexcept {
  if (body.capacity() > h2_parts_pool::max_kept_body)
    std::string().swap(body);
  else
    body.clear();
}

template <class T>
std::size_t room(const std::vector<T>& v) noexcept {
  return v.capacity() * sizeof(T);
}
}  // namespace

void h2_stream_parts::clear() noexcept {
  watch.reset();
  in.clear();
  tunnel_fields.clear();
  keep_small(body_in);
  trailers_in_fields.clear();
  head.clear();
  keep_small(body_out);
  trailers_owned.clear();
  trailers_out.clear();
}

std::size_t h2_stream_parts::capacity() const noexcept {
  return in.capacity() + room(tunnel_fields) + body_in.capacity() + room(trailers_in_fields) +
         head.capacity() + body_out.capacity() + trailers_owned.capacity() + room(trailers_out);
}

h2_parts_pool::lease h2_parts_pool::take() {
  if (free_.empty()) return lease(new h2_stream_parts(executor_), give{this});
  lease p(free_.back().release(), give{this});
  free_.pop_back();
  return p;
}

void h2_parts_pool::give::operator()(h2_stream_parts* p) const noexcept {
  std::unique_ptr<h2_stream_parts> owned(p);
  if (pool->free_.size() >= max_free) return;
  owned->clear();
  pool->free_.push_back(std::move(owned));  // no throw: the constructor reserved max_free
}

std::size_t h2_parts_pool::bytes() const noexcept {
  std::size_t n = 0;
  for (const auto& p : free_)
    n += sizeof(h2_stream_parts) + p->capacity();
  return n;
}

}  // namespace gateway
