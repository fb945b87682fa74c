#!/usr/bin/python3
"""Validates every document of the project's own kinds (gateway.dev) in the
example YAML files against the CRDs under deploy/crds, as a cluster would:
YAML 1.1 (an unquoted On is a boolean there, as for kubectl), and an object
without x-kubernetes-preserve-unknown-fields takes no field its schema does
not name. Also checks the CRDs are structural (every field has a type unless
it keeps unknown fields), which the API server requires.

Usage: crd_examples_test.py SOURCE_DIR
"""
import copy
import glob
import os
import sys

import jsonschema
import yaml


def closed(schema):
    """The schema with unknown fields refused wherever the CRD prunes them."""
    s = copy.deepcopy(schema)

    def walk(n):
        if not isinstance(n, dict):
            return
        if "properties" in n and not n.get("x-kubernetes-preserve-unknown-fields"):
            n.setdefault("additionalProperties", False)
        for p in n.get("properties", {}).values():
            walk(p)
        walk(n.get("items"))

    walk(s)
    return s


def structural_problems(node, path):
    out = []
    if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        out.append(path + ": no type")
    for name, p in node.get("properties", {}).items():
        out += structural_problems(p, path + "." + name)
    if "items" in node:
        out += structural_problems(node["items"], path + "[]")
    return out


def load_validators(root, failures=None):
    """(apiVersion, kind) -> a validator of the CRD's schema, unknown fields refused."""
    schemas = {}
    for f in sorted(glob.glob(os.path.join(root, "deploy/crds/*.yaml"))):
        crd = yaml.safe_load(open(f))
        version = crd["spec"]["versions"][0]
        key = (crd["spec"]["group"] + "/" + version["name"], crd["spec"]["names"]["kind"])
        schema = version["schema"]["openAPIV3Schema"]
        if failures is not None:
            failures += [os.path.basename(f) + ": " + p for p in structural_problems(schema, "")]
        schemas[key] = jsonschema.Draft7Validator(closed(schema))
    return schemas


def main():
    root = sys.argv[1]
    failures = []
    schemas = load_validators(root, failures)
    checked = {k: 0 for k in schemas}
    files = sorted(glob.glob(os.path.join(root, "examples/**/*.yaml"), recursive=True) +
                   glob.glob(os.path.join(root, "deploy/**/*.yaml"), recursive=True))
    for f in files:
        if "/deploy/crds/" in f or os.path.basename(f) == "broken.yaml":
            continue  # the CRDs themselves; a config broken on purpose
        for doc in yaml.safe_load_all(open(f)):
            if not isinstance(doc, dict):
                continue
            key = (doc.get("apiVersion"), doc.get("kind"))
            if key not in schemas:
                continue
            checked[key] += 1
            name = "%s: %s %s" % (os.path.relpath(f, root), key[1],
                                  (doc.get("metadata") or {}).get("name"))
            for e in schemas[key].iter_errors(doc):
                path = ".".join(str(p) for p in e.absolute_path)
                failures.append("%s: %s: %s" % (name, path, e.message))
    for key, n in sorted(checked.items()):
        print("%s %s: %d example documents checked" % (key[0], key[1], n))
        if n == 0:
            failures.append("no example of %s %s to check" % key)
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
