#!/usr/bin/env python3
"""Soak of the default path (not in CI): the example stack under the
detached supervisor for DURATION seconds (default 600), with random
faults every few seconds — kill -9 of a service, `local restart`, a save of
worker.py (watch), a save of the config (reload), a dash attached and
detached in tmux, the supervisor SIGSTOPped then SIGCONTed. It samples the
supervisor's file descriptors, threads and RSS, checks that what `status`
says agrees with /proc, and at the end that every kill -9 is in the
supervisor's history. Prints its figures; exits 1 on a finding.

  .tools/venv/bin/python scripts/soak.py [DURATION] [SEED]

Every signal goes to a process proven ours: a service by the tag stigmer
put in its environment, the supervisor by its command line (`local
supervise` with this soak's own state directory)."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# SOAK_PROFILE=debug soaks the debug build (to try the script itself).
PROFILE = os.environ.get("SOAK_PROFILE", "release")
STIGMER = os.path.join(ROOT, "target", PROFILE, "stigmer")
PYTHON = os.path.join(ROOT, ".tools", "venv", "bin", "python")
TEMPORAL = os.path.join(ROOT, ".tools", "venv", "bin", "temporal")
SERVICES = ["temporal", "greeter", "worker"]


def say(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Soak:
    def __init__(self, seconds, seed):
        self.seconds = seconds
        self.rng = random.Random(seed)
        self.dir = tempfile.mkdtemp(prefix="stigmer-soak-")
        self.home = os.path.join(self.dir, "home")
        self.port = 27433
        self.findings = []
        self.kills = []  # (service, pid)
        self.samples = []
        self.actions = {}
        app = os.path.join(self.dir, "stack")
        shutil.copytree(os.path.join(ROOT, "examples", "stack"), app)
        cfg = open(os.path.join(app, "stigmer.toml")).read()
        cfg = cfg.replace("../../.tools/venv/bin/python", PYTHON)
        cfg = cfg.replace("../../.tools/venv/bin/temporal", TEMPORAL)
        cfg = cfg.replace("8089", str(self.port + 2))
        self.config = os.path.join(app, "stigmer.toml")
        open(self.config, "w").write(cfg)
        self.worker_py = os.path.join(app, "worker.py")

    def cmd(self, *args, timeout=120):
        argv = [STIGMER, "--home", self.home, "--config", self.config,
                "--port", str(self.port), *args]
        env = {k: v for k, v in os.environ.items()
               if k not in ("STIGMER_HOME", "STIGMER_CONFIG", "STIGMER_UNSUPERVISED")}
        env["PATH"] = os.path.dirname(TEMPORAL) + ":" + env.get("PATH", "")
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)

    def status(self):
        out = self.cmd("local", "status", "--json", timeout=30)
        if out.returncode != 0:
            return None
        return json.loads(out.stdout)

    def supervisor(self):
        st = self.status()
        pid = st and st.get("supervisor") and st["supervisor"].get("pid")
        if pid and self.is_our_supervisor(pid):
            return pid
        return None

    def is_our_supervisor(self, pid):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            return False
        args = [a.decode(errors="replace") for a in argv]
        pairs = list(zip(args, args[1:]))
        return ("--home", self.home) in pairs and ("local", "supervise") in pairs

    def tag_of(self, pid):
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            return None
        for kv in env:
            if kv.startswith(b"STIGMER_SERVICE="):
                return kv.split(b"=", 1)[1].decode()
        return None

    def service_pid(self, name):
        st = self.status()
        for s in (st or {}).get("services", []):
            if s["name"] == name and s.get("pid"):
                return s["pid"]
        return None

    # The faults.

    def kill9(self):
        name = self.rng.choice(SERVICES)
        pid = self.service_pid(name)
        tag = pid and self.tag_of(pid)
        if not pid or not tag or not tag.startswith(name + ":"):
            return f"kill -9 {name}: not running now"
        os.kill(pid, signal.SIGKILL)  # proven ours by its tag
        self.kills.append((name, pid))
        return f"kill -9 {name} (PID {pid})"

    def restart(self):
        name = self.rng.choice(["greeter", "worker"])
        out = self.cmd("local", "restart", name)
        if out.returncode != 0:
            self.findings.append(f"local restart {name} failed: {out.stderr.strip()}")
        return f"local restart {name}"

    def save_worker(self):
        with open(self.worker_py, "a") as f:
            f.write(f"# soak {time.time()}\n")
        return "saved worker.py (watch restarts the worker)"

    def save_config(self):
        with open(self.config, "a") as f:
            f.write(f"# soak {time.time()}\n")
        return "saved stigmer.toml (a reload: nothing changed)"

    def dash(self):
        sock = f"soak-{os.getpid()}"
        line = (f"{STIGMER} --home {self.home} --config {self.config} --port {self.port} "
                f"dash --no-start; sleep 5")
        subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-s", "d",
                        "-x", "160", "-y", "45", line], check=False)
        time.sleep(3)
        subprocess.run(["tmux", "-L", sock, "send-keys", "-t", "d", "q"], check=False)
        time.sleep(2)
        subprocess.run(["tmux", "-L", sock, "kill-server"], check=False,
                       stderr=subprocess.DEVNULL)
        return "a dash attached, then q"

    def stop_cont(self):
        pid = self.supervisor()
        if not pid:
            return "SIGSTOP: no supervisor found"
        os.kill(pid, signal.SIGSTOP)  # proven ours by its command line
        time.sleep(3)
        os.kill(pid, signal.SIGCONT)
        return f"SIGSTOP, 3 s, SIGCONT of the supervisor (PID {pid})"

    # What is watched.

    def sample(self):
        pid = self.supervisor()
        if not pid:
            self.findings.append("no supervisor answering")
            return
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        status = open(f"/proc/{pid}/status").read()
        threads = int(next(l for l in status.splitlines() if l.startswith("Threads:")).split()[1])
        rss = int(next(l for l in status.splitlines() if l.startswith("VmRSS:")).split()[1])
        self.samples.append((time.time(), pid, fds, threads, rss))
        st = self.status() or {}
        for s in st.get("services", []):
            if s["name"] == "setup":
                continue
            if s["state"] == "running":
                p = s.get("pid")
                if not p or not os.path.exists(f"/proc/{p}"):
                    self.findings.append(f"{s['name']} said running with PID {p}, not in /proc")

    def run(self):
        if PROFILE == "release":
            say("building stigmer (release; cargo says when it is up to date)…")
            subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
        say(f"state dir {self.home}; starting the example stack")
        out = self.cmd("local", "start")
        if out.returncode != 0:
            raise SystemExit(f"start failed: {out.stderr}")
        faults = [self.kill9, self.kill9, self.restart, self.save_worker,
                  self.save_config, self.dash, self.stop_cont]
        end = time.time() + self.seconds
        self.sample()
        while time.time() < end:
            fault = self.rng.choice(faults)
            what = fault()
            self.actions[fault.__name__] = self.actions.get(fault.__name__, 0) + 1
            say(what)
            time.sleep(self.rng.uniform(3, 8))
            self.sample()
        # Settle, then account for everything.
        time.sleep(10)
        out = self.cmd("local", "wait", "--timeout", "60")
        if out.returncode != 0:
            self.findings.append(f"not all ready at the end: {out.stderr.strip()}")
        events = self.cmd("local", "events", "--json").stdout.splitlines()
        events = [json.loads(e) for e in events if e.strip()]
        for name, pid in self.kills:
            if not any(e["kind"] == "exited" and e.get("pid") == pid for e in events):
                self.findings.append(f"kill -9 of {name} PID {pid} is not in the history")
        self.report(events)
        self.cmd("local", "stop")
        if not self.findings:
            shutil.rmtree(self.dir, ignore_errors=True)

    def report(self, events):
        s = self.samples
        def col(i):
            return [x[i] for x in s]
        say(f"{len(s)} samples over {self.seconds} s; actions {self.actions}")
        for i, what in [(2, "fds"), (3, "threads"), (4, "RSS KiB")]:
            v = col(i)
            say(f"supervisor {what}: first {v[0]}, last {v[-1]}, min {min(v)}, max {max(v)}")
        pids = sorted(set(col(1)))
        say(f"supervisor PIDs seen: {pids}")
        say(f"kill -9s: {len(self.kills)}, each in the history: "
            f"{not any('not in the history' in f for f in self.findings)}")
        st = self.status() or {}
        for sv in st.get("services", []):
            restarts = (sv.get("supervisor") or {}).get("restarts")
            killed = sum(1 for n, _ in self.kills if n == sv["name"])
            say(f"  {sv['name']}: {sv['state']}, restarts {restarts}, kill -9s {killed}")
            # Restart counters move for crashes only: one per kill -9.
            if sv["name"] in SERVICES and restarts != killed:
                self.findings.append(f"{sv['name']}: {restarts} restarts for {killed} kill -9s")
        if self.findings:
            say("FINDINGS:")
            for f in self.findings:
                say(f"  {f}")
        else:
            say("no findings")


if __name__ == "__main__":
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    soak = Soak(seconds, seed)
    try:
        soak.run()
    finally:
        soak.cmd("local", "kill")
    sys.exit(1 if soak.findings else 0)
