#!/usr/bin/python3
"""Checks deploy/example/gatewayd.yaml without a cluster: the config in its
ConfigMap loads (gatewayd --check, no warnings) and its gateway.dev
documents fit the CRDs; the Deployment mounts that ConfigMap where --config
looks; the probes and Services name ports the container has, and those
ports are where gatewayd listens (--bind, --admin). Then gatewayd runs with
the Deployment's own arguments (its addresses moved to free loopback ports)
and the probes' paths answer 200.

Usage: deploy_example_test.py SOURCE_DIR GATEWAYD
"""
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crd_examples_test  # noqa: E402  (the CRD validators)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def arg(args, name):
    values = [a.split("=", 1)[1] for a in args if a.startswith(name + "=")]
    assert len(values) == 1, "%s given %d times" % (name, len(values))
    return values[0]


def main():
    root, gatewayd = sys.argv[1], sys.argv[2]
    docs = [d for d in yaml.safe_load_all(open(os.path.join(root, "deploy/example/gatewayd.yaml")))
            if d]
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    deployment = by[("Deployment", "gatewayd")]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    args = container["args"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}

    # The config file: the ConfigMap's key, at the volume's mount path.
    config_path = arg(args, "--config")
    mount = [m for m in container["volumeMounts"] if config_path.startswith(m["mountPath"] + "/")]
    assert len(mount) == 1, "--config is not under a mounted volume"
    volume = [v for v in pod["volumes"] if v["name"] == mount[0]["name"]][0]
    assert "subPath" not in mount[0], "a subPath mount never sees the ConfigMap change"
    configmap = by[("ConfigMap", volume["configMap"]["name"])]
    text = configmap["data"][os.path.basename(config_path)]

    # gatewayd listens where the ports say: --bind's target, --admin.
    gateway_port = arg(args, "--bind").split("=", 1)[1]
    admin = arg(args, "--admin")
    assert int(gateway_port.rsplit(":", 1)[1]) == ports["http"], "--bind is not the http port"
    assert int(admin.rsplit(":", 1)[1]) == ports["admin"], "--admin is not the admin port"
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["port"] in ports, probe + " names no container port"
        assert ports[get["port"]] == ports["admin"], probe + " is not on the admin listener"
    service = by[("Service", "gatewayd")]
    for p in service["spec"]["ports"]:
        assert p["targetPort"] in ports, "Service port %s targets no container port" % p["name"]
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]

    # The gateway.dev documents of the config fit the CRDs.
    validators = crd_examples_test.load_validators(root)
    problems = []
    for d in yaml.safe_load_all(text):
        key = (d.get("apiVersion"), d.get("kind"))
        if key in validators:
            problems += [e.message for e in validators[key].iter_errors(d)]
    assert not problems, problems

    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, os.path.basename(config_path))
        with open(config, "w") as f:
            f.write(text)
        check = subprocess.run([gatewayd, "--check", config], capture_output=True, text=True,
                               timeout=60)
        print(check.stdout.strip())
        assert check.returncode == 0, check.stdout + check.stderr
        assert "warning" not in (check.stdout + check.stderr).lower(), check.stdout

        # Run it as the Deployment does, on free loopback ports.
        web, adm = free_port(), free_port()
        moved = []
        for a in args:
            if a.startswith("--config="):
                a = "--config=" + config
            elif a.startswith("--bind="):
                a = "--bind=" + a[len("--bind="):].split("=", 1)[0] + "=127.0.0.1:%d" % web
            elif a.startswith("--admin="):
                a = "--admin=127.0.0.1:%d" % adm
            moved.append(a)
        proc = subprocess.Popen([gatewayd] + moved, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            for probe in ("livenessProbe", "readinessProbe"):
                url = "http://127.0.0.1:%d%s" % (adm, container[probe]["httpGet"]["path"])
                status, deadline = None, time.monotonic() + 30
                while status != 200 and time.monotonic() < deadline:
                    try:
                        status = urllib.request.urlopen(url, timeout=5).status
                    except OSError:
                        time.sleep(0.05)
                assert status == 200, "%s: %s" % (url, status)
                print("%s %s: 200" % (probe, url))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print("deploy/example/gatewayd.yaml: consistent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
