# Aggregate callback for bench/lab: wall time per task (from its start to the next task's start, which is
# what a linear play waits for), printed at the end as the slowest tasks.  ansible.posix's profile_tasks does
# the same; this one needs nothing but ansible-core.  It also counts the module runs on hosts (a result that is
# neither skipped nor an action the controller answers alone, such as set_fact or debug): each costs a Python start
# and a module import on the host and a worker on the controller, which is what a run that changes nothing pays for,
# and unlike wall time the count does not move with the machine's load.
from __future__ import annotations

import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_timing
type: aggregate
short_description: wall time per task, slowest first (bench/lab)
description: Prints the slowest tasks of the run with their wall time.
requirements: [enable in configuration (callbacks_enabled)]
"""


# Actions that the controller answers without running anything on the host (raw runs a shell command, no Python).
CONTROLLER_ONLY = {"set_fact", "debug", "fail", "assert", "meta", "include_tasks", "include_role", "import_tasks",
                   "import_role", "validate_argument_spec", "include_vars", "add_host", "group_by", "pause"}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._current: tuple[str, float] | None = None
        self._times: dict[str, float] = {}
        self._runs: dict[str, int] = {}
        self._raw = 0

    def _close(self) -> None:
        if self._current is not None:
            name, start = self._current
            self._times[name] = self._times.get(name, 0.0) + time.monotonic() - start
            self._current = None

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self._close()
        self._current = (f"{task.get_path() or ''} {task.get_name()}".strip(), time.monotonic())

    def v2_playbook_on_handler_task_start(self, task) -> None:
        self.v2_playbook_on_task_start(task, False)

    def _count(self, result) -> None:
        action = result._task.action.split(".")[-1]
        if action == "raw":
            self._raw += 1
        elif action not in CONTROLLER_ONLY:
            name = f"{result._task.get_path() or ''} {result._task.get_name()}".strip()
            items = result._result.get("results")
            # a loop's items are module runs each (but for the skipped ones)
            runs = sum(1 for item in items if not item.get("skipped")) if isinstance(items, list) else 1
            self._runs[name] = self._runs.get(name, 0) + runs

    def v2_runner_on_ok(self, result) -> None:
        self._count(result)

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._count(result)

    def v2_playbook_on_stats(self, stats) -> None:
        self._close()
        total = sum(self._times.values())
        runs = sum(self._runs.values())
        self._display.display(f"TASK TIMING total {total:.1f} s in {len(self._times)} tasks, {runs} module runs on hosts"
                              f" (+{self._raw} raw commands); slowest:")
        for name, seconds in sorted(self._times.items(), key=lambda kv: -kv[1])[:int(os.environ.get("TASK_TIMING_TOP", "20"))]:
            self._display.display(f"TASK TIMING {seconds:7.2f} s  {name.split('/')[-1]}  ({self._runs.get(name, 0)} runs)")
