"""The spec contract: every request the fakes receive during the test run is checked
against the official API specs (plugin.py, loaded from tests/conftest.py).

The specs are read from ``../shared/specs`` beside the repository, or from the folder
named by REASONBOT_SPECS_DIR (e.g. in a git worktree elsewhere):

    REASONBOT_SPECS_DIR=/work/shared/specs .venv/bin/python -m pytest

Without them the run says so in one line and checks nothing; under CI=true the contract
tests fail instead.
"""
