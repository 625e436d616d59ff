"""Test-only callback: append every task result on localhost to the JSON-lines file named by PLUGINS_RESULT_DUMP.

Lets one ansible-playbook run exercise many module calls, each with its own result, check and diff mode.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "plugins_result_dump"
    CALLBACK_NEEDS_ENABLED = True

    def _dump(self, result, status: str) -> None:
        path = os.environ.get("PLUGINS_RESULT_DUMP")
        if not path:
            return
        data = getattr(result, "_result", None)
        if data is None:
            data = getattr(result, "result", {})
        task = getattr(result, "_task", None) or getattr(result, "task", None)
        record = {"task": task.get_name() if task is not None else "", "status": status,
                  "result": json.loads(json.dumps(data, default=str))}
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def v2_runner_on_ok(self, result, **kwargs):
        self._dump(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._dump(result, "failed")

    def v2_runner_on_skipped(self, result, **kwargs):
        self._dump(result, "skipped")
