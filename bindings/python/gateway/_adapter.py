"""What the WSGI and ASGI middleware share: the application and the pipeline
in front of it, and the response fields a server writes itself."""

from __future__ import annotations

import os
from typing import Callable, Union

from . import Middleware as _Pipeline

# Hop-by-hop fields an application may not set (PEP 3333), and the framing
# fields the server makes itself.
HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                 "trailers", "transfer-encoding", "upgrade"})


class Adapter:
    """`app` behind the gateway `config` (YAML text or a path); `threads`:
    the pipeline's event-loop threads."""

    def __init__(self, app: Callable, config: Union[str, bytes, os.PathLike], *,
                 threads: int = 1):
        self.app = app
        self.pipeline = _Pipeline(config, threads=threads)

    def close(self) -> None:
        self.pipeline.close()
