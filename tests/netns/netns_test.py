#!/usr/bin/env python3
"""Multi-host fault test of Passage with network namespaces (issue 12, item 8).

The broker, the referral engine (passage-router) and three agency nodes (a first responder, fia,
and two shelters, shelter-a and shelter-b) each run in their own network namespace with their own
address, joined by veth pairs to a bridge in a hub namespace:

    psgns-broker    10.77.0.1   passage-broker, listens on tcp://10.77.0.1:7450
    psgns-router    10.77.0.2   passage-router (nrm-router)
    psgns-fia       10.77.0.3   passage-identification (first responder, owns every case)
    psgns-shelter-a 10.77.0.4   passage-protection, region PK-SD, auto_accept true
    psgns-shelter-b 10.77.0.5   passage-protection, region PK-PB, auto_accept false
    psgns-hub                   bridge psgnsbr0 with the hub ends h-<name> of the veth pairs

Every node's control socket is an ipc:// socket on the filesystem, so passagectl runs in the root
namespace and reaches every node whatever the state of its network.

Phases (each wait is bounded; the whole test takes about a minute):
  1. baseline: cases from fia that the women-to-shelter rule sends to shelter-a all arrive;
  2. shelter-a's link down (its hub end) for LINK_DOWN_S while more cases are routed to it, then
     up: every referral arrives exactly once, accepted, in per-case order;
  3. 30% packet loss on shelter-a (nft or iptables in its namespace; tc netem where the kernel
     has no sch_netem does not work) for LOSS_S while more cases flow, then healed: same checks.
     Skipped with the reason printed when no loss mechanism works here;
  4. the router cut off from the broker (its link down) while two drill referrals (deadline
     DRILL_S seconds) wait at shelter-b: one is accepted at shelter-b during the partition, before
     its deadline; the other stays unanswered. Healed after the deadlines: the unanswered one is
     expired and escalated exactly once to shelter-a (a referral whose parent is the first); the
     one accepted in time is neither expired nor escalated.

Exit 0 passed, 1 failed (with the tails of every process log), 77 skipped (one line saying why:
not root, no `ip`, or `ip netns add` not permitted).

usage: netns_test.py BUILD_DIR       (BUILD_DIR holds broker/server/passage-broker etc.)
Set PASSAGE_NETNS_KEEP=1 to keep the temporary directory.
"""

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

SKIP = 77
PREFIX = "psgns-"
HUB = PREFIX + "hub"
BRIDGE = "psgnsbr0"
BROKER_ADDR = "10.77.0.1"
BROKER_PORT = 7450
HOSTS = {  # name -> (address, agency id)
    "broker": ("10.77.0.1", None),
    "router": ("10.77.0.2", "nrm-router"),
    "fia": ("10.77.0.3", "fia"),
    "shelter-a": ("10.77.0.4", "shelter-a"),
    "shelter-b": ("10.77.0.5", "shelter-b"),
}
BASELINE_CASES = 10
LINK_DOWN_CASES = 6
LINK_DOWN_S = 10.0
LOSS_CASES = 6
LOSS_S = 10.0
LOSS_PERCENT = 30
DRILL_S = 6          # respond_within_seconds of the drill rule (phase 4)
WAIT_S = 45.0        # bound of every wait for something to arrive
ADMIN_PASSWORD = "netns-admin-password"
DESK_TEMP_PASSWORD = "netns-desk-temporary"
DESK_PASSWORD = "netns-desk-password"


def log(msg):
    print("netns: " + msg, flush=True)


class Failure(Exception):
    pass


def run(cmd, check=True, timeout=30, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise Failure("command failed (%d): %s\n%s%s" % (r.returncode, " ".join(cmd), r.stdout,
                                                          r.stderr))
    return r


def ns_of(host):
    return PREFIX + host


def ns_run(host, cmd, check=True, **kw):
    return run(["ip", "netns", "exec", ns_of(host)] + cmd, check=check, **kw)


# ---- preflight and cleanup ---------------------------------------------------------------------

def skip(reason):
    print("SKIPPED: netns_partitions: " + reason, flush=True)
    sys.exit(SKIP)


def preflight():
    if os.geteuid() != 0:
        skip("needs root to create network namespaces (ip netns add); run as root, as CI does")
    if shutil.which("ip") is None:
        skip("the `ip` command (iproute2) is not installed")
    probe = PREFIX + "probe-%d" % os.getpid()
    r = subprocess.run(["ip", "netns", "add", probe], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        skip("`ip netns add` is not permitted here: " + (r.stderr.strip() or "exit %d" % r.returncode))
    r2 = subprocess.run(["ip", "netns", "exec", probe, "ip", "link", "add", "psgnsv0", "type", "veth",
                         "peer", "name", "psgnsv1"], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)
    subprocess.run(["ip", "netns", "del", probe], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if r2.returncode != 0:
        skip("veth pairs cannot be made here: " + r2.stderr.strip())


def our_namespaces():
    r = run(["ip", "netns", "list"], check=False)
    out = []
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(PREFIX):
            out.append(name)
    return out


def cleanup_network(quiet=False):
    """Kills every process left in a psgns- namespace (by a crashed earlier run or this one) and
    deletes the namespaces, which deletes their veths and the bridge."""
    for ns in our_namespaces():
        r = run(["ip", "netns", "pids", ns], check=False)
        for pid in r.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
    if our_namespaces():
        time.sleep(0.2)  # let the killed processes go before their namespaces
    for ns in our_namespaces():
        r = run(["ip", "netns", "del", ns], check=False)
        if r.returncode != 0 and not quiet:
            log("could not delete namespace %s: %s" % (ns, r.stderr.strip()))


def hub_end(host):
    return "h-" + host  # at most 15 characters


def setup_network():
    run(["ip", "netns", "add", HUB])
    hub = ["ip", "netns", "exec", HUB]
    run(hub + ["ip", "link", "set", "lo", "up"])
    run(hub + ["ip", "link", "add", BRIDGE, "type", "bridge"])
    run(hub + ["ip", "link", "set", BRIDGE, "up"])
    for host, (addr, _) in HOSTS.items():
        ns = ns_of(host)
        run(["ip", "netns", "add", ns])
        # Made in the hub, the node end moved into the host's namespace and renamed eth0.
        run(hub + ["ip", "link", "add", hub_end(host), "type", "veth", "peer", "name", "n-" + host])
        run(hub + ["ip", "link", "set", "n-" + host, "netns", ns])
        run(hub + ["ip", "link", "set", hub_end(host), "master", BRIDGE])
        run(hub + ["ip", "link", "set", hub_end(host), "up"])
        ns_run(host, ["ip", "link", "set", "n-" + host, "name", "eth0"])
        ns_run(host, ["ip", "addr", "add", addr + "/24", "dev", "eth0"])
        ns_run(host, ["ip", "link", "set", "eth0", "up"])
        ns_run(host, ["ip", "link", "set", "lo", "up"])


def set_link(host, up):
    """Cuts (or restores) a host's cable: its end on the bridge goes down, so the host's eth0 loses
    carrier and packets in both directions are dropped; the host keeps its address and routes."""
    run(["ip", "netns", "exec", HUB, "ip", "link", "set", hub_end(host), "up" if up else "down"])


# ---- packet loss ---------------------------------------------------------------------------------

NFT_TABLE = "psgns_loss"


class Loss:
    """Random packet loss on one host's eth0, both directions, with a drop counter."""

    def __init__(self):
        self.mechanism = None
        self.why_not = []

    def probe(self):
        """Finds a mechanism that works in a scratch namespace: nft, else iptables (both drop in
        both directions), else tc netem (egress only). Returns None or why none works."""
        probe = PREFIX + "lossprobe"
        run(["ip", "netns", "add", probe])
        try:
            if shutil.which("nft"):
                r = run(["ip", "netns", "exec", probe, "nft", "-f", "-"], check=False,
                        input=self._nft_rules("lo", 30))
                if r.returncode == 0:
                    self.mechanism = "nft"
                    return None
                self.why_not.append("nft: " + r.stderr.strip())
            else:
                self.why_not.append("nft: not installed (Debian package nftables)")
            if shutil.which("iptables"):
                r = run(["ip", "netns", "exec", probe, "iptables", "-A", "INPUT", "-i", "lo", "-m",
                         "statistic", "--mode", "random", "--probability", "0.3", "-j", "DROP"],
                        check=False)
                if r.returncode == 0:
                    self.mechanism = "iptables"
                    return None
                self.why_not.append("iptables: " + r.stderr.strip())
            else:
                self.why_not.append("iptables: not installed (Debian package iptables)")
            r = run(["ip", "netns", "exec", probe, "tc", "qdisc", "add", "dev", "lo", "root",
                     "netem", "loss", "30%"], check=False) if shutil.which("tc") else None
            if r is not None and r.returncode == 0:
                self.mechanism = "tc-netem"
                return None
            self.why_not.append("tc netem: " + ("tc not installed" if r is None else
                                                 (r.stderr.strip() or "failed")))
            return "; ".join(self.why_not)
        finally:
            run(["ip", "netns", "del", probe], check=False)

    @staticmethod
    def _nft_rules(dev, percent):
        return ("table inet %s {\n"
                " chain in { type filter hook input priority 0; policy accept;\n"
                "  iifname \"%s\" numgen random mod 100 < %d counter drop; }\n"
                " chain out { type filter hook output priority 0; policy accept;\n"
                "  oifname \"%s\" numgen random mod 100 < %d counter drop; }\n"
                "}\n" % (NFT_TABLE, dev, percent, dev, percent))

    def start(self, host, percent):
        p = "%.2f" % (percent / 100.0)
        if self.mechanism == "tc-netem":
            ns_run(host, ["tc", "qdisc", "add", "dev", "eth0", "root", "netem", "loss",
                          "%d%%" % percent])
            # tc netem only drops on egress; ingress loss would need an ifb: egress only then.
        elif self.mechanism == "nft":
            ns_run(host, ["nft", "-f", "-"], input=self._nft_rules("eth0", percent))
        elif self.mechanism == "iptables":
            for chain, opt in (("INPUT", "-i"), ("OUTPUT", "-o")):
                ns_run(host, ["iptables", "-A", chain, opt, "eth0", "-m", "statistic", "--mode",
                              "random", "--probability", p, "-j", "DROP"])

    def stop(self, host):
        """Removes the loss; returns how many packets it dropped (None when unknown)."""
        dropped = None
        if self.mechanism == "tc-netem":
            ns_run(host, ["tc", "qdisc", "del", "dev", "eth0", "root"], check=False)
        elif self.mechanism == "nft":
            r = ns_run(host, ["nft", "-j", "list", "table", "inet", NFT_TABLE], check=False)
            try:
                dropped = 0
                for item in json.loads(r.stdout).get("nftables", []):
                    for expr in item.get("rule", {}).get("expr", []):
                        if "counter" in expr:
                            dropped += int(expr["counter"]["packets"])
            except (ValueError, KeyError, TypeError):
                dropped = None
            ns_run(host, ["nft", "delete", "table", "inet", NFT_TABLE], check=False)
        elif self.mechanism == "iptables":
            dropped = 0
            for chain in ("INPUT", "OUTPUT"):
                r = ns_run(host, ["iptables", "-L", chain, "-n", "-v", "-x"], check=False)
                for line in r.stdout.splitlines():
                    f = line.split()
                    if len(f) > 2 and f[2] == "DROP" and f[0].isdigit():
                        dropped += int(f[0])
                ns_run(host, ["iptables", "-F", chain], check=False)
        return dropped


# ---- the NRM -------------------------------------------------------------------------------------

def set_pdeathsig():
    # The children die with the test (PR_SET_PDEATHSIG = 1, SIGKILL): a runner killed on its
    # timeout leaves no process behind. `ip netns exec` execs the program, which keeps it.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


class Nrm:
    def __init__(self, build, tmp):
        self.build = build
        self.tmp = tmp
        self.procs = {}  # host -> Popen
        self.ctl_bin = os.path.join(build, "services/ctl/passagectl")
        self.bins = {
            "broker": os.path.join(build, "broker/server/passage-broker"),
            "router": os.path.join(build, "services/router/passage-router"),
            "fia": os.path.join(build, "services/stages/passage-identification"),
            "shelter-a": os.path.join(build, "services/stages/passage-protection"),
            "shelter-b": os.path.join(build, "services/stages/passage-protection"),
        }
        for b in list(self.bins.values()) + [self.ctl_bin]:
            if not os.access(b, os.X_OK):
                raise Failure("missing binary %s (build first)" % b)
        for d in ("keys", "logs", "nodes", "sessions", "work"):
            os.makedirs(os.path.join(tmp, d), exist_ok=True)
        self.env = dict(os.environ, PASSAGE_SESSION_DIR=os.path.join(tmp, "sessions"))

    # -- files

    def keygen(self, name):
        prefix = os.path.join(self.tmp, "keys", name)
        r = run([self.ctl_bin, "keygen", "--out", prefix, "--json"])
        return json.loads(r.stdout)

    def write_files(self):
        broker = self.keygen("broker")
        self.broker_public = broker["transport_public_key"]
        with open(os.path.join(self.tmp, "keys/person.secret"), "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        agencies = [
            # id, type, region, services, first_responder, system
            ("fia", "AGENCY_TYPE_LAW_ENFORCEMENT", "PK-SD", ["SERVICE_TYPE_INVESTIGATION"], True, False),
            ("shelter-a", "AGENCY_TYPE_SHELTER", "PK-SD", ["SERVICE_TYPE_SHELTER"], False, False),
            ("shelter-b", "AGENCY_TYPE_SHELTER", "PK-PB", ["SERVICE_TYPE_SHELTER"], False, False),
            ("nrm-router", "AGENCY_TYPE_OTHER", "PK-IS", [], False, True),
        ]
        reg = []
        for aid, typ, region, services, fr, system in agencies:
            k = self.keygen(aid)
            e = ['  id: "%s"' % aid, '  name: "netns agency %s"' % aid, "  type: %s" % typ,
                 '  region: "%s"' % region]
            e += ["  services: %s" % s for s in services]
            e += ["  capacity: 0", '  transport_public_key: "%s"' % k["transport_public_key"],
                  '  sealing_public_key: "%s"' % k["sealing_public_key"]]
            if system:
                e.append("  override_roles: ACTOR_ROLE_SYSTEM")
            e.append("  first_responder: %s" % ("true" if fr else "false"))
            e.append("  system_principal: %s" % ("true" if system else "false"))
            reg.append("agencies {\n" + "\n".join(e) + "\n}\n")
        self.registry = os.path.join(self.tmp, "registry.textproto")
        with open(self.registry, "w") as f:
            f.write("".join(reg))

        # Women and girls: a shelter in the region of identification (shelter-a for PK-SD), an
        # hour to answer. Men and boys: a drill with a deadline of DRILL_S seconds, a shelter in the
        # region first (shelter-b for PK-PB), escalated to the other shelter when it runs out.
        def rule(name, sex, seconds):
            return ("rules {\n"
                    '  name: "%s"\n  description: "netns rule %s"\n'
                    "  when { sex_in: %s }\n"
                    "  service: SERVICE_TYPE_SHELTER\n  priority: PRIORITY_URGENT\n"
                    "  respond_within_seconds: %d\n  kind: REFERRAL_KIND_REFERRAL\n"
                    "  data_scope: DATA_SECTION_PROFILE\n  data_scope: DATA_SECTION_PERSONAL\n"
                    "  data_scope: DATA_SECTION_CONSENTS\n  data_scope: DATA_SECTION_SERVICES\n"
                    "  consent_scope: CONSENT_SCOPE_SERVICES\n"
                    "  agency_types: AGENCY_TYPE_SHELTER\n  prefer_same_region: true\n"
                    "}\n" % (name, name, sex, seconds))
        self.rules = os.path.join(self.tmp, "rules.textproto")
        with open(self.rules, "w") as f:
            f.write(rule("women-to-shelter", "SEX_FEMALE", 3600))
            f.write(rule("men-to-shelter-drill", "SEX_MALE", DRILL_S))

        for host in ("router", "fia", "shelter-a", "shelter-b"):
            aid = HOSTS[host][1]
            data = self.data_dir(host)
            os.makedirs(data, exist_ok=True)
            pw = data + ".admin-password"
            with open(pw, "w") as f:
                f.write(ADMIN_PASSWORD + "\n")
            c = ['agency_id: "%s"' % aid,
                 'broker_endpoint: "tcp://%s:%d"' % (BROKER_ADDR, BROKER_PORT),
                 'broker_public_key: "%s"' % self.broker_public,
                 'secret_key_file: "%s"' % os.path.join(self.tmp, "keys", aid + ".curve"),
                 'sealing_key_file: "%s"' % os.path.join(self.tmp, "keys", aid + ".seal"),
                 'person_secret_file: "%s"' % os.path.join(self.tmp, "keys/person.secret"),
                 'data_dir: "%s"' % data,
                 'registry_file: "%s"' % self.registry,
                 "tick_ms: 100",
                 "auto_accept: %s" % ("true" if host == "shelter-a" else "false"),
                 'staff { initial_admin_password_file: "%s" }' % pw]
            if host == "router":
                c.append('rules_file: "%s"' % self.rules)
            with open(data + ".textproto", "w") as f:
                f.write("\n".join(c) + "\n")

    def data_dir(self, host):
        return os.path.join(self.tmp, "nodes", HOSTS[host][1])

    def log_path(self, host):
        return os.path.join(self.tmp, "logs", host + ".log")

    # -- processes

    def spawn(self, host, args):
        logf = open(self.log_path(host), "ab")
        p = subprocess.Popen(["ip", "netns", "exec", ns_of(host), self.bins[host]] + args,
                             stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                             preexec_fn=set_pdeathsig)
        logf.close()
        self.procs[host] = p

    def start(self):
        endpoint_file = os.path.join(self.tmp, "broker.endpoint")
        self.spawn("broker", ["--data-dir", os.path.join(self.tmp, "broker"),
                              "--registry", self.registry,
                              "--key-file", os.path.join(self.tmp, "keys/broker.curve"),
                              "--listen", "tcp://%s:%d" % (BROKER_ADDR, BROKER_PORT),
                              "--endpoint-file", endpoint_file])
        wait_until("the broker to serve", lambda: os.path.exists(endpoint_file)
                   or self.exited("broker"), 20)
        if self.exited("broker"):
            raise Failure("the broker exited at start")
        for host in ("router", "fia", "shelter-a", "shelter-b"):
            self.spawn(host, ["--config", self.data_dir(host) + ".textproto"])
        for host in ("router", "fia", "shelter-a", "shelter-b"):
            self.login(host)
        for host in ("router", "fia", "shelter-a", "shelter-b"):
            wait_until(host + " to connect to the broker", lambda h=host: self.connected(h), 30)

    def exited(self, host):
        p = self.procs.get(host)
        return p is not None and p.poll() is not None

    def check_running(self):
        for host, p in self.procs.items():
            if p.poll() is not None:
                raise Failure("%s exited with %s" % (host, p.returncode))

    def stop(self):
        """Nodes first (all signalled, then reaped; SIGKILL after 10 s), then the broker."""
        nodes = [h for h in self.procs if h != "broker"]
        for group in (nodes, [h for h in self.procs if h == "broker"]):
            for host in group:
                self._signal(host, signal.SIGTERM)
            for host in group:
                p = self.procs[host]
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def _signal(self, host, sig):
        p = self.procs[host]
        if p.poll() is None:
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass

    def save_evidence(self):
        """PASSAGE_NETNS_KEEP: every node's inbox and the journeys of every case, as each node
        tells them, in TMP/evidence, for a look after the run."""
        out = os.path.join(self.tmp, "evidence")
        os.makedirs(out, exist_ok=True)
        try:
            for host in ("router", "fia", "shelter-a", "shelter-b"):
                if self.exited(host):
                    continue
                with open(os.path.join(out, host + ".inbox.json"), "w") as f:
                    json.dump(self.ctl(host, ["inbox", "--all"], check=False), f, indent=1)
                cases = self.ctl(host, ["cases"], check=False) or []
                for c in cases:
                    cid = c.get("case_id")
                    with open(os.path.join(out, "%s.journey.%s.json" % (host, cid)), "w") as f:
                        json.dump(self.journey(host, cid), f, indent=1)
        except (Failure, OSError, ValueError, subprocess.TimeoutExpired) as e:
            log("could not save the evidence: %s" % e)

    def dump_logs(self, tail=4000):
        for host in self.procs:
            try:
                with open(self.log_path(host), "rb") as f:
                    data = f.read().decode("utf-8", "replace")
            except OSError:
                data = "(no log)"
            if len(data) > tail:
                data = "..." + data[-tail:]
            print("---- log of %s (%s) ----\n%s" % (host, self.log_path(host), data), flush=True)

    # -- passagectl

    def ctl(self, host, args, json_out=True, check=True, stdin=None, timeout_ms=15000):
        cmd = [self.ctl_bin, "--node", self.data_dir(host), "--timeout", str(timeout_ms)]
        if json_out:
            cmd.append("--json")
        r = subprocess.run(cmd + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=self.env, input=stdin, timeout=timeout_ms / 1000.0 + 10)
        if check and r.returncode != 0:
            raise Failure("passagectl %s on %s exited %d: %s%s" % (" ".join(args), host, r.returncode,
                                                                 r.stdout, r.stderr.strip()))
        if json_out and r.returncode == 0:
            return json.loads(r.stdout) if r.stdout.strip() else None
        return r

    def login(self, host):
        """Signs in as the node admin, adds the desk account (every work role) and signs in as it."""
        work = os.path.join(self.tmp, "work")
        admin_pw = os.path.join(work, "admin.pw")
        temp_pw = os.path.join(work, "desk-temp.pw")
        change = os.path.join(work, "desk-change.pw")
        desk_pw = os.path.join(work, "desk.pw")
        for path, text in ((admin_pw, ADMIN_PASSWORD + "\n"), (temp_pw, DESK_TEMP_PASSWORD + "\n"),
                           (change, DESK_TEMP_PASSWORD + "\n" + DESK_PASSWORD + "\n"),
                           (desk_pw, DESK_PASSWORD + "\n")):
            with open(path, "w") as f:
                f.write(text)
        # The node may still be opening its socket: retry the first sign-in for a while.
        deadline = time.monotonic() + 30
        while True:
            r = self.ctl(host, ["login", "admin", "--password-file", admin_pw], json_out=False,
                         check=False, timeout_ms=3000)
            if r.returncode == 0:
                break
            if time.monotonic() > deadline or self.exited(host):
                raise Failure("cannot sign in to %s: %s" % (host, r.stderr.strip()))
            time.sleep(0.2)
        self.ctl(host, ["staff", "add", "desk", "--roles",
                        "case-worker,supervisor,data-officer,coordinator,auditor",
                        "--password-file", temp_pw], json_out=False)
        self.ctl(host, ["login", "desk", "--password-file", temp_pw], json_out=False)
        self.ctl(host, ["passwd", "--password-file", change], json_out=False)
        self.ctl(host, ["login", "desk", "--password-file", desk_pw], json_out=False)

    def connected(self, host):
        r = self.ctl(host, ["status"], check=False, timeout_ms=3000)
        return isinstance(r, dict) and bool(r.get("connected"))

    def status(self, host):
        return self.ctl(host, ["status"], check=False, timeout_ms=5000)

    def intake(self, request):
        path = os.path.join(self.tmp, "work", "intake-%s.json" % uuid.uuid4().hex)
        with open(path, "w") as f:
            json.dump(request, f)
        # Exit 4 ("queued case ID") would mean fia could not reach the broker: not expected here.
        out = self.ctl("fia", ["intake", "--file", path], timeout_ms=20000)
        return out["case_id"]

    def inbox(self, host):
        return self.ctl(host, ["inbox", "--all"], timeout_ms=10000) or []

    def journey(self, host, case_id):
        r = self.ctl(host, ["journey", case_id], check=False, timeout_ms=10000)
        return r if isinstance(r, dict) else None


def woman(province="PK-SD"):
    return {"crime_type": "CRIME_TYPE_TIP", "person_role": "PERSON_ROLE_PRESUMED_VICTIM",
            "profile": {"sex": "SEX_FEMALE", "age_years": 24, "citizenship": ["PK"],
                        "country_of_identification": "PK", "province_of_identification": province,
                        "country_of_exploitation": "PK",
                        "exploitation_forms": ["EXPLOITATION_FORM_SEXUAL_EXPLOITATION"],
                        "identification_channel": "IDENTIFICATION_CHANNEL_POLICE_OPERATION"},
            "consents": [{"scope": "CONSENT_SCOPE_SERVICES", "given_by": "CONSENT_GIVER_SELF"}],
            "personal": {"given_name": "Synthetic", "family_name": "Person"}}


def boy(province="PK-PB"):
    return {"crime_type": "CRIME_TYPE_TIP", "person_role": "PERSON_ROLE_PRESUMED_VICTIM",
            "profile": {"sex": "SEX_MALE", "age_years": 15, "citizenship": ["PK"],
                        "country_of_identification": "PK", "province_of_identification": province,
                        "exploitation_forms": ["EXPLOITATION_FORM_CHILD_LABOUR"],
                        "labour_sectors": ["LABOUR_SECTOR_BRICK_KILNS"],
                        "identification_channel": "IDENTIFICATION_CHANNEL_LABOUR_INSPECTION"},
            "consents": [{"scope": "CONSENT_SCOPE_SERVICES", "given_by": "CONSENT_GIVER_GUARDIAN"}],
            "personal": {"given_name": "Synthetic", "family_name": "Boy"}}


# ---- checks --------------------------------------------------------------------------------------

def wait_until(what, pred, timeout, poll=0.2, describe=None):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise Failure("timed out after %.0f s waiting for %s%s" % (
                timeout, what, ("\n  last seen: " + describe()) if describe else ""))
        time.sleep(poll)


def short(s):
    return (s or "")[:8]


STATUS_PREFIX = "REFERRAL_STATUS_"


def status_name(v):
    v = v or ""
    return v[len(STATUS_PREFIX):] if v.startswith(STATUS_PREFIX) else v


def check_referrals_arrived_once(nrm, host, case_ids, phase, expect_status="ACCEPTED"):
    """Every case of `case_ids` has exactly one referral in `host`'s inbox, in `expect_status`,
    whose history went through each state once and in order; the host's and the router's journeys
    of the case list each event once, in per-case order."""
    inbox = nrm.inbox(host)
    by_case = {}
    seen_ids = {}
    for r in inbox:
        seen_ids[r.get("referral_id")] = seen_ids.get(r.get("referral_id"), 0) + 1
        by_case.setdefault(r.get("case_id"), []).append(r)
    dups = {k: n for k, n in seen_ids.items() if n > 1}
    if dups:
        raise Failure("%s: referrals listed more than once in %s's inbox: %s" % (phase, host, dups))
    for c in case_ids:
        refs = by_case.get(c, [])
        if len(refs) != 1:
            raise Failure("%s: case %s has %d referrals in %s's inbox, expected 1: %s" % (
                phase, c, len(refs), host, json.dumps(refs)[:2000]))
        r = refs[0]
        if status_name(r.get("status")) != expect_status:
            raise Failure("%s: referral %s of case %s is %s at %s, expected %s" % (
                phase, r.get("referral_id"), c, r.get("status"), host, expect_status))
        hist = [(status_name(h.get("from")), status_name(h.get("to"))) for h in r.get("history", [])]
        tos = [t for _, t in hist]
        if len(tos) != len(set(tos)):
            raise Failure("%s: referral %s went through a state twice at %s: %s" % (
                phase, r.get("referral_id"), host, hist))
        gseq = [int(h.get("global_seq", 0)) for h in r.get("history", [])]
        if gseq != sorted(set(gseq)):
            raise Failure("%s: referral %s history not in log order at %s: global_seq %s" % (
                phase, r.get("referral_id"), host, gseq))
        for i in range(1, len(hist)):
            if hist[i][0] != hist[i - 1][1]:
                raise Failure("%s: referral %s history out of order at %s: %s" % (
                    phase, r.get("referral_id"), host, hist))
        for where in (host, "router"):
            check_journey_order(nrm, where, c, phase, r.get("referral_id"))


def check_journey_order(nrm, host, case_id, phase, referral_id=None):
    j = nrm.journey(host, case_id)
    if j is None:
        raise Failure("%s: no journey of case %s at %s" % (phase, case_id, host))
    entries = j.get("entries", [])
    seqs = [int(e.get("case_seq", 0)) for e in entries]
    gseqs = [int(e.get("global_seq", 0)) for e in entries]
    if len(seqs) != len(set(seqs)) or seqs != sorted(seqs) or gseqs != sorted(gseqs):
        raise Failure("%s: journey of case %s at %s not in per-case order or with repeats: "
                      "case_seq %s global_seq %s" % (phase, case_id, host, seqs, gseqs))
    if host == "router" and seqs != list(range(1, len(seqs) + 1)):
        raise Failure("%s: the router's journey of case %s is not the whole case in order: "
                      "case_seq %s" % (phase, case_id, seqs))
    if referral_id and len(j.get("referrals", [])) != 1:
        raise Failure("%s: case %s should have exactly one referral, %s tells %d: %s" % (
            phase, case_id, host, len(j.get("referrals", [])),
            [(short(r.get("referral_id")), r.get("to_agency"), r.get("status"))
             for r in j.get("referrals", [])]))
    if referral_id:
        for ref in j.get("referrals", []):
            if ref.get("referral_id") != referral_id:
                continue
            steps = [s.get("status") for s in ref.get("steps", [])]
            if len(steps) != len(set(steps)):
                raise Failure("%s: referral %s has a step twice in %s's journey: %s" % (
                    phase, referral_id, host, steps))
    return j


def wait_accepted(nrm, host, case_ids, t0, what):
    """Waits until every case has an ACCEPTED referral in host's inbox; returns {case: seconds
    after t0 it was first seen accepted}."""
    arrived = {}

    def poll():
        now = time.monotonic() - t0
        for r in nrm.inbox(host):
            if r.get("case_id") in case_ids and status_name(r.get("status")) == "ACCEPTED":
                arrived.setdefault(r.get("case_id"), now)
        return len(arrived) == len(case_ids)

    wait_until(what, poll, WAIT_S, poll=0.25,
               describe=lambda: "%d of %d accepted at %s" % (len(arrived), len(case_ids), host))
    return arrived


def timings(d):
    v = sorted(d.values())
    if not v:
        return "none"
    return "first %.2f s, median %.2f s, last %.2f s" % (v[0], v[len(v) // 2], v[-1])


# ---- the phases ------------------------------------------------------------------------------------

def phase_baseline(nrm, report):
    t0 = time.monotonic()
    cases = [nrm.intake(woman()) for _ in range(BASELINE_CASES)]
    arrived = wait_accepted(nrm, "shelter-a", set(cases), t0, "baseline referrals at shelter-a")
    check_referrals_arrived_once(nrm, "shelter-a", cases, "baseline")
    report.append("baseline: %d cases accepted at shelter-a after intake: %s" % (
        len(cases), timings(arrived)))
    log(report[-1])
    return cases


def phase_link_down(nrm, report, earlier):
    log("phase 2: shelter-a's link down for %.0f s while %d cases are routed to it" % (
        LINK_DOWN_S, LINK_DOWN_CASES))
    set_link("shelter-a", False)
    t_cut = time.monotonic()
    cases = []
    try:
        for i in range(LINK_DOWN_CASES):
            cases.append(nrm.intake(woman()))
            time.sleep(min(1.0, LINK_DOWN_S / (LINK_DOWN_CASES + 1)))
        # While cut: the router has sent the referrals (the broker holds them) but none may have
        # reached shelter-a.
        wait_until("the router to send every referral of the cut",
                   lambda: all(len(((nrm.journey("router", c) or {}).get("referrals") or [])) == 1
                               for c in cases), WAIT_S)
        inbox = {r.get("case_id") for r in nrm.inbox("shelter-a")}
        leaked = [c for c in cases if c in inbox]
        if leaked:
            raise Failure("link down: %d referrals reached shelter-a through a cut link" % len(leaked))
        st = nrm.status("shelter-a")
        remaining = LINK_DOWN_S - (time.monotonic() - t_cut)
        if remaining > 0:
            time.sleep(remaining)
        st_end = nrm.status("shelter-a")
    finally:
        set_link("shelter-a", True)
    t_heal = time.monotonic()
    log("link restored after %.1f s (shelter-a said connected=%s while cut, %s at the end)" % (
        t_heal - t_cut, (st or {}).get("connected"), (st_end or {}).get("connected")))
    arrived = wait_accepted(nrm, "shelter-a", set(cases), t_heal,
                            "referrals held during the cut to reach shelter-a")
    wait_until("shelter-a to say it is connected", lambda: nrm.connected("shelter-a"), WAIT_S)
    check_referrals_arrived_once(nrm, "shelter-a", cases, "link down")
    # The earlier cases were not delivered again as new referrals either.
    check_referrals_arrived_once(nrm, "shelter-a", earlier, "link down (earlier cases)")
    report.append("link down %.1f s: %d referrals accepted at shelter-a after the link came back: %s"
                  % (t_heal - t_cut, len(cases), timings(arrived)))
    log(report[-1])
    return cases


def phase_loss(nrm, report, loss, earlier):
    if loss.mechanism is None:
        report.append("loss: SKIPPED: no packet loss mechanism works here (%s); install the Debian "
                      "package nftables or iptables" % "; ".join(loss.why_not))
        log(report[-1])
        return []
    log("phase 3: %d%% loss on shelter-a (%s) for %.0f s while %d cases are routed to it" % (
        LOSS_PERCENT, loss.mechanism, LOSS_S, LOSS_CASES))
    loss.start("shelter-a", LOSS_PERCENT)
    t_start = time.monotonic()
    cases = []
    opened = {}    # case -> when intake returned
    accepted = {}  # case -> when first seen ACCEPTED at shelter-a
    dropped = None

    def look():
        now = time.monotonic()
        for r in nrm.inbox("shelter-a"):
            if r.get("case_id") in opened and status_name(r.get("status")) == "ACCEPTED":
                accepted.setdefault(r.get("case_id"), now)

    try:
        for i in range(LOSS_CASES):
            c = nrm.intake(woman())
            opened[c] = time.monotonic()
            cases.append(c)
            look()
            time.sleep(min(1.0, LOSS_S / (LOSS_CASES + 1)))
        while time.monotonic() - t_start < LOSS_S:
            look()
            time.sleep(0.3)
    finally:
        dropped = loss.stop("shelter-a")
    t_heal = time.monotonic()
    during = {c: accepted[c] - opened[c] for c in accepted}
    wait_until("referrals sent during the loss to reach shelter-a",
               lambda: look() or len(accepted) == len(cases), WAIT_S, poll=0.25,
               describe=lambda: "%d of %d accepted" % (len(accepted), len(cases)))
    after = {c: accepted[c] - t_heal for c in accepted if c not in during}
    check_referrals_arrived_once(nrm, "shelter-a", cases, "loss")
    check_referrals_arrived_once(nrm, "shelter-a", earlier, "loss (earlier cases)")
    report.append("%d%% loss (%s, %s packets dropped) for %.1f s: %d of %d referrals accepted at "
                  "shelter-a during the loss, intake to accepted: %s; the rest after healing: %s" % (
                      LOSS_PERCENT, loss.mechanism, "?" if dropped is None else dropped,
                      t_heal - t_start, len(during), len(cases), timings(during), timings(after)))
    log(report[-1])
    return cases


def referrals_of(j):
    return (j or {}).get("referrals") or []


def phase_router_partition(nrm, report):
    log("phase 4: the router cut off from the broker while drill referrals (%d s) wait at "
        "shelter-b" % DRILL_S)
    unanswered = nrm.intake(boy())
    answered = nrm.intake(boy())
    first = {}

    def sent():
        for c in (unanswered, answered):
            refs = referrals_of(nrm.journey("fia", c))
            if len(refs) == 1 and refs[0].get("to_agency") == "shelter-b" and \
                    refs[0].get("status") in ("RECEIVED",):
                first[c] = refs[0]
        return len(first) == 2

    wait_until("both drill referrals to be RECEIVED at shelter-b", sent, WAIT_S,
               describe=lambda: json.dumps({c: [(r.get("to_agency"), r.get("status")) for r in
                                                referrals_of(nrm.journey("fia", c))]
                                            for c in (unanswered, answered)}))
    ref_u = first[unanswered]["referral_id"]
    ref_a = first[answered]["referral_id"]
    respond_by_ms = max(int(first[c].get("respond_by_ms", 0)) for c in first)
    set_link("router", False)
    t_cut = time.monotonic()
    try:
        # shelter-b accepts one of them in time, while the router cannot see it.
        left_s = respond_by_ms / 1000.0 - time.time()
        nrm.ctl("shelter-b", ["referral", "accept", ref_a], timeout_ms=10000)
        log("accepted %s at shelter-b %.1f s before its deadline, during the partition" % (
            short(ref_a), left_s))
        # Past both deadlines (and a margin): nothing has expired while the router is away.
        wait_s = respond_by_ms / 1000.0 - time.time() + 3.0
        if wait_s > 0:
            time.sleep(wait_s)
        j = nrm.journey("fia", unanswered)
        st = [r.get("status") for r in referrals_of(j)]
        if st != ["RECEIVED"]:
            raise Failure("partition: the unanswered referral changed while the router was cut off: %s"
                          % st)
        rst = nrm.status("router") or {}
    finally:
        set_link("router", True)
    t_heal = time.monotonic()
    log("router partition healed after %.1f s (the router said connected=%s, outbox=%s just "
        "before)" % (t_heal - t_cut, rst.get("connected"), rst.get("outbox")))

    seen = {}

    def escalated():
        now = time.monotonic() - t_heal
        j = nrm.journey("fia", unanswered)
        refs = referrals_of(j)
        for r in refs:
            if r.get("referral_id") == ref_u and r.get("status") == "EXPIRED":
                seen.setdefault("expired", now)
            if r.get("parent_referral_id") == ref_u:
                seen.setdefault("escalated", now)
                if r.get("status") in ("RECEIVED", "ACCEPTED"):
                    seen.setdefault("child received", now)
                if r.get("status") == "ACCEPTED":
                    seen.setdefault("child accepted", now)
        return "child accepted" in seen

    wait_until("the unanswered referral to be expired and escalated to shelter-a", escalated, WAIT_S,
               describe=lambda: json.dumps([(short(r.get("referral_id")), r.get("to_agency"),
                                             r.get("status"), short(r.get("parent_referral_id")))
                                            for r in referrals_of(nrm.journey("fia", unanswered))]))
    # Let everything settle, then look at both cases as the owner and as the router tell them.
    wait_until("the router's outbox to drain",
               lambda: (nrm.status("router") or {}).get("outbox") == 0, WAIT_S,
               describe=lambda: json.dumps(nrm.status("router")))
    time.sleep(2.0)
    for where in ("fia", "router"):
        j = check_journey_order(nrm, where, unanswered, "partition")
        refs = referrals_of(j)
        children = [r for r in refs if r.get("parent_referral_id") == ref_u]
        first_r = [r for r in refs if r.get("referral_id") == ref_u]
        if len(refs) != 2 or len(children) != 1 or len(first_r) != 1:
            raise Failure("partition: case %s at %s should have the first referral and exactly one "
                          "escalation, has: %s" % (unanswered, where, json.dumps(refs)[:3000]))
        child = children[0]
        if child.get("to_agency") != "shelter-a" or child.get("status") != "ACCEPTED":
            raise Failure("partition: the escalation went to %s and is %s (expected shelter-a, "
                          "ACCEPTED)" % (child.get("to_agency"), child.get("status")))
        if first_r[0].get("status") != "EXPIRED":
            raise Failure("partition: the unanswered referral is %s, expected EXPIRED" %
                          first_r[0].get("status"))
        exp_steps = [s for s in first_r[0].get("steps", []) if s.get("status") == "EXPIRED"]
        if len(exp_steps) != 1:
            raise Failure("partition: the referral expired %d times" % len(exp_steps))
        if int(exp_steps[0].get("at_ms", 0)) < int(first_r[0].get("respond_by_ms", 0)):
            raise Failure("partition: the referral expired before its deadline: %s < %s" % (
                exp_steps[0].get("at_ms"), first_r[0].get("respond_by_ms")))
        if child.get("priority") != "EMERGENCY":
            raise Failure("partition: an expired URGENT referral should be escalated as EMERGENCY, "
                          "got %s" % child.get("priority"))
        ja = check_journey_order(nrm, where, answered, "partition")
        refs_a = referrals_of(ja)
        if len(refs_a) != 1 or refs_a[0].get("status") != "ACCEPTED":
            raise Failure("partition: the referral accepted in time at shelter-b should stay "
                          "ACCEPTED with no escalation; %s tells: %s" % (
                              where, json.dumps([(short(r.get("referral_id")), r.get("to_agency"),
                                                  r.get("status"), [s.get("status") for s in
                                                                    r.get("steps", [])])
                                                 for r in refs_a])))
    # shelter-a has the escalation once; shelter-b has both first referrals once.
    esc = [r for r in nrm.inbox("shelter-a") if r.get("case_id") == unanswered]
    if len(esc) != 1 or esc[0].get("parent_referral_id") != ref_u:
        raise Failure("partition: shelter-a's inbox has %d referrals of the escalated case" % len(esc))
    at_b = [r for r in nrm.inbox("shelter-b") if r.get("case_id") in (unanswered, answered)]
    if sorted(r.get("referral_id") for r in at_b) != sorted([ref_u, ref_a]):
        raise Failure("partition: shelter-b's inbox: %s" % [(short(r.get("referral_id")),
                                                             r.get("status")) for r in at_b])
    report.append("router partition %.1f s (deadline %d s passed during it): after healing the "
                  "referral was EXPIRED at %.2f s, escalated at %.2f s, received at shelter-a at "
                  "%.2f s, accepted at %.2f s; the referral accepted in time stayed ACCEPTED" % (
                      t_heal - t_cut, DRILL_S, seen.get("expired", -1), seen.get("escalated", -1),
                      seen.get("child received", -1), seen.get("child accepted", -1)))
    log(report[-1])


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    build = os.path.abspath(sys.argv[1])
    preflight()
    cleanup_network(quiet=True)  # leftovers of a crashed earlier run
    t_begin = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="passage-netns-")
    nrm = None
    ok = False
    report = []
    try:
        loss = Loss()
        why = loss.probe()
        log("packet loss mechanism: %s" % (loss.mechanism or ("none (%s)" % why)))
        setup_network()
        nrm = Nrm(build, tmp)
        nrm.write_files()
        nrm.start()
        log("NRM up in %.1f s (%s)" % (time.monotonic() - t_begin, tmp))
        base = phase_baseline(nrm, report)
        cut = phase_link_down(nrm, report, base)
        phase_loss(nrm, report, loss, base + cut)
        phase_router_partition(nrm, report)
        nrm.check_running()
        ok = True
    except Failure as e:
        print("FAILED: netns_partitions: %s" % e, flush=True)
    except Exception as e:  # a bug in the test itself: still clean up, and say so
        import traceback
        traceback.print_exc()
        print("FAILED: netns_partitions: %s: %s" % (type(e).__name__, e), flush=True)
    finally:
        if nrm is not None:
            if not ok:
                nrm.dump_logs()
            if os.environ.get("PASSAGE_NETNS_KEEP"):
                nrm.save_evidence()
            nrm.stop()
        cleanup_network()
        if os.environ.get("PASSAGE_NETNS_KEEP"):
            log("keeping %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    log("timings:")
    for line in report:
        print("  " + line, flush=True)
    log("%s in %.1f s" % ("passed" if ok else "FAILED", time.monotonic() - t_begin))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
