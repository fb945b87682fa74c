"""The C ABI (capi/gateway.h) as ctypes declarations, and where libgateway.so is found.

Nothing here is public; gateway/__init__.py builds the Python API on it.
"""

import ctypes
import ctypes.util
import os
from pathlib import Path

# gw_status values (append-only in the C header).
(OK, ERROR, INVALID_ARGUMENT, INVALID_CONFIG, BIND_FAILED, INVALID_STATE, NOT_FOUND, NO_MEMORY,
 UNAVAILABLE) = range(9)
# gw_filter_status
CONTINUE, STOP, PAUSE = 0, 1, 2
# gw_headers_kind
REQUEST_HEADERS, RESPONSE_HEADERS, RESPONSE_TRAILERS = 0, 1, 2
# gw_stream_field
FIELDS = {
    "method": 0, "path": 1, "query": 2, "host": 3, "scheme": 4, "client_ip": 5,
    "request_id": 6, "listener": 7, "route": 8, "protocol": 9,
}
LOG_LEVELS = {"debug": 0, "info": 1, "warn": 2, "error": 3, "off": 4}


class Header(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("name_length", ctypes.c_size_t),
                ("value", ctypes.c_void_p), ("value_length", ctypes.c_size_t)]


class Request(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("method", ctypes.c_char_p), ("method_length", ctypes.c_size_t),
                ("url", ctypes.c_char_p), ("url_length", ctypes.c_size_t),
                ("headers", ctypes.POINTER(Header)), ("header_count", ctypes.c_size_t),
                ("body", ctypes.c_char_p), ("body_length", ctypes.c_size_t),
                ("client_ip", ctypes.c_char_p), ("client_ip_length", ctypes.c_size_t),
                ("listener", ctypes.c_char_p), ("listener_length", ctypes.c_size_t)]


class WafRules(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("crs", ctypes.c_int),
                ("paranoia_level", ctypes.c_int), ("inbound_anomaly_threshold", ctypes.c_int),
                ("outbound_anomaly_threshold", ctypes.c_int),
                ("files", ctypes.POINTER(ctypes.c_char_p)), ("file_count", ctypes.c_size_t),
                ("directives", ctypes.c_char_p), ("directives_length", ctypes.c_size_t),
                ("response_body", ctypes.c_int)]


class Response(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("status", ctypes.c_int),
                ("headers", ctypes.POINTER(Header)), ("header_count", ctypes.c_size_t),
                ("body", ctypes.c_char_p), ("body_length", ctypes.c_size_t)]


class WafMatch(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("rule_id", ctypes.c_int),
                ("phase", ctypes.c_int), ("severity", ctypes.c_int),
                ("paranoia_level", ctypes.c_int), ("disruptive", ctypes.c_int),
                ("message", ctypes.c_void_p), ("message_length", ctypes.c_size_t),
                ("data", ctypes.c_void_p), ("data_length", ctypes.c_size_t)]


class Limits(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("max_connections", ctypes.c_size_t),
                ("max_streams", ctypes.c_size_t),
                ("heap_soft", ctypes.c_uint64), ("heap_hard", ctypes.c_uint64),
                ("descriptors_soft", ctypes.c_uint64), ("descriptors_hard", ctypes.c_uint64),
                ("overload_interval_ms", ctypes.c_uint32)]


class ClientOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("threads", ctypes.c_uint),
                ("log", ctypes.c_void_p), ("level", ctypes.c_int),
                ("log_user_data", ctypes.c_void_p)]


class RouteBackend(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("name", ctypes.c_void_p),
                ("name_length", ctypes.c_size_t), ("weight", ctypes.c_uint32),
                ("valid", ctypes.c_int)]


# gw_waf_mode and gw_waf_action
WAF_MODES = {"On": 0, "DetectionOnly": 1, "Off": 2}
WAF_ACTIONS = ("pass", "deny", "redirect", "drop")

LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_char),
                          ctypes.c_size_t)
CONFIGURE_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_char),
                                ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p),
                                ctypes.POINTER(ctypes.c_char), ctypes.c_size_t)
RELEASE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
HOOK_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
BODY_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                           ctypes.POINTER(ctypes.c_char), ctypes.c_size_t, ctypes.c_int)
DONE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


class FilterCallbacks(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("configure", CONFIGURE_FN), ("release_config", RELEASE_FN),
                ("on_request", HOOK_FN), ("on_request_body", BODY_FN),
                ("on_response", HOOK_FN), ("on_response_body", BODY_FN),
                ("on_resume", HOOK_FN), ("on_done", DONE_FN),
                ("on_response_trailers", HOOK_FN)]


def _candidates():
    """Where libgateway.so may be, in the order tried: $GATEWAY_LIBRARY, where
    `cmake --install` put it (for an installed package), the source tree's
    build directories (for a checkout), then the system's library path."""
    env = os.environ.get("GATEWAY_LIBRARY")
    if env:
        yield Path(env)
        return
    try:
        from . import _install  # written by `cmake --install`
        yield Path(_install.LIBRARY)
        return
    except ImportError:
        pass
    checkout = Path(__file__).resolve().parents[3]  # bindings/python/gateway -> the repository
    for build in ("build", "build-release"):
        yield checkout / build / "src" / "libgateway.so"
    found = ctypes.util.find_library("gateway")
    if found:
        yield Path(found)


def load_library():
    tried = []
    for path in _candidates():
        tried.append(str(path))
        if path.is_absolute() and not path.exists():
            continue
        try:
            return _declare(ctypes.CDLL(str(path))), str(path)
        except OSError as e:
            tried[-1] += f" ({e})"
    raise OSError("libgateway.so not found; build it (cmake --build build) or set "
                  "GATEWAY_LIBRARY to its path. Tried: " + ", ".join(tried))


def _declare(lib):
    """Argument and result types of every function Python calls."""
    p, sz, st, u16p = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.POINTER(ctypes.c_uint16)
    cp, cpp = ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)
    szp = ctypes.POINTER(ctypes.c_size_t)
    signatures = {
        "gw_version_number": ([], ctypes.c_int),
        "gw_version": ([], cp),
        "gw_strerror": ([st], cp),
        "gw_errmsg": ([p], cp),
        "gw_gateway_new": ([cpp], st),
        "gw_gateway_free": ([p], None),
        "gw_gateway_set_log": ([p, st, LOG_FN, p], st),
        "gw_gateway_set_admin": ([p, cp, sz, ctypes.c_uint16], st),
        "gw_gateway_bind_all": ([p, cp, sz], st),
        "gw_gateway_set_strict": ([p, ctypes.c_int], st),
        "gw_gateway_set_limits": ([p, ctypes.POINTER(Limits)], st),
        "gw_gateway_load_yaml": ([p, cp, sz], st),
        "gw_gateway_load_file": ([p, cp], st),
        "gw_gateway_start": ([p, ctypes.c_uint], st),
        "gw_gateway_stop": ([p, ctypes.c_uint32], st),
        "gw_gateway_reload_yaml": ([p, cp, sz], st),
        "gw_gateway_reload_file": ([p, cp], st),
        "gw_gateway_config_version": ([p], ctypes.c_uint64),
        "gw_gateway_port": ([p, cp, sz, u16p], st),
        "gw_gateway_admin_port": ([p, u16p], st),
        "gw_gateway_stats": ([p, cpp, szp], st),
        "gw_gateway_config_json": ([p, cpp, szp], st),
        "gw_string_free": ([p], None),
        "gw_gateway_evaluate": ([p, ctypes.POINTER(Request), cpp, szp], st),
        "gw_gateway_add_filter": ([p, cp, sz, ctypes.POINTER(FilterCallbacks), p], st),
        "gw_stream_get": ([p, st, cpp, szp], st),
        "gw_stream_get_header": ([p, st, cp, sz, cpp, szp], st),
        "gw_stream_header_count": ([p, st, szp], st),
        "gw_stream_header_at": ([p, st, sz, ctypes.POINTER(Header)], st),
        "gw_stream_set_header": ([p, st, cp, sz, cp, sz], st),
        "gw_stream_add_header": ([p, st, cp, sz, cp, sz], st),
        "gw_stream_remove_header": ([p, st, cp, sz], st),
        "gw_stream_response_status": ([p], ctypes.c_int),
        "gw_stream_send_reply": ([p, ctypes.c_int, ctypes.POINTER(Header), sz, cp, sz], st),
        "gw_stream_drop": ([p], st),
        "gw_stream_buffer_request_body": ([p, ctypes.c_uint64], st),
        "gw_stream_set_body_chunk": ([p, cp, sz], st),
        "gw_stream_set_metadata": ([p, cp, sz, cp, sz], st),
        "gw_filter_counter": ([cp, sz], ctypes.c_uint32),
        "gw_stream_count": ([p, ctypes.c_uint32, ctypes.c_uint64], st),
        "gw_stream_get_metadata": ([p, cp, sz, cpp, szp], st),
        "gw_stream_set_user_data": ([p, p], None),
        "gw_stream_user_data": ([p], p),
        "gw_stream_pause": ([p], p),
        "gw_stream_resume": ([p], st),
        "gw_pause_free": ([p], None),
        "gw_waf_new": ([cpp], st),
        "gw_waf_free": ([p], None),
        "gw_waf_errmsg": ([p], cp),
        "gw_waf_load": ([p, ctypes.POINTER(WafRules)], st),
        "gw_waf_rule_count": ([p, szp], st),
        "gw_waf_check": ([p, ctypes.POINTER(Request), st, cpp], st),
        "gw_waf_check_response": ([p, ctypes.POINTER(Request), ctypes.POINTER(Response), st, cpp],
                                  st),
        "gw_waf_verdict_free": ([p], None),
        "gw_waf_verdict_action": ([p], st),
        "gw_waf_verdict_status": ([p], ctypes.c_int),
        "gw_waf_verdict_url": ([p], cp),
        "gw_waf_verdict_match_count": ([p], sz),
        "gw_waf_verdict_match": ([p, sz, ctypes.POINTER(WafMatch)], st),
        "gw_client_new": ([ctypes.POINTER(ClientOptions), cpp], st),
        "gw_client_free": ([p], None),
        "gw_client_errmsg": ([p], cp),
        "gw_client_load_yaml": ([p, cp, sz], st),
        "gw_client_load_file": ([p, cp], st),
        "gw_client_send": ([p, ctypes.POINTER(Request), ctypes.c_uint32, cpp], st),
        "gw_client_stats": ([p, cpp, szp], st),
        "gw_client_close": ([p], st),
        "gw_client_response_free": ([p], None),
        "gw_client_response_status": ([p], ctypes.c_int),
        "gw_client_response_header_count": ([p], sz),
        "gw_client_response_header": ([p, sz, ctypes.POINTER(Header)], st),
        "gw_client_response_body": ([p, szp], ctypes.c_void_p),
        "gw_middleware_new": ([ctypes.POINTER(ClientOptions), cpp], st),
        "gw_middleware_free": ([p], None),
        "gw_middleware_errmsg": ([p], cp),
        "gw_middleware_load_yaml": ([p, cp, sz], st),
        "gw_middleware_load_file": ([p, cp], st),
        "gw_middleware_handle": ([p, ctypes.POINTER(Request), cpp], st),
        "gw_middleware_stats": ([p, cpp, szp], st),
        "gw_middleware_close": ([p], st),
        "gw_exchange_replied": ([p], ctypes.c_int),
        "gw_exchange_response": ([p], p),
        "gw_exchange_method": ([p, szp], ctypes.c_void_p),
        "gw_exchange_target": ([p, szp], ctypes.c_void_p),
        "gw_exchange_header_count": ([p], sz),
        "gw_exchange_header": ([p, sz, ctypes.POINTER(Header)], st),
        "gw_exchange_body": ([p, szp], ctypes.c_void_p),
        "gw_exchange_respond": ([p, ctypes.c_int, ctypes.POINTER(Header), sz, cp, sz], st),
        "gw_exchange_free": ([p], None),
        "gw_router_new": ([cpp], st),
        "gw_router_free": ([p], None),
        "gw_router_errmsg": ([p], cp),
        "gw_router_load_yaml": ([p, cp, sz], st),
        "gw_router_load_file": ([p, cp], st),
        "gw_router_match": ([p, ctypes.POINTER(Request), cpp], st),
        "gw_route_match_free": ([p], None),
        "gw_route_match_listener": ([p], cp),
        "gw_route_match_route": ([p], cp),
        "gw_route_match_kind": ([p], cp),
        "gw_route_match_rule": ([p], cp),
        "gw_route_match_backend_count": ([p], sz),
        "gw_route_match_backend": ([p, sz, ctypes.POINTER(RouteBackend)], st),
    }
    for name, (args, result) in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = result
    return lib
