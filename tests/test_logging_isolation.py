"""No log handler outlives the test that installed it.

Many tests run ``crmcard``'s commands in this process, and every command calls
:func:`bot.observability.logs.configure`, which puts one handler on the root logger writing
to the ``sys.stderr`` of that moment: in a test, pytest's capture, which ``capsys`` closes
when its test ends. Left there, that handler took the lines of every later test and failed
on each ("--- Logging error --- ... ValueError: I/O operation on closed file"), with the
root level it set. ``tests/conftest.py`` puts logging back as it was after every test; this
module runs that conftest in a pytest session of its own and looks at what is left.
"""

from __future__ import annotations

import logging

import pytest

pytest_plugins = ["pytester"]

COMMAND_THEN_LATER_TEST = """
import logging

from bot.observability import logs


def test_a_command_configures_logging_onto_the_captured_stderr(capsys):
    logs.configure(json_lines=False)
    logging.getLogger("bot.test").warning("the command's line")
    assert "the command's line" in capsys.readouterr().err


def test_a_later_test_logs_as_if_no_command_had_run(capsys, caplog):
    logging.getLogger("bot.test").warning("a later test's line")
    assert "Logging error" not in capsys.readouterr().err
    assert caplog.records[-1].lineno > 0  # its source line is looked up again
"""


def test_logging_configured_by_a_test_is_put_back_when_it_ends(
    pytester: pytest.Pytester,
) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    pytester.makepyfile(test_command=COMMAND_THEN_LATER_TEST)

    result = pytester.runpytest(
        "-p", "tests.conftest", "-o", "asyncio_default_fixture_loop_scope=function"
    )

    result.assert_outcomes(passed=2)
    assert root.handlers == handlers and root.level == level
