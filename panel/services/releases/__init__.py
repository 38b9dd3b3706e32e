"""Releases: scanning bundles and builds, deploying through the agents, new versions."""
