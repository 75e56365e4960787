"""Faults for the job engine's integration tests, loaded only into a test's worker process
(`start_celery_worker(..., include="tests.integration.faults")`), never by the app.

SFT_TEST_CRASH_IMPORT=<file name>: a prompt import of a file by that name kills its worker
    (os._exit, no clean-up, no acknowledgement) right after the claim, at every try.
SFT_TEST_SLOW_HASH_SECONDS=<s>: hashing each file of an export takes that much longer, so
    an export's finishing steps outlast a short staleness limit.
"""

import os
import time
from pathlib import Path

from exports.services import running
from labeling.services import import_jobs

CRASH_IMPORT = os.environ.get("SFT_TEST_CRASH_IMPORT", "")
SLOW_HASH_SECONDS = float(os.environ.get("SFT_TEST_SLOW_HASH_SECONDS", "0"))

if CRASH_IMPORT:
    _prompts_import = import_jobs.prompts_import

    def _crashing_prompts_import(**kwargs):
        if kwargs["source"].name == CRASH_IMPORT:
            os._exit(1)
        return _prompts_import(**kwargs)

    import_jobs.prompts_import = _crashing_prompts_import

if SLOW_HASH_SECONDS:
    _sha256_file = running.sha256_file

    def _slow_sha256_file(path: str | Path) -> str:
        time.sleep(SLOW_HASH_SECONDS)
        return _sha256_file(path)

    running.sha256_file = _slow_sha256_file
