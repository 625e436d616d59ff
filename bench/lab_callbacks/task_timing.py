# Aggregate callback for bench/lab: wall time per task (from its start to the next task's start, which is
# what a linear play waits for), printed at the end as the slowest tasks.  ansible.posix's profile_tasks does
# the same; this one needs nothing but ansible-core.
from __future__ import annotations

import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_timing
type: aggregate
short_description: wall time per task, slowest first (bench/lab)
description: Prints the slowest tasks of the run with their wall time.
requirements: [enable in configuration (callbacks_enabled)]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._current: tuple[str, float] | None = None
        self._times: dict[str, float] = {}

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

    def v2_playbook_on_stats(self, stats) -> None:
        self._close()
        total = sum(self._times.values())
        self._display.display(f"TASK TIMING total {total:.1f} s in {len(self._times)} tasks; slowest:")
        for name, seconds in sorted(self._times.items(), key=lambda kv: -kv[1])[:20]:
            self._display.display(f"TASK TIMING {seconds:7.2f} s  {name.split('/')[-1]}")
