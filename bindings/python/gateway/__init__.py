"""The gateway as a Python library: run it in process, test routing and auth
rules against it, write filters in Python.

    from gateway import Gateway

    with Gateway(yaml_text) as gw:          # every listener on 127.0.0.1, ephemeral port
        urllib.request.urlopen(gw.url + "/api")
        result = gw.evaluate("GET", "/api", headers={"host": "app.test"})
        assert result.backend == "default/api-v1"

Everything goes through the C ABI (capi/gateway.h) with ctypes, so nothing
needs compiling and nothing comes from PyPI. Calls into the library release
the GIL; Python filter hooks and the log callback take it on the gateway's
worker threads.
"""

from __future__ import annotations

import atexit
import collections
import ctypes
import json
import logging
import os
import threading
import traceback
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from . import _native as _n

__all__ = [
    "Gateway", "GatewayError", "ConfigError", "BindError", "StateError", "NotFoundError",
    "Stream", "Headers", "Pause", "Evaluation", "FilterDecision", "UpstreamRequest",
    "LocalResponse", "CONTINUE", "STOP", "PAUSE", "version", "library_path",
    "Waf", "Verdict", "WafMatch", "Router", "Match", "Backend", "Client", "Response",
    "ArgumentError", "UnavailableError", "Middleware", "Exchange", "ForwardedRequest",
    "counter",
]

CONTINUE = _n.CONTINUE  #: a hook's "go on with the next filter"
STOP = _n.STOP  #: a hook answered (Stream.reply) or dropped (Stream.drop)
PAUSE = _n.PAUSE  #: a hook took Stream.pause() and will resume it later

_lib = None
_lib_path = None
_log = logging.getLogger("gateway")
_open: "weakref.WeakSet[Gateway]" = weakref.WeakSet()


@atexit.register
def _close_all():
    """Gateways still open at exit are stopped while the interpreter can still
    run their callbacks (their worker threads would otherwise outlive it)."""
    for gw in list(_open):
        gw.close()


def _library():
    global _lib, _lib_path
    if _lib is None:
        _lib, _lib_path = _n.load_library()
    return _lib


def library_path() -> str:
    """The libgateway.so this package loaded."""
    _library()
    return _lib_path


def version() -> str:
    """The loaded library's version, "MAJOR.MINOR.PATCH"."""
    return _library().gw_version().decode()


# ---- Errors -----------------------------------------------------------------


class GatewayError(Exception):
    """A failed call; `status` is the C gw_status, the message the library's."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class ConfigError(GatewayError):
    """The configuration is malformed or inconsistent (GW_INVALID_CONFIG)."""


class BindError(GatewayError):
    """A listener could not be opened (GW_BIND_FAILED)."""


class StateError(GatewayError):
    """Not allowed now: reload before start, filters after start (GW_INVALID_STATE)."""


class NotFoundError(GatewayError, LookupError):
    """A named listener does not exist (GW_NOT_FOUND)."""


class ArgumentError(GatewayError, ValueError):
    """A value given to a call cannot be used: a malformed URL or header (GW_INVALID_ARGUMENT)."""


class UnavailableError(GatewayError, ConnectionError):
    """A client's call ended without a whole response: the response was cut,
    or the client closed while it was in flight (GW_UNAVAILABLE)."""


_ERRORS = {_n.INVALID_CONFIG: ConfigError, _n.BIND_FAILED: BindError,
           _n.INVALID_STATE: StateError, _n.NOT_FOUND: NotFoundError,
           _n.INVALID_ARGUMENT: ArgumentError,
           _n.UNAVAILABLE: UnavailableError}


def _text(value: Union[str, bytes, None]) -> bytes:
    if value is None:
        return b""
    return value if isinstance(value, bytes) else str(value).encode()


def _header_array(headers):
    """A gw_header array for `headers` (a mapping or (name, value) pairs), its
    length, and the bytes it points into (keep them alive for the call)."""
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers or [])
    keep = [(_text(n), _text(v)) for n, v in pairs]
    array = (_n.Header * max(1, len(keep)))()
    for i, (n, v) in enumerate(keep):
        array[i].name = ctypes.cast(ctypes.c_char_p(n), ctypes.c_void_p)
        array[i].name_length = len(n)
        array[i].value = ctypes.cast(ctypes.c_char_p(v), ctypes.c_void_p)
        array[i].value_length = len(v)
    return array, len(keep), keep


def _request_struct(method, url, headers, body, client_ip="", listener=""):
    """A gw_request for the call, and what it points into (keep it alive)."""
    array, count, keep = _header_array(headers)
    rq = _n.Request()
    rq.struct_size = ctypes.sizeof(_n.Request)
    for name, value in (("method", method), ("url", url), ("body", body),
                        ("client_ip", client_ip), ("listener", listener)):
        b = _text(value)
        keep.append(b)
        setattr(rq, name, b)
        setattr(rq, name + "_length", len(b))
    rq.headers = array
    rq.header_count = count
    return rq, (array, keep)


def _from_c(ptr, length: int) -> str:
    return ctypes.string_at(ptr, length).decode("utf-8", "surrogateescape") if length else ""


# ---- What filters see -------------------------------------------------------


class Headers:
    """The request or response header fields of a stream, during a hook.

    Names are matched in any case. Values set are copied by the gateway."""

    def __init__(self, stream: "Stream", kind: int):
        self._s = stream
        self._kind = kind

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The first value of `name`, or `default`."""
        value, length = ctypes.c_void_p(), ctypes.c_size_t()
        n = _text(name)
        st = _lib.gw_stream_get_header(self._s._ptr(), self._kind, n, len(n), ctypes.byref(value),
                                       ctypes.byref(length))
        if st == _n.NOT_FOUND:
            return default
        self._s._check(st, "get header")
        return _from_c(value.value, length.value)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def __setitem__(self, name: str, value: str) -> None:
        """Replaces every field `name` with one."""
        n, v = _text(name), _text(value)
        self._s._check(_lib.gw_stream_set_header(self._s._ptr(), self._kind, n, len(n), v, len(v)),
                       "set header")

    def add(self, name: str, value: str) -> None:
        """Appends a field, keeping others of the same name."""
        n, v = _text(name), _text(value)
        self._s._check(_lib.gw_stream_add_header(self._s._ptr(), self._kind, n, len(n), v, len(v)),
                       "add header")

    def __delitem__(self, name: str) -> None:
        if not self.remove(name):
            raise KeyError(name)

    def remove(self, name: str) -> bool:
        """Removes every field `name`; False when there was none."""
        n = _text(name)
        st = _lib.gw_stream_remove_header(self._s._ptr(), self._kind, n, len(n))
        if st == _n.NOT_FOUND:
            return False
        self._s._check(st, "remove header")
        return True

    def items(self) -> List[Tuple[str, str]]:
        """Every field in order, as (name, value)."""
        count = ctypes.c_size_t()
        self._s._check(_lib.gw_stream_header_count(self._s._ptr(), self._kind, ctypes.byref(count)),
                       "count headers")
        out = []
        h = _n.Header()
        for i in range(count.value):
            self._s._check(_lib.gw_stream_header_at(self._s._ptr(), self._kind, i, ctypes.byref(h)),
                           "read header")
            out.append((_from_c(h.name, h.name_length), _from_c(h.value, h.value_length)))
        return out

    def __iter__(self):
        return iter(name for name, _ in self.items())

    def __len__(self) -> int:
        return len(self.items())


class Pause:
    """A paused request; call resume() once, from any thread."""

    def __init__(self, handle: int):
        self._handle = handle
        self._lock = threading.Lock()

    def resume(self) -> None:
        """Wakes the request: the filter's on_resume runs next on the worker."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle:
            _lib.gw_stream_resume(handle)

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle and _lib is not None:
            _lib.gw_pause_free(handle)  # never resumed: the request ends at its timeout


class Stream:
    """One request as a filter sees it. Valid during the hook call only;
    `state` is a dict kept for the request across its hooks."""

    def __init__(self, ptr: int, owner: "_FilterType", config: Any):
        self._p = ptr
        self._owner = owner
        self.config = config  #: what the filter's class made of its Filter object's config
        self.request_headers = Headers(self, _n.REQUEST_HEADERS)
        self.response_headers = Headers(self, _n.RESPONSE_HEADERS)
        #: in on_response_trailers: the response's trailers (gRPC's grpc-status, say)
        self.response_trailers = Headers(self, _n.RESPONSE_TRAILERS)

    def _ptr(self) -> int:
        if self._p is None:
            raise StateError(_n.INVALID_STATE, "this Stream was used after its hook returned")
        return self._p

    @staticmethod
    def _check(status: int, what: str) -> None:
        if status != _n.OK:
            raise _ERRORS.get(status, GatewayError)(
                status, f"{what}: {_lib.gw_strerror(status).decode()}")

    def _field(self, name: str) -> str:
        value, length = ctypes.c_void_p(), ctypes.c_size_t()
        self._check(_lib.gw_stream_get(self._ptr(), _n.FIELDS[name], ctypes.byref(value),
                                       ctypes.byref(length)), name)
        return _from_c(value.value, length.value)

    method = property(lambda self: self._field("method"))
    path = property(lambda self: self._field("path"), doc="normalized, without the query")
    query = property(lambda self: self._field("query"), doc="without '?'")
    host = property(lambda self: self._field("host"))
    scheme = property(lambda self: self._field("scheme"))
    client_ip = property(lambda self: self._field("client_ip"))
    request_id = property(lambda self: self._field("request_id"))
    listener = property(lambda self: self._field("listener"))
    route = property(lambda self: self._field("route"), doc='"namespace/name"')
    protocol = property(lambda self: self._field("protocol"))

    @property
    def response_status(self) -> int:
        """The response status from on_response on (0 before)."""
        return _lib.gw_stream_response_status(self._ptr())

    @property
    def state(self) -> Dict[str, Any]:
        """A dict of this filter's own for this request, kept across its hooks."""
        return self._owner.state_of(self._ptr())

    def reply(self, status: int, body: Union[str, bytes] = b"",
              headers: Union[Mapping[str, str], Iterable[Tuple[str, str]], None] = None) -> int:
        """Answers for the gateway; returns STOP for the hook to return."""
        array, count, _keep = _header_array(headers)
        b = _text(body)
        self._check(_lib.gw_stream_send_reply(self._ptr(), int(status), array, count, b, len(b)),
                    "reply")
        return STOP

    def drop(self) -> int:
        """Closes the client connection without an answer; returns STOP."""
        self._check(_lib.gw_stream_drop(self._ptr()), "drop")
        return STOP

    def buffer_request_body(self, limit: int) -> None:
        """From on_request: give on_request_body the whole body (up to `limit`, else 413)."""
        self._check(_lib.gw_stream_buffer_request_body(self._ptr(), int(limit)), "buffer body")

    def set_body_chunk(self, data: Union[str, bytes]) -> None:
        """From on_response_body: what the client gets instead of this piece."""
        d = _text(data)
        self._check(_lib.gw_stream_set_body_chunk(self._ptr(), d, len(d)), "set body chunk")

    def set_metadata(self, key: str, value: str) -> None:
        """Text for later filters, the access log and evaluate()'s metadata."""
        k, v = _text(key), _text(value)
        self._check(_lib.gw_stream_set_metadata(self._ptr(), k, len(k), v, len(v)), "set metadata")

    def count(self, counter: int, n: int = 1) -> None:
        """Adds `n` to a counter the filter declared with gateway.counter()
        (gateway_filter_events_total), on the request's worker."""
        self._check(_lib.gw_stream_count(self._ptr(), counter, n), "count")

    def metadata(self, key: str) -> Optional[str]:
        k = _text(key)
        value, length = ctypes.c_void_p(), ctypes.c_size_t()
        st = _lib.gw_stream_get_metadata(self._ptr(), k, len(k), ctypes.byref(value),
                                         ctypes.byref(length))
        if st == _n.NOT_FOUND:
            return None
        self._check(st, "metadata")
        return _from_c(value.value, length.value)

    def pause(self) -> Pause:
        """A handle to resume this request later; the hook then returns PAUSE."""
        handle = _lib.gw_stream_pause(self._ptr())
        if not handle:
            raise GatewayError(_n.NO_MEMORY, "pause: no handle")
        return Pause(handle)


_HOOKS = ("on_request", "on_request_body", "on_response", "on_response_body", "on_resume",
          "on_done", "on_response_trailers")


_NO_COUNTER = 0xFFFFFFFF


def counter(event: str) -> int:
    """Declares a counter for the Filter object being configured, shown as
    gateway_filter_events_total{filter, type, event}; count it with
    Stream.count(). Only while a filter class is made with its config (in
    its __init__): the gateway then knows which Filter it is for. The same
    Filter, type and event keep their count across reloads."""
    e = _text(event)
    got = _library().gw_filter_counter(e, len(e))
    if got == _NO_COUNTER:
        raise StateError(_n.INVALID_STATE,
                         "gateway.counter: only in a filter class's __init__, with a non-empty name")
    return got


class _FilterType:
    """A Python filter registered with one gateway: the C callback table over
    `target` (a class made once per Filter object's config, or a function
    called as on_request(stream))."""

    def __init__(self, gateway: "Gateway", name: str, target: Any):
        self.gateway = gateway
        self.name = name
        self.target = target
        self.configs: Dict[int, Any] = {}
        self.states: Dict[int, Dict[str, Any]] = {}
        self.next_id = 1
        self.lock = threading.Lock()
        cb = _n.FilterCallbacks()
        cb.struct_size = ctypes.sizeof(_n.FilterCallbacks)
        cb.configure = _n.CONFIGURE_FN(self._configure)
        cb.release_config = _n.RELEASE_FN(self._release)
        is_class = isinstance(target, type)
        if not is_class or hasattr(target, "on_request"):
            cb.on_request = _n.HOOK_FN(lambda u, c, s: self._hook("on_request", c, s))
        if is_class and hasattr(target, "on_request_body"):
            cb.on_request_body = _n.BODY_FN(
                lambda u, c, s, d, n, e: self._hook("on_request_body", c, s, d, n, e))
        if is_class and hasattr(target, "on_response"):
            cb.on_response = _n.HOOK_FN(lambda u, c, s: self._hook("on_response", c, s))
        if is_class and hasattr(target, "on_response_body"):
            cb.on_response_body = _n.BODY_FN(
                lambda u, c, s, d, n, e: self._hook("on_response_body", c, s, d, n, e))
        if is_class and hasattr(target, "on_response_trailers"):
            cb.on_response_trailers = _n.HOOK_FN(
                lambda u, c, s: self._hook("on_response_trailers", c, s))
        if is_class and hasattr(target, "on_resume"):
            cb.on_resume = _n.HOOK_FN(lambda u, c, s: self._hook("on_resume", c, s))
        cb.on_done = _n.DONE_FN(self._done)
        self.callbacks = cb  # kept alive as long as the gateway

    def state_of(self, stream_ptr: int) -> Dict[str, Any]:
        key = _lib.gw_stream_user_data(stream_ptr)
        if not key:
            with self.lock:
                key = self.next_id
                self.next_id += 1
                self.states[key] = {}
            _lib.gw_stream_set_user_data(stream_ptr, key)
        return self.states[key]

    def _configure(self, _user, json_ptr, length, out, error, error_size):
        try:
            text = ctypes.string_at(json_ptr, length).decode() if length else "{}"
            config = json.loads(text) if text.strip() else {}
            made = self.target(config) if isinstance(self.target, type) else config
            with self.lock:
                key = self.next_id
                self.next_id += 1
                self.configs[key] = made
            out[0] = key
            return 0
        except BaseException as e:  # a refusal, with the reason the gateway reports
            reason = f"{type(e).__name__}: {e}".encode()[: max(0, error_size - 1)]
            ctypes.memmove(error, reason, len(reason))
            return 1

    def _release(self, _user, key):
        with self.lock:
            self.configs.pop(key, None)

    def _hook(self, hook, key, stream_ptr, data=None, length=0, end=0):
        config = self.configs.get(key)
        stream = Stream(stream_ptr, self, config)
        try:
            if isinstance(self.target, type):
                method = getattr(config, hook)
                if data is not None or hook.endswith("_body"):
                    body = ctypes.string_at(data, length) if length else b""
                    result = method(stream, body, bool(end))
                else:
                    result = method(stream)
            else:
                result = self.target(stream)
            if result is None:
                return CONTINUE
            if result in (CONTINUE, STOP, PAUSE):
                return result
            raise TypeError(f"{hook} returned {result!r}; return None, CONTINUE, STOP or PAUSE")
        except BaseException:  # never across the C boundary: the request gets a 500
            message = f"Python filter {self.name}.{hook} raised:\n{traceback.format_exc()}"
            self.gateway._record(_n.LOG_LEVELS["error"], message)
            _log.error("%s", message)
            try:
                body = b"filter error\n"
                _lib.gw_stream_send_reply(stream_ptr, 500, None, 0, body, len(body))
            except BaseException:
                pass
            return STOP
        finally:
            stream._p = None

    def _done(self, _user, key, stream_ptr):
        try:
            config = self.configs.get(key)
            on_done = getattr(config, "on_done", None) if isinstance(self.target, type) else None
            if on_done:
                stream = Stream(stream_ptr, self, config)
                try:
                    on_done(stream)
                finally:
                    stream._p = None
        except BaseException:
            self.gateway._record(_n.LOG_LEVELS["error"],
                                 f"Python filter {self.name}.on_done raised:\n"
                                 f"{traceback.format_exc()}")
        finally:
            state = _lib.gw_stream_user_data(stream_ptr)
            if state:
                with self.lock:
                    self.states.pop(state, None)


# ---- Evaluation -------------------------------------------------------------


@dataclass
class FilterDecision:
    """One hook of one filter: what it decided."""
    filter: str
    phase: str  #: "request", "request_body", "response", "response_body", "resume"
    decision: str  #: "continue", "reply", "drop", "pause", "timeout"


class _Fields:
    headers: List[Tuple[str, str]]

    def header(self, name: str) -> Optional[str]:
        """The first value of `name` (any case), or None."""
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None


@dataclass
class UpstreamRequest(_Fields):
    """The request the upstream would receive (protocol "HTTP/1.1" or "HTTP/2")."""
    method: str
    target: str
    headers: List[Tuple[str, str]]
    body: bytes
    protocol: str = "HTTP/1.1"


@dataclass
class LocalResponse(_Fields):
    """A response the gateway would give itself, as the client would receive it."""
    status: int
    headers: List[Tuple[str, str]]
    body: bytes


@dataclass
class Evaluation:
    """What the gateway would do with a request (see Gateway.evaluate)."""
    listener: str
    route: str
    rule: str
    request_id: str
    filters: List[FilterDecision] = field(default_factory=list)
    waf_rules: List[str] = field(default_factory=list)
    waf_action: str = ""
    metadata: Dict[str, str] = field(default_factory=dict)
    upstream: Optional[UpstreamRequest] = None
    backend: str = ""
    endpoint: str = ""
    response: Optional[LocalResponse] = None
    dropped: bool = False

    @property
    def status(self) -> Optional[int]:
        """The local response's status; None when the request would be forwarded."""
        return self.response.status if self.response else None

    @classmethod
    def from_json(cls, text: str) -> "Evaluation":
        d = json.loads(text)

        def body(s: str) -> bytes:
            return s.encode("utf-8", "surrogateescape")

        up = d.get("upstream")
        rs = d.get("response")
        return cls(
            listener=d["listener"], route=d["route"], rule=d["rule"], request_id=d["request_id"],
            filters=[FilterDecision(**f) for f in d["filters"]], waf_rules=list(d["waf_rules"]),
            waf_action=d["waf_action"], metadata=dict(d["metadata"]),
            upstream=UpstreamRequest(up["method"], up["target"],
                                     [tuple(h) for h in up["headers"]], body(up["body"]),
                                     up["protocol"])
            if up else None,
            backend=d["backend"], endpoint=d["endpoint"],
            response=LocalResponse(rs["status"], [tuple(h) for h in rs["headers"]],
                                   body(rs["body"])) if rs else None,
            dropped=d["dropped"])


# ---- The gateway ------------------------------------------------------------


class Gateway:
    """An in-process gateway.

    `config` is Kubernetes YAML text (Gateway, HTTPRoute, ...) or a path
    (os.PathLike) to such a file. By default every listener binds `bind`
    (127.0.0.1) on an ephemeral port: `port()` and `url` say where. With
    `strict`, a config that loads with warnings (a backend reference that
    does not resolve, ...) raises ConfigError instead. `limits` (a dict)
    caps each worker and sets the overload manager's thresholds:
    max_connections, max_streams, heap_soft, heap_hard, descriptors_soft,
    descriptors_hard, overload_interval_ms (the C ABI's gw_limits). Register
    filters (`filter()`) before `start()`; the context manager starts on
    enter and stops and frees on exit.
    """

    def __init__(self, config: Union[str, bytes, os.PathLike], *, threads: int = 1,
                 bind: Optional[str] = "127.0.0.1", admin: bool = False,
                 log_level: str = "info", filters: Optional[Mapping[str, Any]] = None,
                 log_capacity: int = 2000, strict: bool = False,
                 limits: Optional[Mapping[str, int]] = None):
        lib = _library()
        self._config = config
        self._threads = threads
        self._loaded = False
        self._started = False
        self._filters: Dict[str, _FilterType] = {}
        self.logs: collections.deque = collections.deque(maxlen=log_capacity)
        """The last log lines, as (level, message); the pytest plugin shows them on failure."""
        handle = ctypes.c_void_p()
        self._check(lib.gw_gateway_new(ctypes.byref(handle)), None)
        self._h = handle.value
        _open.add(self)
        if log_level not in _n.LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(_n.LOG_LEVELS)}")
        self._log_fn = _n.LOG_FN(self._on_log)
        self._check(lib.gw_gateway_set_log(self._h, _n.LOG_LEVELS[log_level], self._log_fn, None))
        if bind:
            b = _text(bind)
            self._check(lib.gw_gateway_bind_all(self._h, b, len(b)))
        if admin:
            self._check(lib.gw_gateway_set_admin(self._h, b"127.0.0.1", 9, 0))
        if strict:
            self._check(lib.gw_gateway_set_strict(self._h, 1))
        if limits:
            known = {name for name, _ in _n.Limits._fields_} - {"struct_size"}
            unknown = set(limits) - known
            if unknown:
                raise ValueError(f"unknown limits: {', '.join(sorted(unknown))} "
                                 f"(known: {', '.join(sorted(known))})")
            values = _n.Limits(struct_size=ctypes.sizeof(_n.Limits), **limits)
            self._check(lib.gw_gateway_set_limits(self._h, ctypes.byref(values)))
        for name, target in (filters or {}).items():
            self.filter(name)(target)

    # -- errors and logs

    def _check(self, status: int, handle: Optional[int] = -1) -> None:
        if status == _n.OK:
            return
        h = self._h if handle == -1 else handle
        message = _lib.gw_errmsg(h).decode("utf-8", "replace")
        raise _ERRORS.get(status, GatewayError)(status, message)

    def _record(self, level: int, message: str) -> None:
        names = ("debug", "info", "warn", "error", "off")
        self.logs.append((names[level] if 0 <= level < 5 else str(level), message))

    def _on_log(self, _user, level, message, length):
        try:
            text = ctypes.string_at(message, length).decode("utf-8", "replace")
            self._record(level, text)
            _log.log({0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING}.get(level, logging.ERROR),
                     "%s", text)
        except BaseException:
            pass  # a log line must never take the gateway down

    # -- setup

    def filter(self, name: str) -> Callable[[Any], Any]:
        """Registers a Python filter type `name` for Filter objects
        (`spec: {type: NAME, config: {...}}`); use as a decorator.

        On a function: it runs as on_request(stream). On a class: the class
        is made once per Filter object with its config (a dict), and its
        methods on_request(stream), on_request_body(stream, data, end),
        on_response(stream), on_response_body(stream, data, end),
        on_response_trailers(stream), on_resume(stream), on_done(stream)
        are the hooks it has. A hook
        returns None (go on), `stream.reply(...)`, `stream.drop()`, or PAUSE
        after `stream.pause()`. An exception makes the request a 500.
        """
        def register(target):
            if self._loaded:
                raise StateError(_n.INVALID_STATE,
                                 f"filter {name!r}: register filters before the gateway loads")
            ft = _FilterType(self, name, target)
            n = _text(name)
            self._check(_lib.gw_gateway_add_filter(self._h, n, len(n), ctypes.byref(ft.callbacks),
                                                   None))
            self._filters[name] = ft
            return target
        return register

    def load(self) -> "Gateway":
        """Loads the configuration (start() does it when needed)."""
        if not self._loaded:
            if isinstance(self._config, os.PathLike):
                self._check(_lib.gw_gateway_load_file(self._h, os.fspath(self._config).encode()))
            else:
                text = _text(self._config)
                self._check(_lib.gw_gateway_load_yaml(self._h, text, len(text)))
            self._loaded = True
        return self

    def start(self) -> "Gateway":
        """Loads (if needed) and opens the listeners on `threads` workers."""
        self.load()
        self._check(_lib.gw_gateway_start(self._h, self._threads))
        self._started = True
        return self

    def stop(self, drain: float = 1.0) -> None:
        """Stops accepting and lets requests in flight finish for `drain` seconds."""
        if self._started:
            self._check(_lib.gw_gateway_stop(self._h, int(drain * 1000)))

    def close(self) -> None:
        """Stops (if running) and frees the gateway."""
        h, self._h = getattr(self, "_h", None), None
        if h:
            _lib.gw_gateway_free(h)

    def __enter__(self) -> "Gateway":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        if _lib is not None:
            self.close()

    # -- while running

    def reload(self, config: Union[str, bytes, os.PathLike]) -> None:
        """Replaces the configuration; on any error it raises and the old one keeps serving."""
        if isinstance(config, os.PathLike):
            self._check(_lib.gw_gateway_reload_file(self._h, os.fspath(config).encode()))
        else:
            text = _text(config)
            self._check(_lib.gw_gateway_reload_yaml(self._h, text, len(text)))
        self._config = config

    @property
    def config_version(self) -> int:
        """1 after start, +1 per successful reload."""
        return _lib.gw_gateway_config_version(self._h)

    def port(self, listener: str = "") -> int:
        """The local port of `listener` ("namespace/gateway/listener"; "" the first)."""
        p = ctypes.c_uint16()
        n = _text(listener)
        self._check(_lib.gw_gateway_port(self._h, n, len(n), ctypes.byref(p)))
        return p.value

    @property
    def url(self) -> str:
        """"http://127.0.0.1:PORT" of the first listener."""
        return f"http://127.0.0.1:{self.port()}"

    @property
    def admin_port(self) -> int:
        p = ctypes.c_uint16()
        self._check(_lib.gw_gateway_admin_port(self._h, ctypes.byref(p)))
        return p.value

    def _take_text(self, fn) -> str:
        out, length = ctypes.c_void_p(), ctypes.c_size_t()
        self._check(fn(self._h, ctypes.byref(out), ctypes.byref(length)))
        try:
            return ctypes.string_at(out.value, length.value).decode("utf-8", "surrogateescape")
        finally:
            _lib.gw_string_free(out.value)

    def stats(self) -> str:
        """The stats in Prometheus text format."""
        return self._take_text(_lib.gw_gateway_stats)

    def config(self) -> Dict[str, Any]:
        """The configuration being served, as the /config admin endpoint shows it."""
        return json.loads(self._take_text(_lib.gw_gateway_config_json))

    def evaluate(self, method: str = "GET", url: str = "/", *,
                 headers: Union[Mapping[str, str], Iterable[Tuple[str, str]], None] = None,
                 body: Union[str, bytes] = b"", client_ip: str = "",
                 listener: str = "") -> Evaluation:
        """What the gateway would do with this request, without a socket:
        route, filters' decisions, WAF rules, the upstream request and
        endpoint, or its own response. Filters really run. `url` is
        "http://host/path", "https://...", or "/path" (Host from headers)."""
        self.load()
        rq, _keep = _request_struct(method, url, headers, body, client_ip, listener)
        out, length = ctypes.c_void_p(), ctypes.c_size_t()
        self._check(_lib.gw_gateway_evaluate(self._h, ctypes.byref(rq), ctypes.byref(out),
                                             ctypes.byref(length)))
        try:
            text = ctypes.string_at(out.value, length.value).decode("utf-8", "surrogateescape")
        finally:
            _lib.gw_string_free(out.value)
        return Evaluation.from_json(text)


# ---- Components: handles used from many threads -----------------------------


class _Closing:
    """What holds a C handle: closed on leaving a with block and when collected."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class _Component(_Closing):
    """A C handle (gw_waf, gw_router) that any thread may call: calls take
    it under a condition so close() frees it only once they have returned."""

    _kind = "component"  # for messages
    _free = _errmsg = ""  # the C functions' names

    def _open(self, new_fn: str) -> None:
        self._h = None
        self._idle = threading.Condition()
        self._busy = 0
        handle = ctypes.c_void_p()
        self._raise(getattr(_library(), new_fn)(ctypes.byref(handle)), None)
        self._h = handle.value

    def _raise(self, status: int, handle) -> None:
        if status != _n.OK:
            message = getattr(_lib, self._errmsg)(handle).decode("utf-8", "replace")
            raise _ERRORS.get(status, GatewayError)(status, message)

    def _call(self, fn: str, *args) -> None:
        """Calls `fn(handle, *args)` (the GIL released), raising on failure."""
        with self._idle:
            if self._h is None:
                raise StateError(_n.INVALID_STATE, f"this {self._kind} is closed")
            handle = self._h
            self._busy += 1
        try:
            self._raise(getattr(_lib, fn)(handle, *args), handle)
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def close(self) -> None:
        """Frees the handle once the calls under way have returned."""
        with self._idle:
            handle, self._h = self._h, None
            while self._busy:
                self._idle.wait()
        if handle is not None:
            getattr(_lib, self._free)(handle)


# ---- The WAF on its own -----------------------------------------------------


@dataclass(frozen=True)
class WafMatch:
    """One rule that matched: its id, phase (1-5), severity (0-7, -1 unset),
    CRS paranoia level (0 untagged), whether its action would interfere, its
    message and what it matched."""
    rule_id: int
    phase: int
    severity: int
    paranoia_level: int
    disruptive: bool
    message: str
    data: str


@dataclass(frozen=True)
class Verdict:
    """What the rules decided: `action` ("pass", "deny", "redirect", "drop"),
    the `status` they ask for (deny, redirect; else 0), a redirect's `url`,
    and every rule that matched (`rules` their ids, `messages` their msgs)."""
    action: str
    status: int
    url: str
    matches: List[WafMatch]

    @property
    def rules(self) -> List[int]:
        return [m.rule_id for m in self.matches]

    @property
    def messages(self) -> List[str]:
        return [m.message for m in self.matches]


class Waf(_Component):
    """A libmodsecurity rule set a program checks its own requests against.

    `crs` is the OWASP Core Rule Set's paranoia level (1-4), or None for no
    CRS; `files` are rule files and `directives` inline rules, loaded after
    it. `mode` is "On", "DetectionOnly" (matches reported, nothing decided)
    or "Off"; with `response_body`, response bodies (text/plain, text/html,
    text/xml) reach the rules too. Thread-safe; the GIL is released while
    rules run. A context manager; close() frees it (later calls raise
    StateError).
    """

    _kind, _free, _errmsg = "Waf", "gw_waf_free", "gw_waf_errmsg"

    def __init__(self, crs: Optional[int] = 1, files: Iterable[Union[str, os.PathLike]] = (),
                 directives: str = "", mode: str = "On", *,
                 inbound_anomaly_threshold: int = 0, outbound_anomaly_threshold: int = 0,
                 response_body: bool = False):
        if mode not in _n.WAF_MODES:
            raise ValueError(f"mode {mode!r} is not one of {', '.join(_n.WAF_MODES)}")
        if crs is not None and not (isinstance(crs, int) and 1 <= crs <= 4):
            raise ValueError(f"crs {crs!r} is not a paranoia level 1-4 (or None)")
        self._mode = _n.WAF_MODES[mode]
        self._open("gw_waf_new")
        paths = [os.fsencode(f) for f in files]
        array = (ctypes.c_char_p * max(1, len(paths)))(*paths)
        text = _text(directives)
        rules = _n.WafRules(struct_size=ctypes.sizeof(_n.WafRules), crs=int(crs is not None),
                            paranoia_level=crs or 0,
                            inbound_anomaly_threshold=inbound_anomaly_threshold,
                            outbound_anomaly_threshold=outbound_anomaly_threshold,
                            files=array, file_count=len(paths), directives=text,
                            directives_length=len(text), response_body=int(response_body))
        try:
            self._call("gw_waf_load", ctypes.byref(rules))
        except GatewayError:
            self.close()
            raise

    @property
    def rule_count(self) -> int:
        """Rules in the loaded set, over all phases."""
        count = ctypes.c_size_t()
        self._call("gw_waf_rule_count", ctypes.byref(count))
        return count.value

    def check(self, method: str = "GET", url: str = "/", headers=None,
              body: Union[str, bytes] = b"", *, client_ip: str = "",
              response: Optional[Tuple[int, Any, Union[str, bytes]]] = None) -> Verdict:
        """Runs a request through the rules' request phases. `url` is
        "http(s)://host/path?query" (the host becomes Host unless `headers`
        has one) or "/path?query"; `headers` a mapping or (name, value) pairs.
        A body goes with its Content-Length, as a client would send it.
        `response`, (status, headers, body), then goes through the response
        phases when the request passed."""
        rq, _keep = _request_struct(method, url, headers, body, client_ip)
        out = ctypes.c_void_p()
        if response is None:
            self._call("gw_waf_check", ctypes.byref(rq), self._mode, ctypes.byref(out))
        else:
            status, response_headers, response_body = response
            array, count, keep = _header_array(response_headers)
            text = _text(response_body)
            rs = _n.Response(struct_size=ctypes.sizeof(_n.Response), status=int(status),
                             headers=array, header_count=count, body=text,
                             body_length=len(text))
            self._call("gw_waf_check_response", ctypes.byref(rq), ctypes.byref(rs), self._mode,
                       ctypes.byref(out))
        v = out.value
        try:
            matches = []
            for i in range(_lib.gw_waf_verdict_match_count(v)):
                m = _n.WafMatch(struct_size=ctypes.sizeof(_n.WafMatch))
                self._raise(_lib.gw_waf_verdict_match(v, i, ctypes.byref(m)), None)
                matches.append(WafMatch(m.rule_id, m.phase, m.severity, m.paranoia_level,
                                        bool(m.disruptive), _from_c(m.message, m.message_length),
                                        _from_c(m.data, m.data_length)))
            action = _lib.gw_waf_verdict_action(v)
            return Verdict(_n.WAF_ACTIONS[action] if 0 <= action < 4 else str(action),
                           _lib.gw_waf_verdict_status(v),
                           (_lib.gw_waf_verdict_url(v) or b"").decode("utf-8", "replace"), matches)
        finally:
            _lib.gw_waf_verdict_free(v)


# ---- The router on its own --------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """A backend of the matched rule: its cluster name ("namespace/service:port"),
    weight, and whether the reference resolves (else the gateway answers 500
    for its share)."""
    name: str
    weight: int
    valid: bool


@dataclass(frozen=True)
class Match:
    """Which listener ("namespace/gateway/listener"), route ("namespace/name",
    of `kind` HTTPRoute or GRPCRoute) and rule (its name, or "#N") take a
    request, and that rule's backends."""
    listener: str
    route: str
    kind: str
    rule: str
    backends: List[Backend]


class Router(_Component):
    """The routes of a config (YAML text, or a path as os.PathLike), matched
    against requests without running a gateway: `match()` answers which
    route and rule would take one, or None (the gateway's 404). Thread-safe;
    a context manager; close() frees it (later calls raise StateError)."""

    _kind, _free, _errmsg = "Router", "gw_router_free", "gw_router_errmsg"

    def __init__(self, config: Union[str, bytes, os.PathLike]):
        self._open("gw_router_new")
        try:
            if isinstance(config, os.PathLike):
                self._call("gw_router_load_file", os.fsencode(config))
            else:
                text = _text(config)
                self._call("gw_router_load_yaml", text, len(text))
        except GatewayError:
            self.close()
            raise

    def match(self, method: str = "GET", url: str = "/", headers=None, *,
              listener: str = "") -> Optional[Match]:
        """The route for a request: `url` is "http(s)://host[:port]/path?query"
        (the port and host choose the listener as for a connection) or
        "/path?query" with the Host in `headers`; `listener` names one instead.
        The path is normalised as the listener would. NotFoundError when no
        listener serves the URL's port; GatewayError for a malformed URL."""
        rq, _keep = _request_struct(method, url, headers, b"", "", listener)
        out = ctypes.c_void_p()
        self._call("gw_router_match", ctypes.byref(rq), ctypes.byref(out))
        m = out.value
        if not m:
            return None
        try:
            backends = []
            for i in range(_lib.gw_route_match_backend_count(m)):
                b = _n.RouteBackend(struct_size=ctypes.sizeof(_n.RouteBackend))
                self._raise(_lib.gw_route_match_backend(m, i, ctypes.byref(b)), None)
                backends.append(Backend(_from_c(b.name, b.name_length), b.weight, bool(b.valid)))

            def text_of(fn):
                return fn(m).decode("utf-8", "replace")

            return Match(text_of(_lib.gw_route_match_listener), text_of(_lib.gw_route_match_route),
                         text_of(_lib.gw_route_match_kind), text_of(_lib.gw_route_match_rule),
                         backends)
        finally:
            _lib.gw_route_match_free(m)


class _Started(_Component):
    """A component its first config load starts and later ones reload
    (gw_client, gw_middleware: `_prefix`). A failed call's message is the
    calling thread's, which stays right when several threads fail at once."""

    _prefix = ""

    def __init__(self, config: Union[str, bytes, os.PathLike], *, threads: int = 1):
        self._free, self._errmsg = self._prefix + "_free", self._prefix + "_errmsg"
        self._h = None
        self._idle = threading.Condition()
        self._busy = 0
        options = _n.ClientOptions(struct_size=ctypes.sizeof(_n.ClientOptions), threads=threads)
        handle = ctypes.c_void_p()
        new = getattr(_library(), self._prefix + "_new")
        self._raise(new(ctypes.byref(options), ctypes.byref(handle)), None)
        self._h = handle.value
        try:
            self.reload(config)
        except GatewayError:
            self.close()
            raise

    def _raise(self, status: int, handle) -> None:
        if status != _n.OK:
            message = getattr(_lib, self._errmsg)(None).decode("utf-8", "replace")
            raise _ERRORS.get(status, GatewayError)(status, message)

    def reload(self, config: Union[str, bytes, os.PathLike]) -> None:
        """Loads `config` (the first time) or replaces it while requests flow;
        ConfigError keeps the config before."""
        if isinstance(config, os.PathLike):
            self._call(self._prefix + "_load_file", os.fsencode(config))
        else:
            text = _text(config)
            self._call(self._prefix + "_load_yaml", text, len(text))

    def stats(self) -> str:
        """The stats in Prometheus text."""
        out, length = ctypes.c_void_p(), ctypes.c_size_t()
        self._call(self._prefix + "_stats", ctypes.byref(out), ctypes.byref(length))
        try:
            return ctypes.string_at(out.value, length.value).decode()
        finally:
            _lib.gw_string_free(out.value)

    def close(self) -> None:
        """Ends requests in flight, then frees the handle once calls have returned."""
        with self._idle:  # held: the handle cannot be freed under the call
            if self._h is not None:
                getattr(_lib, self._prefix + "_close")(self._h)
        super().close()


# ---- The client: calls to Services through the upstream pool -----------------


def _field(fields, name: str, default: Optional[str]) -> Optional[str]:
    """The value of the first of `fields` ((name, value) pairs) named `name`, any case."""
    lower = name.lower()
    for n, v in fields:
        if n.lower() == lower:
            return v
    return default


@dataclass(frozen=True)
class Response:
    """A call's response: the upstream's, or the gateway's own (503, 504) when
    the upstream gave none. `headers` keeps order and repeats."""
    status: int
    headers: List[Tuple[str, str]]
    body: bytes

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The first field named `name` (any case)."""
        return _field(self.headers, name, default)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


def _response_of(r) -> Response:
    """A Response copied out of a gw_client_response."""
    fields = []
    field = _n.Header()
    for i in range(_lib.gw_client_response_header_count(r)):
        _lib.gw_client_response_header(r, i, ctypes.byref(field))
        fields.append((_from_c(field.name, field.name_length),
                       _from_c(field.value, field.value_length)))
    length = ctypes.c_size_t()
    data = _lib.gw_client_response_body(r, ctypes.byref(length))
    return Response(_lib.gw_client_response_status(r), fields,
                    ctypes.string_at(data, length.value) if length.value else b"")


class Client(_Started):
    """Calls to the Services of a client config (YAML text, or a path as
    os.PathLike: Services with EndpointSlices, BackendTrafficPolicies that
    target Services, BackendTLSPolicies) by URL, "http://SERVICE.NAMESPACE
    [:PORT]/path", with the gateway's load balancing, health checks, outlier
    ejection, circuit breakers, retries and timeouts. Thread-safe (the GIL is
    released while a call waits); a context manager; close() ends calls in
    flight (UnavailableError) and later ones raise StateError."""

    _kind, _prefix = "Client", "gw_client"

    def request(self, method: str, url: str, headers=None, body: Union[str, bytes, None] = None,
                timeout: Optional[float] = None) -> Response:
        """Sends a call and returns its response. `timeout` (seconds) bounds all
        its tries; the gateway's 504 comes back when it passes. Raises
        ArgumentError (bad URL or header), NotFoundError (no Service for the
        host and port), UnavailableError (no whole response), StateError (closed)."""
        rq, _keep = _request_struct(method, url, headers, body)
        ms = 0 if timeout is None else max(1, int(timeout * 1000))
        out = ctypes.c_void_p()
        self._call("gw_client_send", ctypes.byref(rq), ms, ctypes.byref(out))
        try:
            return _response_of(out.value)
        finally:
            _lib.gw_client_response_free(out.value)

    def get(self, url: str, **kwargs) -> Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, body: Union[str, bytes, None] = None, **kwargs) -> Response:
        return self.request("POST", url, body=body, **kwargs)


# ---- The middleware: the gateway's policies in front of a host's handlers ----


@dataclass(frozen=True)
class ForwardedRequest:
    """The request as the middleware lets it through to the handler: the
    filters' and the route's edits applied (headers added or removed, the path
    rewritten, X-Forwarded-For and X-Request-Id added)."""
    method: str
    target: str  # path and query
    headers: List[Tuple[str, str]]
    body: bytes

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The first field named `name` (any case)."""
        return _field(self.headers, name, default)


class Exchange(_Closing):
    """One request through a Middleware: `replied` with the middleware's
    `response` (send it; the handler does not run), or a `request` for the
    handler, whose answer goes to respond(). Freed when collected or closed;
    one never answered ends its request unanswered."""

    def __init__(self, handle: int):
        self._h = handle
        self.replied = bool(_lib.gw_exchange_replied(handle))
        self.response: Optional[Response] = None
        self.request: Optional[ForwardedRequest] = None
        if self.replied:
            self.response = _response_of(_lib.gw_exchange_response(handle))
            return
        length = ctypes.c_size_t()

        def text(fn) -> bytes:
            data = fn(handle, ctypes.byref(length))
            return ctypes.string_at(data, length.value) if length.value else b""
        fields = []
        field = _n.Header()
        for i in range(_lib.gw_exchange_header_count(handle)):
            _lib.gw_exchange_header(handle, i, ctypes.byref(field))
            fields.append((_from_c(field.name, field.name_length),
                           _from_c(field.value, field.value_length)))
        self.request = ForwardedRequest(text(_lib.gw_exchange_method).decode(),
                                        text(_lib.gw_exchange_target).decode("latin-1"),
                                        fields, text(_lib.gw_exchange_body))

    def respond(self, status: int, headers=None, body: Union[str, bytes, None] = b"") -> Response:
        """The handler's response: the response side runs on it (the GIL
        released); returns what to send the client. Once."""
        if self._h is None:
            raise StateError(_n.INVALID_STATE, "this exchange is closed")
        array, count, keep = _header_array(headers)
        data = _text(body)
        status_code = _lib.gw_exchange_respond(self._h, int(status), array, count, data, len(data))
        if status_code != _n.OK:
            message = _lib.gw_middleware_errmsg(None).decode("utf-8", "replace")
            raise _ERRORS.get(status_code, GatewayError)(status_code, message)
        self.response = _response_of(_lib.gw_exchange_response(self._h))
        return self.response

    def close(self) -> None:
        handle, self._h = self._h, None
        if handle is not None:
            _lib.gw_exchange_free(handle)


class Middleware(_Started):
    """A gateway config (YAML text, or a path as os.PathLike: a Gateway, its
    HTTPRoutes, whose rules need no backendRefs, and the policies and filters
    on them) run on a host's own requests: handle() says whether the
    middleware answers one itself or lets it through to the handler. The WSGI
    and ASGI adapters (gateway.wsgi, gateway.asgi) are built on it.
    Thread-safe; a context manager."""

    _kind, _prefix = "Middleware", "gw_middleware"

    def handle(self, method: str, url: str, headers=None, body: Union[str, bytes, None] = b"",
               *, client_ip: str = "", listener: str = "") -> Exchange:
        """Runs the request side on a request as the host's server got it:
        `url` is "/path?query" (the Host among `headers`) or absolute."""
        rq, _keep = _request_struct(method, url, headers, body, client_ip, listener)
        out = ctypes.c_void_p()
        self._call("gw_middleware_handle", ctypes.byref(rq), ctypes.byref(out))
        return Exchange(out.value)
