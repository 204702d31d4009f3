#!/usr/bin/env python3
"""stigmer beside its peers, measured in one interleaved run on this machine.

    python3 scripts/peers.py [--rounds N] [--idle-secs S]

Installs the peers into .tools/ when missing (supervisord from PyPI
`supervisor`, pm2 from npm, mprocs from crates.io with `cargo install
--locked --root .tools`), then, for each manager, with real processes:

- crash -> respawn: `kill -9` of a supervised sleeper until the manager has
  a new child running it (its children polled every 0.1 ms), rounds
  interleaved across the managers, the service up for > 1.5 s between
  crashes;
- idle: the manager's own processes (not the services) supervising three
  sleepers for S seconds: CPU (% of a core), wake-ups (context switches of
  every thread, per second), resident memory;
- start -> ready of an HTTP service: from launching the manager to the
  service's first HTTP 200;
- stop of a service whose process started a `setsid` child: what survives;
- stop of a service that ignores SIGTERM: time until it is gone;
- the manager `kill -9`ed and started again: the service adopted (one copy,
  same PID) or duplicated (two copies).

Every process it starts carries this run's token in its command line; only
processes proven to carry it are ever signalled. Not part of CI (it takes
minutes and installs more); docs/performance.md reports its figures.
"""

import argparse
import threading
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, ".tools")
PY = os.path.join(TOOLS, "venv", "bin", "python")
TOKEN = f"peersrun{os.getpid()}"
HZ = os.sysconf("SC_CLK_TCK")


def say(msg):
    print(msg, flush=True)


# --- processes ------------------------------------------------------------


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().rstrip(b"\0").split(b"\0")
    except OSError:
        return []


def ours(name=None):
    """PIDs whose command line carries this run's token (and `name`)."""
    out = []
    tok = TOKEN.encode()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        argv = cmdline(int(d))
        if tok in argv and (name is None or name.encode() in argv):
            out.append(int(d))
    return sorted(out)


def kill_proven(pid, sig):
    """Signals `pid` only if its command line carries the token."""
    if pid > 1 and TOKEN.encode() in cmdline(pid):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait(cond, timeout, every=0.01):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(every)
    return None


def service_argv(name, kind="sleep", port=0):
    """A service's argv: it carries the token and its name."""
    code = {
        "sleep": "import time; time.sleep(1e9)",
        "http": f"import http.server as h; h.HTTPServer(('127.0.0.1', {port}), h.SimpleHTTPRequestHandler).serve_forever()",
        "setsid": (
            "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
            "'import time; time.sleep(1e9)', sys.argv[1], sys.argv[2] + '-child'], start_new_session=True); "
            "time.sleep(1e9)"
        ),
        "noterm": "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(1e9)",
    }[kind]
    return [PY, "-c", code, TOKEN, name]


def usage_of(pids):
    """CPU ticks, {tid: context switches}, RSS kB, over pids and threads."""
    ticks = rss = 0
    switches = {}
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
            ticks += int(st[11]) + int(st[12])
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/status") as f:
                    switches[t] = sum(int(l.split()[1]) for l in f if "ctxt_switches" in l)
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return ticks, switches, rss


def woke(before, after):
    """Context switches between two looks, of the threads alive at both."""
    return sum(after[t] - before[t] for t in after if t in before)


def http_ok(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=0.2) as r:
            return r.status == 200
    except Exception:
        return False


# --- the managers ---------------------------------------------------------


class Manager:
    name = "?"

    def __init__(self, work):
        self.work = os.path.join(work, self.name)
        os.makedirs(self.work, exist_ok=True)

    def run(self, *args, check=True, env=None):
        return subprocess.run(
            args,
            cwd=self.work,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=check,
        )

    def manager_pids(self):
        raise NotImplementedError

    def pid_in(self, path, *marks):
        """The PID a manager's PID file names, if that process's command
        line carries one of `marks` (it is that manager, not a PID reused)."""
        try:
            with open(path) as f:
                p = int(f.read().strip())
        except (OSError, ValueError):
            return []
        argv = b" ".join(cmdline(p))
        return [p] if any(m in argv for m in marks) else []

    def kill_manager(self):
        """`kill -9` of the manager's own processes (each proven by its
        command line in `manager_pids`)."""
        for p in self.manager_pids():
            os.kill(p, signal.SIGKILL)

    def restart_manager(self):
        self.start()


class Stigmer(Manager):
    name = "stigmer"

    def __init__(self, work):
        super().__init__(work)
        self.bin = os.path.join(ROOT, "target", "release", "stigmer")
        self.home = os.path.join(self.work, "home")

    def configure(self, services):
        lines = ["[temporal]", "enabled = false", ""]
        for n, argv in services.items():
            lines += [f"[services.{n}]", f"command = {json.dumps(argv)}", "grace_secs = 10.0"]
            lines += ["[services.%s.restart]" % n, "max_failures = 1000", ""]
        with open(os.path.join(self.work, "stigmer.toml"), "w") as f:
            f.write("\n".join(lines))

    def cli(self, *args, check=True):
        return self.run(self.bin, "--home", self.home, "--config", "stigmer.toml", *args, check=check)

    def start(self):
        self.cli("local", "start")

    def stop(self, name):
        self.cli("local", "stop", name)

    def shutdown(self):
        self.cli("local", "stop", check=False)  # the whole stack: the supervisor exits too

    def manager_pids(self):
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                argv = cmdline(int(d))
                if argv[:1] == [self.bin.encode()] and b"supervise" in b" ".join(argv) and self.home.encode() in b" ".join(argv):
                    out.append(int(d))
        return out


class Supervisord(Manager):
    name = "supervisord"

    def configure(self, services):
        conf = [
            "[unix_http_server]",
            f"file={self.work}/s.sock",
            "[supervisord]",
            f"logfile={self.work}/supervisord.log",
            f"pidfile={self.work}/supervisord.pid",
            "nodaemon=false",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "[supervisorctl]",
            f"serverurl=unix://{self.work}/s.sock",
        ]
        for n, argv in services.items():
            conf += [
                f"[program:{n}]",
                "command=" + " ".join(argv[:2]) + ' "' + argv[2].replace('"', '\\"') + '" ' + " ".join(argv[3:]),
                "autorestart=true",
                "startsecs=1",
                "stopwaitsecs=10",
                f"stdout_logfile={self.work}/{n}.log",
                "redirect_stderr=true",
            ]
        self.conf = os.path.join(self.work, "supervisord.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")

    def start(self):
        self.run(os.path.join(TOOLS, "venv", "bin", "supervisord"), "-c", self.conf)

    def ctl(self, *args, check=False):
        return self.run(os.path.join(TOOLS, "venv", "bin", "supervisorctl"), "-c", self.conf, *args, check=check)

    def stop(self, name):
        self.ctl("stop", name)

    def shutdown(self):
        self.ctl("shutdown")

    def manager_pids(self):
        return self.pid_in(os.path.join(self.work, "supervisord.pid"), b"supervisord")


class Pm2(Manager):
    name = "pm2"

    def configure(self, services):
        apps = [
            {
                "name": n,
                "script": argv[0],
                "args": argv[1:],
                "interpreter": "none",
                "autorestart": True,
                "kill_timeout": 10000,
            }
            for n, argv in services.items()
        ]
        self.eco = os.path.join(self.work, "ecosystem.config.js")
        with open(self.eco, "w") as f:
            f.write("module.exports = " + json.dumps({"apps": apps}))

    def pm2(self, *args, check=False):
        return self.run(
            os.path.join(TOOLS, "npm", "node_modules", ".bin", "pm2"),
            *args,
            check=check,
            env={"PM2_HOME": os.path.join(self.work, "pm2home")},
        )

    def start(self):
        self.pm2("start", self.eco)

    def stop(self, name):
        self.pm2("stop", name)

    def shutdown(self):
        self.pm2("kill")

    def manager_pids(self):
        return self.pid_in(os.path.join(self.work, "pm2home", "pm2.pid"), b"PM2", b"God")


class Mprocs(Manager):
    """mprocs is a terminal program: it runs in a tmux session of its own,
    and is driven through its remote-control server."""

    name = "mprocs"

    def configure(self, services):
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        procs = {n: {"cmd": argv, "autorestart": True} for n, argv in services.items()}
        self.names = list(services)
        self.conf = os.path.join(self.work, "mprocs.yaml")
        with open(self.conf, "w") as f:
            f.write(json.dumps({"procs": procs}))  # JSON is YAML
        self.sock = f"peers-{os.getpid()}"

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.sock, *args], capture_output=True, text=True)

    def start(self):
        bin = os.path.join(TOOLS, "bin", "mprocs")
        self.tmux("new-session", "-d", "-s", "m", "-x", "120", "-y", "30",
                  f"{bin} --config {self.conf} --server 127.0.0.1:{self.port}")

    def ctl(self, cmd):
        self.run(os.path.join(TOOLS, "bin", "mprocs"), "--server", f"127.0.0.1:{self.port}", "--ctl", cmd, check=False)

    def stop(self, name):
        self.ctl(json.dumps({"c": "select-proc", "index": self.names.index(name)}))
        self.ctl(json.dumps({"c": "stop-proc"}))

    def shutdown(self):
        self.ctl(json.dumps({"c": "quit"}))
        time.sleep(0.5)
        self.tmux("kill-server")

    def manager_pids(self):
        bin = os.path.join(TOOLS, "bin", "mprocs").encode()
        return [int(d) for d in os.listdir("/proc") if d.isdigit() and cmdline(int(d))[:1] == [bin]]

    def restart_manager(self):
        self.tmux("kill-server")
        self.start()


# --- install --------------------------------------------------------------


def install():
    if not os.path.exists(os.path.join(TOOLS, "venv", "bin", "supervisord")):
        say("installing supervisord (PyPI supervisor) into .tools/venv …")
        subprocess.run([PY, "-m", "pip", "install", "-q", "supervisor==4.2.5"], check=True)
    if not os.path.exists(os.path.join(TOOLS, "npm", "node_modules", ".bin", "pm2")):
        say("installing pm2 (npm) into .tools/npm …")
        subprocess.run(["npm", "install", "--silent", "--prefix", os.path.join(TOOLS, "npm"), "pm2@5.4.3"], check=True)
    if not os.path.exists(os.path.join(TOOLS, "bin", "mprocs")):
        say("installing mprocs (crates.io) into .tools/bin (a few minutes) …")
        subprocess.run(["cargo", "install", "--locked", "--root", TOOLS, "mprocs@0.7.3"], check=True)
    if not os.path.exists(os.path.join(ROOT, "target", "release", "stigmer")):
        say("building stigmer (release) …")
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)


# --- measures -------------------------------------------------------------


def pid_of(name):
    pids = [p for p in ours() if cmdline(p)[-1] == name.encode()]
    return pids[0] if len(pids) == 1 else None


def children(pids):
    out = []
    for p in pids:
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    out.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def crash_once(m, name):
    """`kill -9` of service `name` until its manager has a new child
    running it (the manager's children polled every 0.1 ms)."""
    old = pid_of(name)
    managers = m.manager_pids()
    if old is None or not managers:
        return None

    def respawned():
        return any(c != old and cmdline(c)[-1:] == [name.encode()] for c in children(managers))

    t0 = time.monotonic()
    kill_proven(old, signal.SIGKILL)
    new = wait(respawned, 10, every=0.0001)
    return (time.monotonic() - t0) * 1000 if new else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--idle-secs", type=int, default=30)
    ap.add_argument("--only", default="", help="comma-separated managers")
    a = ap.parse_args()
    install()
    work = tempfile.mkdtemp(prefix="stigmer-peers-")
    kinds = [Stigmer, Supervisord, Pm2, Mprocs]
    if a.only:
        kinds = [k for k in kinds if k.name in a.only.split(",")]
    results = {k.name: {} for k in kinds}
    try:
        # Idle and crash -> respawn: three sleepers each.
        ms = []
        for k in kinds:
            m = k(work)
            names = [f"{m.name}-s{i}" for i in range(3)]
            m.configure({n: service_argv(n) for n in names})
            m.start()
            if not wait(lambda: all(pid_of(n) for n in names), 30):
                say(f"{m.name}: its sleepers never all ran; left out")
                m.shutdown()
                continue
            ms.append((m, names))
        time.sleep(3)
        say(f"idle {a.idle_secs} s, three sleepers each …")
        before = {m.name: usage_of(m.manager_pids()) for m, _ in ms}
        time.sleep(a.idle_secs)
        for m, _ in ms:
            t, s, _ = before[m.name]
            t1, s1, rss = usage_of(m.manager_pids())
            results[m.name]["idle"] = (100 * (t1 - t) / HZ / a.idle_secs, woke(s, s1) / a.idle_secs, rss / 1024)
        say("crash -> respawn, interleaved …")
        for r in range(a.rounds):
            for m, names in ms:
                time.sleep(1.6)  # up for > 1.5 s: not a crash loop
                ms_ = crash_once(m, names[0])
                results[m.name].setdefault("crash", []).append(ms_)
        # The manager kill -9ed, then started again.
        for m, names in ms:
            before = pid_of(names[1])
            m.kill_manager()
            time.sleep(1)
            m.restart_manager()
            time.sleep(5)
            copies = [p for p in ours() if cmdline(p)[-1] == names[1].encode()]
            results[m.name]["kill9"] = (
                "adopted (same PID)" if copies == [before]
                else f"{len(copies)} copies" if len(copies) > 1
                else "none left" if not copies else "replaced (new PID, old gone)"
            )
        for m, names in ms:
            m.shutdown()
            time.sleep(1)
            for p in ours():
                if any(cmdline(p)[-1] == n.encode() for n in names):
                    results[m.name].setdefault("leftover", 0)
                    results[m.name]["leftover"] += 1
                    kill_proven(p, signal.SIGKILL)

        # Stop: a setsid child, and SIGTERM ignored; start -> ready of HTTP.
        port = 28400
        for k in kinds:
            m = k(work + "/b")
            port += 1
            svc = {f"{m.name}-setsid": service_argv(f"{m.name}-setsid", "setsid"),
                   f"{m.name}-noterm": service_argv(f"{m.name}-noterm", "noterm"),
                   f"{m.name}-http": service_argv(f"{m.name}-http", "http", port)}
            m.configure(svc)
            # The manager's start command runs beside the polling (some
            # return only once their services are ready).
            t0 = time.monotonic()
            starting = threading.Thread(target=m.start)
            starting.start()
            ready = wait(lambda: http_ok(port), 30, every=0.001)
            results[m.name]["ready"] = (time.monotonic() - t0) * 1000 if ready else None
            starting.join()
            wait(lambda: pid_of(f"{m.name}-setsid-child") and pid_of(f"{m.name}-noterm"), 20)
            m.stop(f"{m.name}-setsid")
            time.sleep(2)
            results[m.name]["setsid"] = "child survives" if pid_of(f"{m.name}-setsid-child") else "nothing left"
            t0 = time.monotonic()
            noterm = pid_of(f"{m.name}-noterm")
            m.stop(f"{m.name}-noterm")
            gone = wait(lambda: noterm is None or not os.path.exists(f"/proc/{noterm}") or TOKEN.encode() not in cmdline(noterm), 30)
            results[m.name]["noterm"] = (time.monotonic() - t0) if gone else None
            m.shutdown()
            time.sleep(1)
    finally:
        for p in ours():
            kill_proven(p, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)
    report(results)


def report(results):
    def med(v):
        v = [x for x in v or [] if x is not None]
        return f"{statistics.median(v):.1f} ms ({min(v):.1f}–{max(v):.1f})" if v else "never"

    say("\n| manager | crash → respawn, median (min–max) | idle CPU | wake-ups/s | RSS | start → HTTP ready | stop with a setsid child | SIGTERM ignored: gone after | manager kill -9, started again |")
    say("|---|---|---|---|---|---|---|---|---|")
    for n, r in results.items():
        cpu, wake, rss = r.get("idle", (None, None, None))
        say("| {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            n,
            med(r.get("crash")),
            f"{cpu:.3f} %" if cpu is not None else "-",
            f"{wake:.1f}" if wake is not None else "-",
            f"{rss:.1f} MiB" if rss is not None else "-",
            f"{r['ready']:.0f} ms" if r.get("ready") else "never",
            r.get("setsid", "-"),
            f"{r['noterm']:.1f} s" if r.get("noterm") is not None else "never (30 s)",
            r.get("kill9", "-") + (f"; {r['leftover']} left after its shutdown" if r.get("leftover") else ""),
        ))


if __name__ == "__main__":
    sys.exit(main())
