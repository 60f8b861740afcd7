"""The dispatch measurement of bench/dispatch-latency.ts, done with the Temporal Python SDK.

    .tools/bench/bin/python bench/dispatch_latency.py --address 127.0.0.1:7233 [--runs 4] [--activities 20]

One fresh worker (the default sandboxed workflow runner) on a task queue of its own runs a workflow of
N no-op activities in sequence, R times one after another. From each run's history it reads how long
every workflow task waited for the worker (WorkflowTaskScheduled -> WorkflowTaskStarted, server
timestamps) and prints one JSON line: {"first": [ms, ...], "later": [ms, ...]}, the waits of the
worker's first workflow and of the ones after it. bench/dispatch-floor.ts runs it beside the
TypeScript worker against the same dev server; `bash scripts/install-bench-tools.sh` installs the SDK.
"""

import argparse
import asyncio
import json
import os
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn
async def noop() -> None:
    return None


@workflow.defn
class ActivityLoopWorkflow:
    @workflow.run
    async def run(self, n: int) -> None:
        for _ in range(n):
            await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=10))


def _ms(ts) -> float:
    return ts.seconds * 1000 + ts.nanos / 1e6


async def dispatch_waits(client: Client, workflow_id: str) -> list[float]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    waits: list[float] = []
    scheduled = None
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            scheduled = _ms(event.event_time)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED and scheduled is not None:
            waits.append(_ms(event.event_time) - scheduled)
            scheduled = None
    return waits


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True, help="the dev server's host:port")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--activities", type=int, default=20)
    parser.add_argument("--label", default="py", help="prefix of the task queue and workflow ids")
    args = parser.parse_args()
    if args.runs < 1 or args.activities < 1:
        parser.error("--runs and --activities must be positive integers")

    client = await Client.connect(args.address, namespace=args.namespace)
    task_queue = f"{args.label}-dispatch-{os.getpid()}"
    first: list[float] = []
    later: list[float] = []
    async with Worker(client, task_queue=task_queue, workflows=[ActivityLoopWorkflow], activities=[noop]):
        for run in range(args.runs):
            workflow_id = f"{task_queue}-{run}"
            await client.execute_workflow(
                ActivityLoopWorkflow.run, args.activities, id=workflow_id, task_queue=task_queue
            )
            (first if run == 0 else later).extend(await dispatch_waits(client, workflow_id))
    print(json.dumps({"first": first, "later": later}))


if __name__ == "__main__":
    asyncio.run(main())
