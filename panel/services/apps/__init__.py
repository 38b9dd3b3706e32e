"""Hosted apps once live: operations through their agent, the inventory, TLS status."""
