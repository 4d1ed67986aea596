#!/usr/bin/env python3
"""Checks that the container and Kubernetes files agree with each other and with deploy/config.

usage: check_deploy.py [REPO_ROOT]     (default: two directories above this file)

Reads deploy/config (the sample configs), deploy/compose (Dockerfile, compose.yaml, make-keys.sh)
and deploy/k8s (every YAML file, Secret templates included). Needs python3 and python3-yaml only:
no network, no container engine, no cluster. Prints each failure as `file: what is wrong` and
exits 1, or prints one summary line and exits 0.

What must hold:
- every YAML document parses;
- every program a command runs is a packaged program;
- every agency with a config in deploy/config/nodes has exactly one compose service and one
  Kubernetes Deployment running the right program with that config (the broker: a StatefulSet);
- the ports agree: each config's http listen and metrics_listen with the flags, health checks,
  probes, container ports, Services, published ports and NetworkPolicies; the broker's port is
  broker.textproto's listen port (7450) everywhere;
- every file a config names (keys, registry, rules) and every --config/--key-file reaches the
  container: a bind mount in compose, a ConfigMap or Secret key in Kubernetes, and each ConfigMap
  entry is the same text as its file in deploy/config;
- each program's data_dir is its own volume (a named volume, a PersistentVolumeClaim);
- every Secret, ConfigMap, PersistentVolumeClaim and Service referenced exists;
- the image is Debian 12 and runs as passage.
"""

import os
import re
import sys

try:
    import yaml
except ImportError:
    sys.exit("check_deploy: needs PyYAML (Debian: apt-get install python3-yaml)")

PROGRAMS = {
    "passage-broker", "passage-identification", "passage-protection", "passage-prosecution",
    "passage-router", "passagectl", "passage-verify-proof",
}
BROKER_PORT = 7450
ETC = "/etc/passage"
# Config fields that name a file the program reads.
FILE_FIELDS = ("secret_key_file", "sealing_key_file", "person_secret_file",
               "broker_public_key_file", "registry_file", "rules_file")
NAMESPACE = "passage"


class Checker:
    def __init__(self, root):
        self.root = root
        self.failures = []
        self.checked = 0

    def rel(self, path):
        return os.path.relpath(path, self.root)

    def fail(self, where, what):
        self.failures.append(f"{self.rel(where) if os.path.isabs(where) else where}: {what}")

    def expect(self, cond, where, what):
        self.checked += 1
        if not cond:
            self.fail(where, what)
        return cond


# ------------------------------------------------------------------------------------------------
# deploy/config: just the fields we need, with regexes.

def port_of(address):
    """'tcp://0.0.0.0:7450' or '127.0.0.1:9450' -> 7450 / 9450; None when there is no port."""
    m = re.search(r":(\d+)$", address or "")
    return int(m.group(1)) if m else None


def read_textproto(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    header = re.search(r"^#.*\bprogram (passage-[a-z-]+)", text, re.M)
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    fields = {}
    http = re.search(r"^\s*http\s*\{(.*?)\}", body, re.M | re.S)
    if http:
        m = re.search(r"^\s*listen:\s*\"([^\"]*)\"", http.group(1), re.M)
        fields["http.listen"] = m.group(1) if m else None
    top = re.sub(r"^\s*\w+\s*\{.*?^\s*\}", "", body, flags=re.M | re.S)  # drop blocks
    for m in re.finditer(r"^\s*(\w+):\s*\"([^\"]*)\"", top, re.M):
        fields[m.group(1)] = m.group(2)
    return {"path": path, "text": text, "fields": fields,
            "program": header.group(1) if header else None}


def registry_stages(path):
    """agency id -> program, by the rule the demo uses (services/demo/demo.cc, StageOf)."""
    with open(path, encoding="utf-8") as f:
        text = "\n".join(l for l in f.read().splitlines() if not l.lstrip().startswith("#"))
    stages = {}
    for block in re.findall(r"agencies\s*\{(.*?)\n\}", text, re.S):
        m = re.search(r"\bid:\s*\"([^\"]+)\"", block)
        if not m:
            continue
        if re.search(r"system_principal:\s*true", block):
            stage = "passage-router"
        elif re.search(r"first_responder:\s*true", block):
            stage = "passage-identification"
        elif "AGENCY_TYPE_PROSECUTION" in block:
            stage = "passage-prosecution"
        elif "AGENCY_TYPE_OVERSIGHT" in block:
            stage = None
        else:
            stage = "passage-protection"
        stages[m.group(1)] = stage
    return stages


def load_config(c):
    d = os.path.join(c.root, "deploy", "config")
    broker_path = os.path.join(d, "broker.textproto")
    if not c.expect(os.path.isfile(broker_path), broker_path, "missing"):
        return None, {}
    broker = read_textproto(broker_path)
    c.expect(port_of(broker["fields"].get("listen")) == BROKER_PORT, broker_path,
             f"listen port is {port_of(broker['fields'].get('listen'))}, expected {BROKER_PORT}")
    c.expect(port_of(broker["fields"].get("metrics_listen")) is not None, broker_path,
             "no metrics_listen port")
    stages = registry_stages(os.path.join(d, "registry.textproto"))
    nodes = {}
    nodes_dir = os.path.join(d, "nodes")
    names = sorted(os.listdir(nodes_dir)) if os.path.isdir(nodes_dir) else []
    names = [n for n in names if n.endswith(".textproto")]
    c.expect(names, nodes_dir, "no node configs (*.textproto)")
    for name in names:
        path = os.path.join(nodes_dir, name)
        cfg = read_textproto(path)
        f = cfg["fields"]
        aid = f.get("agency_id")
        if not c.expect(aid == name[:-len(".textproto")], path,
                        f"agency_id '{aid}' does not match the file name"):
            continue
        program = cfg["program"] or stages.get(aid)
        if not c.expect(aid in stages, path, f"agency {aid} is not in registry.textproto"):
            pass
        elif stages[aid] is None:
            c.fail(path, f"agency {aid} runs no node (oversight), but has a node config")
        else:
            c.expect(program == stages[aid], path,
                     f"the header says {cfg['program']}, but the registry makes {aid} a "
                     f"{stages[aid]}")
        cfg["agency_id"] = aid
        cfg["stage"] = program
        cfg["config_target"] = f"{ETC}/nodes/{name}"
        cfg["web"] = port_of(f.get("http.listen"))
        cfg["metrics"] = port_of(f.get("metrics_listen"))
        c.expect(cfg["metrics"] is not None, path, "no metrics_listen port")
        if program != "passage-router":
            c.expect(cfg["web"] is not None, path, "no http { listen } port")
        nodes[aid] = cfg
    broker["config_target"] = f"{ETC}/broker.textproto"
    broker["metrics"] = port_of(broker["fields"].get("metrics_listen"))
    broker["web"] = None
    broker["stage"] = "passage-broker"
    broker["agency_id"] = "broker"
    return broker, nodes


def needed_files(cfg, command):
    """Files the program reads inside the container: its config and what the config names."""
    f = cfg["fields"]
    needs = {cfg["config_target"]: "--config"}
    for field in FILE_FIELDS:
        if f.get(field):
            needs[f[field]] = field
    key_file = flag(command, "--key-file")
    if key_file:  # the broker: --key-file replaces secret_key_file
        needs.pop(f.get("secret_key_file"), None)
        needs[key_file] = "--key-file"
    # A file kept in the program's own data directory is made there at first start.
    data = f.get("data_dir", "").rstrip("/") + "/"
    return {p: why for p, why in needs.items() if not p.startswith(data)}


def flag(command, name):
    if not isinstance(command, list):
        return None
    for i, arg in enumerate(command):
        if arg == name and i + 1 < len(command):
            return command[i + 1]
        if isinstance(arg, str) and arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def check_command(c, where, command, cfg, broker):
    """The flags the compose services and the pods share."""
    if not c.expect(isinstance(command, list) and command, where, "no command (a list)"):
        return
    c.expect(command[0] in PROGRAMS, where, f"runs '{command[0]}', not a packaged program")
    c.expect(command[0] == cfg["stage"], where,
             f"runs {command[0]}, but {cfg['agency_id']} is a {cfg['stage']}")
    c.expect(flag(command, "--config") == cfg["config_target"], where,
             f"--config is {flag(command, '--config')}, expected {cfg['config_target']}")
    metrics = port_of(flag(command, "--metrics-listen"))
    c.expect(metrics == cfg["metrics"], where,
             f"--metrics-listen port {metrics} but the config's metrics_listen is {cfg['metrics']}")
    if cfg["stage"] == "passage-broker":
        c.expect(port_of(flag(command, "--listen")) == BROKER_PORT, where,
                 f"--listen port is {port_of(flag(command, '--listen'))}, expected {BROKER_PORT}")
        return
    ep = flag(command, "--broker-endpoint")
    m = re.fullmatch(r"tcp://([A-Za-z0-9.-]+):(\d+)", ep or "")
    if c.expect(m, where, f"--broker-endpoint '{ep}' is not tcp://HOST:PORT"):
        c.expect(int(m.group(2)) == BROKER_PORT, where,
                 f"--broker-endpoint port {m.group(2)}, expected {BROKER_PORT}")
    web = port_of(flag(command, "--http-listen"))
    c.expect(web == cfg["web"], where,
             f"--http-listen port {web} but the config's http listen is {cfg['web']}")
    return m.group(1) if m else None


# ------------------------------------------------------------------------------------------------
# YAML

def load_yaml_dir(c, d):
    docs = []  # (path, document)
    for base, _, files in sorted(os.walk(d)):
        for name in sorted(files):
            if not name.endswith((".yaml", ".yml")):
                continue
            path = os.path.join(base, name)
            try:
                with open(path, encoding="utf-8") as f:
                    for doc in yaml.safe_load_all(f):
                        if doc is not None:
                            docs.append((path, doc))
                c.checked += 1
            except yaml.YAMLError as e:
                c.fail(path, f"does not parse: {e}".replace("\n", " "))
    return docs


# ------------------------------------------------------------------------------------------------
# Compose

def check_compose(c, broker, nodes):
    d = os.path.join(c.root, "deploy", "compose")
    path = os.path.join(d, "compose.yaml")
    docs = [doc for p, doc in load_yaml_dir(c, d) if p == path]
    if not c.expect(docs, path, "missing or empty"):
        return None
    compose = docs[0]
    services = compose.get("services") or {}
    declared_volumes = set((compose.get("volumes") or {}).keys())
    wanted = {"broker": broker}
    for aid, cfg in nodes.items():
        wanted["router" if cfg["stage"] == "passage-router" else aid] = cfg
    for name in services:
        c.expect(name in wanted, path, f"service '{name}' runs no config of deploy/config")
    used_volumes = {}
    published = {}
    for name, cfg in wanted.items():
        where = f"{c.rel(path)}: service {name}"
        svc = services.get(name)
        if not c.expect(isinstance(svc, dict), path, f"no service '{name}' for {cfg['path'] and c.rel(cfg['path'])}"):
            continue
        command = svc.get("command")
        if isinstance(command, str):
            command = command.split()
        host = check_command(c, where, command, cfg, broker)
        if host is not None:
            c.expect(host == "broker", where,
                     f"--broker-endpoint host '{host}' is not the broker service")
            dep = (svc.get("depends_on") or {})
            cond = dep.get("broker", {}).get("condition") if isinstance(dep, dict) else None
            c.expect(cond == "service_healthy", where, "does not depend on broker being healthy")
        # health check
        test = (svc.get("healthcheck") or {}).get("test")
        test = " ".join(test) if isinstance(test, list) else str(test or "")
        c.expect(f"127.0.0.1:{cfg['metrics']}/readyz" in test, where,
                 f"healthcheck does not fetch http://127.0.0.1:{cfg['metrics']}/readyz")
        # published ports: the web workspace only
        ports = svc.get("ports") or []
        want = [cfg["web"]] if cfg["web"] else []
        got = []
        for p in ports:
            parts = str(p).rsplit(":", 2)
            container = int(parts[-1].split("/")[0])
            hostport = int(parts[-2]) if len(parts) >= 2 else None
            got.append(container)
            c.expect(hostport == container, where, f"publishes {container} as {hostport}")
            c.expect(hostport not in published, where,
                     f"host port {hostport} is published by {published.get(hostport)} too")
            published[hostport] = name
        c.expect(sorted(got) == sorted(want), where,
                 f"publishes {sorted(got)}, expected {want} (the web port only; never {BROKER_PORT} "
                 "or a metrics port)")
        # mounts
        mounts = {}
        for v in svc.get("volumes") or []:
            if isinstance(v, dict):
                src, tgt, ro = v.get("source"), v.get("target"), v.get("read_only", False)
            else:
                parts = str(v).split(":")
                src, tgt = parts[0], parts[1]
                ro = len(parts) > 2 and "ro" in parts[2].split(",")
            mounts[tgt] = (src, ro)
        data_dir = cfg["fields"].get("data_dir")
        src = mounts.get(data_dir, (None,))[0]
        if c.expect(src and "/" not in src and src in declared_volumes, where,
                    f"data_dir {data_dir} is not on a named volume declared under volumes:"):
            c.expect(src not in used_volumes, where,
                     f"volume {src} is used by {used_volumes.get(src)} too")
            used_volumes[src] = name
        for target, why in needed_files(cfg, command).items():
            m = mounts.get(target)
            if not c.expect(m, where, f"{target} ({why}) is not mounted"):
                continue
            src, ro = m
            c.expect(ro, where, f"{target} is not mounted read-only")
            host = os.path.normpath(os.path.join(d, src))
            if target.startswith(f"{ETC}/keys/") or why == "registry_file":
                # made by make-keys.sh; the registry must be the copy with public keys
                c.expect(os.path.dirname(host) == os.path.join(d, "keys") and
                         os.path.basename(host) == os.path.basename(target), where,
                         f"{target} comes from {src}, expected ./keys/{os.path.basename(target)} "
                         "(made by make-keys.sh)")
            else:
                want_src = os.path.join(c.root, "deploy", "config",
                                        os.path.relpath(target, ETC))
                c.expect(host == want_src and os.path.isfile(host), where,
                         f"{target} comes from {src}, expected the file "
                         f"{c.rel(want_src)}")
        c.expect(svc.get("image"), where, "no image")
    return compose


def check_make_keys(c, compose):
    path = os.path.join(c.root, "deploy", "compose", "make-keys.sh")
    if not c.expect(os.path.isfile(path), path, "missing"):
        return
    with open(path, encoding="utf-8") as f:
        text = f.read()
    mounted = set()
    for svc in (compose.get("services") or {}).values():
        for v in (svc or {}).get("volumes") or []:
            src = v.get("source") if isinstance(v, dict) else str(v).split(":")[0]
            if src and src.startswith("./keys/"):
                mounted.add(os.path.basename(src))
    for name in sorted(mounted):
        if name.endswith((".curve", ".seal")):
            continue  # keygen --out keys/<id>, for every id in the registry
        c.expect(name in text, path, f"does not make keys/{name}, which compose.yaml mounts")
    c.expect("set -euo pipefail" in text, path, "does not set -euo pipefail")
    gi = os.path.join(c.root, "deploy", "compose", ".gitignore")
    c.expect(os.path.isfile(gi) and re.search(r"^/?keys/?$", open(gi).read(), re.M), gi,
             "does not ignore keys/")


def check_dockerfile(c, broker, nodes, compose):
    path = os.path.join(c.root, "deploy", "compose", "Dockerfile")
    if not c.expect(os.path.isfile(path), path, "missing"):
        return
    with open(path, encoding="utf-8") as f:
        text = f.read()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M | re.I)
    c.expect(froms and re.fullmatch(r"(docker\.io/)?(library/)?debian:(12|bookworm)[\w.-]*",
                                    froms[-1]), path, f"the image is based on {froms}, not Debian 12")
    c.expect(re.search(r"^USER\s+passage\s*$", text, re.M), path, "does not run as USER passage")
    c.expect(re.search(r"apt-get install[^\n]*--no-install-recommends[^\n]*\./\*\.deb", text),
             path, "does not apt-get install --no-install-recommends ./*.deb")
    c.expect("build/packages/" in text, path, "does not take the packages from build/packages/")
    uses_curl = any("curl" in str((s or {}).get("healthcheck", {}).get("test"))
                    for s in (compose or {}).get("services", {}).values())
    if uses_curl:
        c.expect(re.search(r"apt-get install[^\n]*\bcurl\b", text), path,
                 "compose health checks use curl, which the image does not install")
    # A new named volume takes the ownership of the directory it is mounted over.
    for cfg in [broker] + list(nodes.values()):
        leaf = os.path.basename(cfg["fields"].get("data_dir", "").rstrip("/"))
        c.expect(re.search(rf"(?<![\w-]){re.escape(leaf)}(?![\w-])", text), path,
                 f"does not create the data directory {cfg['fields'].get('data_dir')} for passage")


# ------------------------------------------------------------------------------------------------
# Kubernetes

def selects(selector, labels):
    """A label selector (matchLabels/matchExpressions, or a plain map) against pod labels."""
    if selector is None:
        return False
    match = selector.get("matchLabels", {}) if ("matchLabels" in selector or
                                                 "matchExpressions" in selector) else selector
    for k, v in (match or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions", []) or []:
        op, key, values = e.get("operator"), e.get("key"), e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def from_namespace(peer, name=None):
    """A NetworkPolicy peer limited to one namespace named by its kubernetes.io/metadata.name."""
    ns = (peer.get("namespaceSelector") or {}).get("matchLabels") or {}
    got = ns.get("kubernetes.io/metadata.name")
    return "ipBlock" not in peer and got is not None and (name is None or got == name)


def check_k8s(c, broker, nodes, compose_image):
    d = os.path.join(c.root, "deploy", "k8s")
    docs = load_yaml_dir(c, d)
    if not c.expect(docs, d, "no manifests"):
        return
    objs = {}
    for path, doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc:
            c.fail(path, "a document that is not a Kubernetes object")
            continue
        key = (doc["kind"], doc.get("metadata", {}).get("name"))
        if key in objs:
            c.fail(path, f"{key[0]}/{key[1]} is defined twice (also in {c.rel(objs[key][0])})")
        objs[key] = (path, doc)
        if doc["kind"] != "Namespace":
            c.expect(doc.get("metadata", {}).get("namespace") == NAMESPACE, path,
                     f"{key[0]}/{key[1]} is not in namespace {NAMESPACE}")
    c.expect(("Namespace", NAMESPACE) in objs, d, f"no Namespace {NAMESPACE}")

    def get(kind, name):
        return objs.get((kind, name), (None, None))[1]

    # ConfigMap passage-config is what gen-configmap.sh makes of deploy/config today.
    gen = os.path.join(d, "gen-configmap.sh")
    c.expect(os.path.isfile(gen), gen, "missing")
    cm_path, cm = objs.get(("ConfigMap", "passage-config"), (d, None))
    if c.expect(cm is not None, d, "no ConfigMap passage-config"):
        cfg_dir = os.path.join(c.root, "deploy", "config")
        want = {"broker.textproto": "broker.textproto", "rules.textproto": "rules.textproto"}
        for cfg in nodes.values():
            name = os.path.basename(cfg["path"])
            want["node-" + name] = os.path.join("nodes", name)
        data = cm.get("data") or {}
        for key in sorted(set(data) | set(want)):
            src = os.path.join(cfg_dir, want.get(key, key))
            same = key in want and key in data and os.path.isfile(src) and \
                open(src, encoding="utf-8").read() == data[key]
            what = (f"is not the text of deploy/config/{want[key]}" if key in want else
                    "matches no file of deploy/config")
            c.expect(same, cm_path, f"entry {key} {what} (run deploy/k8s/gen-configmap.sh)")

    workloads = [(p, o) for (k, _), (p, o) in objs.items() if k in ("Deployment", "StatefulSet")]
    policies = [(p, o) for (k, _), (p, o) in objs.items() if k == "NetworkPolicy"]
    services = [(p, o) for (k, _), (p, o) in objs.items() if k == "Service"]
    c.expect(any(not (o["spec"].get("podSelector") or {}) and
                 set(o["spec"].get("policyTypes", [])) == {"Ingress", "Egress"} and
                 not o["spec"].get("ingress") and not o["spec"].get("egress")
                 for _, o in policies), d, "no default-deny NetworkPolicy for the namespace")

    wanted = {"broker": broker}
    wanted.update(nodes)
    # The broker's pod labels, for the clients' Service and NetworkPolicy checks.
    for _, w in workloads:
        for ct in w.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            if flag((ct.get("command") or []) + (ct.get("args") or []), "--config") == \
                    broker["config_target"]:
                broker["pod_labels"] = w["spec"]["template"].get("metadata", {}).get("labels", {})
    found = {}
    for path, w in workloads:
        spec = w.get("spec", {})
        pod = spec.get("template", {}).get("spec", {})
        containers = pod.get("containers", [])
        for ct in containers:
            command = (ct.get("command") or []) + (ct.get("args") or [])
            cfg_path = flag(command, "--config")
            owner = next((a for a, cfg in wanted.items()
                          if cfg["config_target"] == cfg_path), None)
            where = f"{c.rel(path)}: {w['kind']} {w['metadata']['name']}"
            if not c.expect(owner, where, f"--config {cfg_path} is no file of deploy/config"):
                c.expect(command and command[0] in PROGRAMS, where,
                         f"runs '{command[:1]}', not a packaged program")
                continue
            found.setdefault(owner, []).append((path, w))
            check_pod(c, where, w, ct, command, wanted[owner], broker, get, services,
                      policies, compose_image)
    for aid, cfg in wanted.items():
        kind = "StatefulSet" if aid == "broker" else "Deployment"
        got = found.get(aid, [])
        if c.expect(len(got) == 1, d, f"{len(got)} workloads run {c.rel(cfg['path'])}, expected "
                    f"one {kind}"):
            c.expect(got[0][1]["kind"] == kind, got[0][0],
                     f"{aid} runs in a {got[0][1]['kind']}, expected a {kind}")


def check_pod(c, where, w, ct, command, cfg, broker, get, services, policies, image):
    spec = w["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"].get("metadata", {}).get("labels", {}) or {}
    c.expect(selects(spec.get("selector"), labels), where, "its selector does not match its pods")
    c.expect(spec.get("replicas") == 1, where, "replicas is not 1")
    if w["kind"] == "Deployment":
        c.expect((spec.get("strategy") or {}).get("type") == "Recreate", where,
                 "strategy is not Recreate (two pods would share one store)")
        c.expect(labels.get("app.kubernetes.io/instance") == cfg["agency_id"], where,
                 f"pod label app.kubernetes.io/instance is not {cfg['agency_id']}")
    c.expect(image is None or ct.get("image") == image, where, f"image {ct.get('image')}, compose uses {image}")
    host = check_command(c, where, command, cfg, broker)
    if host is not None:  # the endpoint's host is a Service on the broker port selecting the broker
        svc = get("Service", host)
        bpods = broker.get("pod_labels")
        ok = svc is not None and any(p.get("port") == BROKER_PORT and
                                     p.get("targetPort", p.get("port")) == BROKER_PORT
                                     for p in svc["spec"].get("ports", []))
        c.expect(ok, where, f"--broker-endpoint host '{host}' is no Service with port {BROKER_PORT}")
        if svc is not None and bpods is not None:
            c.expect(selects(svc["spec"].get("selector"), bpods), where,
                     f"Service {host} does not select the broker's pods")

    # ports and probes
    want_ports = {cfg["metrics"]} | ({cfg["web"]} if cfg["web"] else set())
    if cfg["stage"] == "passage-broker":
        want_ports.add(BROKER_PORT)
    named = {p.get("name"): p.get("containerPort") for p in ct.get("ports", []) or []}
    got_ports = {p.get("containerPort") for p in ct.get("ports", []) or []}
    c.expect(got_ports == want_ports, where,
             f"container ports {sorted(got_ports)}, expected {sorted(want_ports)}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        http = (ct.get(probe) or {}).get("httpGet") or {}
        port = named.get(http.get("port"), http.get("port"))
        c.expect(http.get("path") == path and port == cfg["metrics"], where,
                 f"{probe} is not httpGet {path} on port {cfg['metrics']} (got "
                 f"{http.get('path')} on {port})")
    # security
    psc, sc = pod.get("securityContext") or {}, ct.get("securityContext") or {}
    c.expect(sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, where, "not runAsNonRoot")
    c.expect(sc.get("readOnlyRootFilesystem") is True, where, "not readOnlyRootFilesystem")
    c.expect(sc.get("allowPrivilegeEscalation") is False, where, "allowPrivilegeEscalation is not false")
    c.expect("ALL" in ((sc.get("capabilities") or {}).get("drop") or []), where,
             "capabilities do not drop ALL")
    req = (ct.get("resources") or {}).get("requests") or {}
    c.expect("cpu" in req and "memory" in req, where, "no cpu and memory requests")

    # volumes: what each mount provides
    vols = {v.get("name"): v for v in pod.get("volumes", []) or []}
    claims = {t["metadata"]["name"]: t for t in spec.get("volumeClaimTemplates", []) or []}
    files = {}
    data_ok = False
    for m in ct.get("volumeMounts", []) or []:
        name, mp = m.get("name"), m.get("mountPath", "").rstrip("/")
        if m.get("subPath"):
            c.fail(where, f"mount {mp} uses subPath, which never sees a Secret or ConfigMap update")
        v = vols.get(name)
        if v is None:
            if c.expect(name in claims, where, f"volumeMount {name} has no volume"):
                data_ok |= mp == cfg["fields"].get("data_dir")
            continue
        if "persistentVolumeClaim" in v:
            claim = v["persistentVolumeClaim"].get("claimName")
            c.expect(get("PersistentVolumeClaim", claim) is not None, where,
                     f"PersistentVolumeClaim {claim} does not exist")
            data_ok |= mp == cfg["fields"].get("data_dir")
            continue
        sources = []
        if "projected" in v:
            sources = v["projected"].get("sources", []) or []
        elif "configMap" in v or "secret" in v:
            sources = [v]
        for s in sources:
            for kind, field in (("ConfigMap", "configMap"), ("Secret", "secret")):
                if field not in s:
                    continue
                ref = s[field]
                oname = ref.get("name") or ref.get("secretName")
                obj = get(kind, oname)
                if not c.expect(obj is not None, where, f"{kind} {oname} does not exist"):
                    continue
                data = dict(obj.get("data") or {})
                data.update(obj.get("stringData") or {})
                items = ref.get("items") or [{"key": k, "path": k} for k in data]
                for it in items:
                    c.expect(it.get("key") in data, where,
                             f"{kind} {oname} has no key {it.get('key')}")
                    files[f"{mp}/{it.get('path')}"] = (kind, oname, data.get(it.get("key")))
    c.expect(data_ok, where, f"data_dir {cfg['fields'].get('data_dir')} is not on a persistent volume")
    for target, why in needed_files(cfg, command).items():
        got = files.get(target)
        if not c.expect(got, where, f"{target} ({why}) comes from no ConfigMap or Secret"):
            continue
        kind, oname, content = got
        secret_file = target.startswith(f"{ETC}/keys/") or why == "registry_file"
        if secret_file:
            # the registry too: the one nodes and broker need holds the agencies' public keys
            c.expect(kind == "Secret", where, f"{target} comes from {kind} {oname}, not a Secret")
        else:
            src = os.path.join(c.root, "deploy", "config", os.path.relpath(target, ETC))
            same = os.path.isfile(src) and open(src, encoding="utf-8").read() == content
            c.expect(kind == "ConfigMap" and same, where,
                     f"{target} comes from {kind} {oname}, not the ConfigMap entry with the text "
                     f"of {c.rel(src)} (run deploy/k8s/gen-configmap.sh)")
    if cfg["stage"] == "passage-broker":
        svc_name = spec.get("serviceName")
        svc = get("Service", svc_name)
        c.expect(svc is not None and svc["spec"].get("clusterIP") == "None", where,
                 f"serviceName {svc_name} is no headless Service")

    # Services selecting these pods expose exactly the container ports.
    mine = [s for _, s in services if selects(s["spec"].get("selector"), labels)]
    c.expect(mine, where, "no Service selects its pods")
    for s in mine:
        for p in s["spec"].get("ports", []) or []:
            tp = p.get("targetPort", p.get("port"))
            tp = named.get(tp, tp)
            c.expect(tp in want_ports and p.get("port") == tp, where,
                     f"Service {s['metadata']['name']} port {p.get('port')}->{tp} is not one of "
                     f"{sorted(want_ports)} (same number on both sides)")
    exposed = {named.get(p.get("targetPort", p.get("port")), p.get("targetPort", p.get("port")))
               for s in mine for p in s["spec"].get("ports", []) or []}
    c.expect(exposed == want_ports, where,
             f"its Services expose {sorted(exposed)}, expected {sorted(want_ports)}")

    # NetworkPolicies: ingress on its own ports only, metrics only from elsewhere than the world.
    ingress, egress = set(), []
    for _, np in policies:
        sp = np["spec"]
        if not selects(sp.get("podSelector") or {}, labels):
            continue
        for rule in sp.get("ingress", []) or []:
            for p in rule.get("ports", []) or [{"port": None}]:
                port = named.get(p.get("port"), p.get("port"))
                ingress.add(port)
                if port == cfg["metrics"]:
                    c.expect(rule.get("from") and all(from_namespace(p) for p in rule["from"]),
                             where, f"NetworkPolicy {np['metadata']['name']} opens metrics port "
                             f"{port} to more than a named (monitoring) namespace")
        egress += sp.get("egress", []) or []
    want_in = {cfg["metrics"]} | ({cfg["web"]} if cfg["web"] else set())
    if cfg["stage"] == "passage-broker":
        want_in.add(BROKER_PORT)
    c.expect(ingress == want_in, where,
             f"NetworkPolicies let in ports {sorted(map(str, ingress))}, expected {sorted(want_in)}")
    if cfg["stage"] == "passage-broker":
        c.expect(not egress, where, "the broker needs no egress, but a NetworkPolicy allows some")
        return
    to_broker = False
    for rule in egress:
        ports = {p.get("port") for p in rule.get("ports", []) or [{"port": None}]}
        if ports <= {53}:  # DNS, in kube-system only
            c.expect(rule.get("to") and all(from_namespace(t, "kube-system") for t in rule["to"]),
                     where, "egress on port 53 goes elsewhere than kube-system")
            continue
        c.expect(ports == {BROKER_PORT}, where,
                 f"egress allowed to ports {sorted(map(str, ports))}; only {BROKER_PORT} (and DNS)")
        bl = broker.get("pod_labels") or {}
        to = rule.get("to") or []
        c.expect(to and all("podSelector" in t and "namespaceSelector" not in t and
                            "ipBlock" not in t and selects(t["podSelector"], bl) for t in to),
                 where, "egress on the broker port goes elsewhere than the broker's pods")
        to_broker = True
    c.expect(to_broker, where, f"no NetworkPolicy lets it reach the broker on {BROKER_PORT}")


# ------------------------------------------------------------------------------------------------

def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), "..", ".."))
    c = Checker(root)
    broker, nodes = load_config(c)
    if broker is not None:
        compose = check_compose(c, broker, nodes) or {}
        check_make_keys(c, compose)
        check_dockerfile(c, broker, nodes, compose)
        image = ((compose.get("services") or {}).get("broker") or {}).get("image")
        check_k8s(c, broker, nodes, image)
    for f in c.failures:
        print(f)
    if c.failures:
        print(f"check_deploy: {len(c.failures)} of {c.checked} checks failed")
        return 1
    print(f"check_deploy: deploy/compose and deploy/k8s agree with deploy/config "
          f"({len(nodes)} node configs, {c.checked} checks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
