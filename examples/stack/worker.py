"""A Temporal worker (Python SDK): polls a task queue and runs the Greet
workflow, whose activity calls the greeter service over HTTP.

It reads TEMPORAL_ADDRESS (set by stigmer) and checks at start-up that
Temporal answers, recording the address and the time in its log."""

import asyncio
import os
import socket
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

ADDRESS = os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233")
TASK_QUEUE = os.environ.get("TASK_QUEUE", "hello")
GREETER_URL = os.environ.get("GREETER_URL", "http://127.0.0.1:8089/greet")


@activity.defn
def greet(name: str) -> str:
    url = GREETER_URL + "?" + urllib.parse.urlencode({"name": name})
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


@workflow.defn(name="Greet")
class Greet:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn(name="Broken")
class Broken:
    """A workflow with a bug in its code: its workflow task fails, and
    Temporal retries it until the code is fixed. Start one to see why
    stigmer calls it stuck:  scripts/temporal workflow start --type Broken
    --task-queue hello"""

    @workflow.run
    async def run(self) -> str:
        raise RuntimeError("a bug in Broken's code: its workflow task fails")


def log(message: str) -> None:
    """One line, stamped (so `stigmer local logs` merges it in time order)."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    print(f"{now}Z worker {message}", flush=True)


def temporal_answers() -> bool:
    host, port = ADDRESS.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


async def main() -> None:
    # stigmer starts this worker only once Temporal is ready; say so.
    answered = temporal_answers()
    log(
        f"start-up: temporal answered at {ADDRESS}: {answered} "
        f"(unix ms {int(time.time() * 1000)})"
    )
    # WORKER_IDENTITY: what this worker tells Temporal it is (default: the
    # SDK's `PID@host`).
    client = await Client.connect(ADDRESS, identity=os.environ.get("WORKER_IDENTITY") or None)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        worker = Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[Greet, Broken],
            activities=[greet],
            activity_executor=pool,
        )
        who = os.environ.get("WORKER_IDENTITY") or f"{os.getpid()}@{socket.gethostname()}"
        log(f"polling task queue {TASK_QUEUE} as {who}")
        await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
