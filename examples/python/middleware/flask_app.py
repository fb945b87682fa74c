"""A Flask app behind the gateway's policies (gateway.wsgi.Middleware).

    gunicorn -w 1 -b 127.0.0.1:8000 flask_app:app
"""

import sys
from pathlib import Path

from flask import Flask, jsonify, request

# In this repository the package is not installed; an installed one needs no path.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bindings" / "python"))
from gateway.wsgi import Middleware  # noqa: E402

app = Flask(__name__)
views = []  # what reached the views: the policies' refusals never do


@app.get("/orders")
def orders():
    views.append(request.full_path)
    return jsonify(orders=[{"id": request.args.get("id", "7")}],
                   client=request.headers.get("x-client-id"))


@app.get("/views")
def seen():
    return jsonify(views=views)


app.wsgi_app = Middleware(app.wsgi_app, Path(__file__).with_name("gateway.yaml"))
