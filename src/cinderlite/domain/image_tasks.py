"""Image tasks (Glance's `tasks`): statuses, the transitions between them, as data.

An interoperable import is recorded as a task of type `api_image_import`
(glance/domain Task), a location added through the 2.17 location API as one
of type `location_import`. A new task is `pending`; its worker moves it to
`processing`, then to `success` (result `{"image_id": ...}`) or `failure` (a
message). An ended task expires `task_time_to_live` hours later and is then
no longer listed.
"""

from __future__ import annotations

from enum import StrEnum

from cinderlite.domain.transitions import Table


class TaskStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILURE = "failure"


S = TaskStatus

# glance/domain Task._validate_task_status_transition; processing -> processing
# is a worker taking up again the task of one that died (its job's lease ran out).
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    S.PENDING: frozenset({S.PROCESSING, S.FAILURE}),
    S.PROCESSING: frozenset({S.PROCESSING, S.SUCCESS, S.FAILURE}),
    S.SUCCESS: frozenset(),
    S.FAILURE: frozenset(),
}

UNFINISHED = frozenset({S.PENDING, S.PROCESSING})

_TABLE = Table(TRANSITIONS)
can_transition = _TABLE.allows
_rule = _TABLE.rule

BEGIN = _rule("begin processing", frozenset({S.PENDING, S.PROCESSING}), S.PROCESSING)
SUCCEED = _rule("succeed", frozenset({S.PROCESSING}), S.SUCCESS)
FAIL = _rule("fail", UNFINISHED, S.FAILURE)

RULES = (BEGIN, SUCCEED, FAIL)

# Glance's task types (glance/domain Task._supported_task_type).
IMPORT_TASK = "api_image_import"  # POST /v2/images/{id}/import
LEGACY_IMPORT_TASK = "import"  # POST /v2/tasks (deprecated)
LOCATION_IMPORT_TASK = "location_import"  # POST /v2/images/{id}/locations (2.17)
TASK_TYPES = (LEGACY_IMPORT_TASK, IMPORT_TASK, LOCATION_IMPORT_TASK)
# The tasks that hold their image's import lock (os_glance_import_task) while they run.
LOCKING_TASKS = frozenset({IMPORT_TASK, LOCATION_IMPORT_TASK})

# Glance [task] task_time_to_live default, in hours.
TASK_TIME_TO_LIVE_HOURS = 48
