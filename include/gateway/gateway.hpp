#pragma once
// Everything the library offers to C++ hosts, in one include.
#include <gateway/client.hpp>
#include <gateway/config.hpp>
#include <gateway/error.hpp>
#include <gateway/evaluate.hpp>
#include <gateway/filter.hpp>
#include <gateway/http.hpp>
#include <gateway/log.hpp>
#include <gateway/middleware.hpp>
#include <gateway/router.hpp>
#include <gateway/server.hpp>
#include <gateway/upstream.hpp>
#include <gateway/version.hpp>
#include <gateway/waf.hpp>
