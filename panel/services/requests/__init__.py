"""Hosting requests: filing, the SOP workflow, Mutu Baku timing, worklists, step actions."""
