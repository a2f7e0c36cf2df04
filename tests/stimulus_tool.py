"""Loads tools/make_stimulus_fixtures.py (not a package) for the stimulus tests: it holds the
deterministic image and Sintel-folder fabricators that both the fixtures and the tests use."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_fixture_tool():
    spec = importlib.util.spec_from_file_location("make_stimulus_fixtures",
                                                  ROOT / "tools" / "make_stimulus_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
