"""Loads tools/make_stimulus_fixtures.py (not a package) for the stimulus tests: it holds the
deterministic image and Sintel-folder fabricators that both the fixtures and the tests use."""

from tool_loader import load_tool


def load_fixture_tool():
    return load_tool("make_stimulus_fixtures")
