"""Progress reporting for long operations, through the standard :mod:`logging` module.

gradgen never configures logging on its own: its loggers (all below ``"gradgen"``) have no
handler, so nothing is printed unless the application asks. Long operations log at INFO:

- ``gradgen.passes``: one line per compiler pass, with its wall time and the op counts before
  and after it (``pass 2/5 cse  0.412 s  120034 ->  80211 ops  kernel energy``);
- ``gradgen.lower``: lowering an expression graph to a kernel (time and op count);
- ``gradgen.crate``: writing a Cargo project; ``gradgen.compile``: cargo builds.

To see them, configure logging as usual (``logging.basicConfig(level=logging.INFO)``), or call
:func:`enable_progress` (or set the environment variable ``GRADGEN_PROGRESS=1`` before importing
gradgen) for a compact progress display on stderr: a bar ``[#####-----]`` before each step of a
pass pipeline, one line for everything else. It needs no extra package. ``enable_progress(False)``
removes it again.

A log record that is one step of a sequence carries ``extra={"progress": (done, total)}``; that is
the only convention the rest of the library follows, so every layer reports progress by logging.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

#: the parent of every gradgen logger
LOGGER_NAME = "gradgen"
#: environment variable that turns the progress display on at import (``1``, ``true``, ``yes``, ``on``)
ENV_VAR = "GRADGEN_PROGRESS"
#: characters in the progress bar
BAR_WIDTH = 20


class ProgressHandler(logging.Handler):
    """Renders gradgen's INFO records as a progress display on a text stream.

    A record with a ``progress`` attribute ``(done, total)`` is drawn as ``[####------] message``;
    on a terminal the steps of one sequence overwrite each other and the last one stays.
    Any other record is printed on a line of its own.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(logging.INFO)
        self.stream = stream

    def _target(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stderr

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = self._target()
            tty = stream.isatty()
            progress = getattr(record, "progress", None)
            text = record.getMessage()
            if progress is not None:
                done, total = progress
                filled = BAR_WIDTH * done // total if total > 0 else BAR_WIDTH
                text = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {text}"
            if tty:
                # overwrite the previous step of a sequence; close the line when it is finished
                stream.write("\r\x1b[K" + text)
                if progress is None or progress[0] >= progress[1]:
                    stream.write("\n")
            else:
                stream.write(text + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - logging's contract: report through handleError, never raise
            self.handleError(record)


_handler: ProgressHandler | None = None
_previous_level: int | None = None


def enable_progress(enabled: bool = True, stream: TextIO | None = None) -> None:
    """Show (or with ``enabled=False`` stop showing) the progress of long operations.

    Attaches a :class:`ProgressHandler` writing to ``stream`` (default: ``sys.stderr`` at the time
    of each message) to the ``"gradgen"`` logger and lowers that logger's level to INFO if it was
    less verbose; disabling removes the handler and restores the level. Calling it twice replaces
    the stream.
    """
    global _handler, _previous_level
    logger = logging.getLogger(LOGGER_NAME)
    if _handler is not None:
        logger.removeHandler(_handler)
        _handler = None
        if _previous_level is not None:
            logger.setLevel(_previous_level)
            _previous_level = None
    if not enabled:
        return
    _handler = ProgressHandler(stream)
    logger.addHandler(_handler)
    if logger.getEffectiveLevel() > logging.INFO:
        _previous_level = logger.level
        logger.setLevel(logging.INFO)


def progress_enabled() -> bool:
    """Whether :func:`enable_progress` is in effect."""
    return _handler is not None


def _enable_from_environment() -> None:
    if os.environ.get(ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}:
        enable_progress()
