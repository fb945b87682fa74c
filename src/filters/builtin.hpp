#pragma once
// The built-in filters' factory builders, each in src/filters/<name>/; they
// take their JSON configuration and throw gateway::error naming a bad field.
#include <gateway/filter.hpp>

namespace gateway::filters {

std::shared_ptr<const filter_factory> make_headers(std::string_view json);
std::shared_ptr<const filter_factory> make_request_size_limit(std::string_view json);
std::shared_ptr<const filter_factory> make_direct_response(std::string_view json);
std::shared_ptr<const filter_factory> make_error_pages(std::string_view json);
std::shared_ptr<const filter_factory> make_cors(std::string_view json);
std::shared_ptr<const filter_factory> make_basic_auth(std::string_view json);
std::shared_ptr<const filter_factory> make_api_key_auth(std::string_view json);
std::shared_ptr<const filter_factory> make_ip_access(std::string_view json);
std::shared_ptr<const filter_factory> make_local_ratelimit(std::string_view json);
std::shared_ptr<const filter_factory> make_jwt(std::string_view json);
std::shared_ptr<const filter_factory> make_global_ratelimit(std::string_view json);
std::shared_ptr<const filter_factory> make_compression(std::string_view json);

}  // namespace gateway::filters
