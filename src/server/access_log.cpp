#include "server/access_log.hpp"

#include <gateway/error.hpp>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "core/json_writer.hpp"
#include "http1/head_text.hpp"

namespace gateway {
namespace {

void append_ms(std::string& out, std::uint64_t micros) {
  append_uint(out, micros / 1000);
  out.push_back('.');
  std::uint64_t frac = micros % 1000;
  out.push_back(static_cast<char>('0' + frac / 100));
  out.push_back(static_cast<char>('0' + frac / 10 % 10));
  out.push_back(static_cast<char>('0' + frac % 10));
}

}  // namespace

access_log_format::access_log_format(std::string_view format) {
  static constexpr std::pair<std::string_view, field> names[] = {
      {"time", field::time},
      {"request_id", field::request_id},
      {"client", field::client},
      {"method", field::method},
      {"protocol", field::protocol},
      {"host", field::host},
      {"path", field::path},
      {"status", field::status},
      {"bytes_in", field::bytes_in},
      {"bytes_out", field::bytes_out},
      {"duration_ms", field::duration_ms},
      {"upstream", field::upstream},
      {"upstream_ms", field::upstream_ms},
      {"route", field::route},
      {"listener", field::listener},
      {"tls_version", field::tls_version},
      {"tls_cipher", field::tls_cipher},
      {"tls_sni", field::tls_sni},
      {"client_subject", field::client_subject},
      {"grpc_status", field::grpc_status},
      {"trace_id", field::trace_id}};
  std::string literal;
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      literal.push_back(format[i]);
      continue;
    }
    auto close = format.find('%', i + 1);
    if (close == std::string_view::npos)
      throw error(errc::invalid_config, "access log format: '%' without a closing '%'");
    std::string_view name = format.substr(i + 1, close - i - 1);
    i = close;
    if (name.empty()) {  // "%%" is a literal percent sign
      literal.push_back('%');
      continue;
    }
    if (name.starts_with("meta:") && name.size() > 5) {
      if (!literal.empty()) parts_.push_back({field::literal, std::move(literal)});
      literal.clear();
      parts_.push_back({field::metadata, std::string(name.substr(5))});
      continue;
    }
    auto it = std::find_if(std::begin(names), std::end(names),
                           [&](const auto& n) { return n.first == name; });
    if (it == std::end(names))
      throw error(errc::invalid_config, fmt::format("access log format: unknown field %{}%", name));
    if (!literal.empty()) parts_.push_back({field::literal, std::move(literal)});
    literal.clear();
    parts_.push_back({it->second, {}});
  }
  if (!literal.empty()) parts_.push_back({field::literal, std::move(literal)});
  if (format.empty()) parts_.clear();
}

void access_log_format::append(const access_record& r, std::string& out) const {
  if (parts_.empty()) {
    json_writer w(out);
    std::string time;
    json_writer::append_time(time, r.time);
    std::string duration, upstream_ms;
    append_ms(duration, r.duration_us);
    w.begin_object()
        .field("time", time)
        .field("request_id", r.request_id)
        .field("client", r.client)
        .field("method", r.method)
        .field("protocol", r.protocol)
        .field("host", r.host)
        .field("path", r.path)
        .field("status", r.status)
        .field("bytes_in", r.bytes_in)
        .field("bytes_out", r.bytes_out)
        .key("duration_ms")
        .raw(duration)
        .field("upstream", r.upstream)
        .key("upstream_ms");
    if (r.upstream.empty()) {
      w.null();
    } else {
      append_ms(upstream_ms, r.upstream_us);
      w.raw(upstream_ms);
    }
    w.field("route", r.route).field("listener", r.listener);
    if (r.grpc_status >= 0) w.field("grpc_status", r.grpc_status);
    if (!r.trace_id.empty()) w.field("trace_id", r.trace_id);
    if (r.tls) {
      w.key("tls")
          .begin_object()
          .field("version", r.tls->version)
          .field("cipher", r.tls->cipher)
          .field("sni", r.tls->server_name)
          .field("resumed", r.tls->resumed);
      if (r.tls->peer_certificate) w.field("client_subject", r.tls->subject);
      w.end_object();
    }
    if (!r.metadata.empty()) {
      w.key("metadata").begin_object();
      for (const auto& [k, v] : r.metadata)
        w.field(k, v);
      w.end_object();
    }
    w.end_object();
    out.push_back('\n');
    return;
  }
  for (const part& p : parts_) {
    switch (p.what) {
      case field::literal:
        out.append(p.text);
        break;
      case field::time:
        json_writer::append_time(out, r.time);
        break;
      case field::request_id:
        out.append(r.request_id);
        break;
      case field::client:
        out.append(r.client);
        break;
      case field::method:
        out.append(r.method.empty() ? "-" : r.method);
        break;
      case field::protocol:
        out.append(r.protocol);
        break;
      case field::host:
        out.append(r.host.empty() ? "-" : r.host);
        break;
      case field::path:
        out.append(r.path.empty() ? "-" : r.path);
        break;
      case field::status:
        append_uint(out, static_cast<std::uint64_t>(r.status));
        break;
      case field::bytes_in:
        append_uint(out, r.bytes_in);
        break;
      case field::bytes_out:
        append_uint(out, r.bytes_out);
        break;
      case field::duration_ms:
        append_ms(out, r.duration_us);
        break;
      case field::upstream:
        out.append(r.upstream.empty() ? "-" : r.upstream);
        break;
      case field::upstream_ms:
        if (r.upstream.empty())
          out.push_back('-');
        else
          append_ms(out, r.upstream_us);
        break;
      case field::route:
        out.append(r.route.empty() ? "-" : r.route);
        break;
      case field::listener:
        out.append(r.listener.empty() ? "-" : r.listener);
        break;
      case field::tls_version:
        out.append(r.tls ? r.tls->version : "-");
        break;
      case field::tls_cipher:
        out.append(r.tls ? r.tls->cipher : "-");
        break;
      case field::tls_sni:
        out.append(r.tls && !r.tls->server_name.empty() ? r.tls->server_name : "-");
        break;
      case field::client_subject:
        out.append(r.tls && r.tls->peer_certificate ? r.tls->subject : "-");
        break;
      case field::grpc_status:
        if (r.grpc_status < 0)
          out.push_back('-');
        else
          append_uint(out, static_cast<std::uint64_t>(r.grpc_status));
        break;
      case field::trace_id:
        out.append(r.trace_id.empty() ? "-" : r.trace_id);
        break;
      case field::metadata: {
        std::string_view value = "-";
        for (const auto& [k, v] : r.metadata)
          if (k == p.text) value = v;
        out.append(value);
        break;
      }
    }
  }
  out.push_back('\n');
}

access_log_writer::access_log_writer(std::string path, std::size_t max_pending_bytes)
    : path_(std::move(path)), max_pending_(max_pending_bytes) {
  fd_ = open_file();
  thread_ = std::thread([this] { run(); });
}

access_log_writer::~access_log_writer() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  if (fd_ > 2) ::close(fd_);
}

int access_log_writer::open_file() const {
  if (path_ == "-") return STDERR_FILENO;
  int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    throw error(errc::invalid_config,
                fmt::format("access log {}: cannot open: {}", path_, std::strerror(errno)));
  return fd;
}

void access_log_writer::submit(std::string batch) {
  if (batch.empty()) return;
  {
    std::lock_guard lock(mutex_);
    if (pending_ + batch.size() > max_pending_) {
      dropped_ += static_cast<std::uint64_t>(std::count(batch.begin(), batch.end(), '\n'));
      return;
    }
    pending_ += batch.size();
    queue_.push_back(std::move(batch));
  }
  wake_.notify_one();
}

void access_log_writer::reopen() {
  {
    std::lock_guard lock(mutex_);
    reopen_ = true;
  }
  wake_.notify_one();
}

std::uint64_t access_log_writer::dropped_lines() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

void access_log_writer::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || reopen_ || !queue_.empty(); });
    if (reopen_) {
      reopen_ = false;
      lock.unlock();
      try {
        int fd = open_file();
        if (fd_ > 2) ::close(fd_);
        fd_ = fd;
      } catch (...) {
        // Keep writing to the old descriptor; the next reopen tries again.
      }
      lock.lock();
    }
    if (queue_.empty()) {
      if (stop_) return;
      continue;
    }
    std::string batch = std::move(queue_.front());
    queue_.pop_front();
    pending_ -= batch.size();
    lock.unlock();
    std::size_t off = 0;
    while (off < batch.size()) {
      ssize_t n = ::write(fd_, batch.data() + off, batch.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // a full disk loses this batch, not the gateway
      off += static_cast<std::size_t>(n);
    }
    lock.lock();
  }
}

}  // namespace gateway
