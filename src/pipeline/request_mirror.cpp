#include "pipeline/request_mirror.hpp"

namespace gateway {

asio::awaitable<void> send_mirror(mirror_copy copy, mirror_counters& counters) {
  ++counters.in_flight;
  std::vector<http::header> fields;
  fields.reserve(copy.fields.size());
  for (const auto& [name, value] : copy.fields)
    fields.push_back({name, value});
  outbound_request r;
  r.method = copy.method;
  r.authority = copy.authority;
  r.target = copy.target;
  r.fields = fields;
  r.body = copy.body;
  r.timeout = copy.timeout;
  r.connect_timeout = copy.connect_timeout;
  r.max_body = 0;  // the answer is read only to let the upstream finish
  copy.to.tls = copy.tls.get();
  const outbound_response answer = co_await outbound_call(copy.to, r);
  --counters.in_flight;
  counters.counted.add(answer.status != 0
                           ? metrics::slot("gateway_mirror_requests_total", "sent")
                           : metrics::slot("gateway_mirror_requests_total", "failed"));
}

}  // namespace gateway
