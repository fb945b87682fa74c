"""A Starlette app behind the gateway's policies (gateway.asgi.Middleware).

    python3 -m uvicorn starlette_app:app --port 8000
"""

import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

# In this repository the package is not installed; an installed one needs no path.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bindings" / "python"))
from gateway.asgi import Middleware  # noqa: E402

views = []  # what reached the views: the policies' refusals never do


async def orders(request):
    views.append(str(request.url.path) + "?" + str(request.url.query))
    return JSONResponse({"orders": [{"id": request.query_params.get("id", "7")}],
                         "client": request.headers.get("x-client-id")})


async def seen(request):
    return JSONResponse({"views": views})


app = Middleware(Starlette(routes=[Route("/orders", orders), Route("/views", seen)]),
                 Path(__file__).with_name("gateway.yaml"))
