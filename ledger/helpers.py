"""Helper processes: a plain interpreter that runs one module-level function of aidledger.

Used where a second core reads part of a large input (`ledger.csvparts`, a cut CSV file;
`reconciliation.xmlstream`, a bank file's shares). Not multiprocessing's spawn, which would
import the caller's script (the command line, its settings and store) again in the helper.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence


def helper_command(main: Callable[[Sequence[str]], object], *args: str) -> list[str]:
    """The command line of a helper process that imports ``main`` (a module-level function)
    with this process's ``sys.path`` and calls ``main(args)``: nothing else is imported."""
    code = (
        "import sys, json; sys.path[:0] = json.loads(sys.argv[1]); "
        f"from {main.__module__} import {main.__qualname__} as main; main(sys.argv[2:])"
    )
    return [sys.executable, "-c", code, json.dumps(sys.path), *args]
