"""A progress bar for long simulation runs: on stderr, so stdout stays the table a
script can capture, and silent when stderr is not a terminal (CI logs, pipes) unless
the caller asks for it."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, TextIO

from tqdm import tqdm


class Progress:
    """`with Progress(total, desc="policy") as bar: ... bar.update()`.

    `enabled` None means "only on a terminal"; True forces it (say, a `--progress` flag),
    False silences it.
    """

    def __init__(
        self,
        total: int | None,
        *,
        desc: str,
        enabled: bool | None = None,
        stream: TextIO | None = None,
        unit: str = "consult",
    ) -> None:
        out = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(out, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        # tqdm ships no type information; keep it behind this typed wrapper.
        self._bar: Any = tqdm(
            total=total, desc=desc, file=out, disable=not enabled, unit=unit,
            dynamic_ncols=True, leave=True,
        )

    def update(self, n: int = 1) -> None:
        self._bar.update(n)

    def note(self, **values: object) -> None:
        """Figures shown after the bar, e.g. `note(pooled=12, escalated=3)`."""
        self._bar.set_postfix({k: str(v) for k, v in values.items()}, refresh=False)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
