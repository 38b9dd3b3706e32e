"""What a user can do, wired to this panel's configuration and queues: one module per domain
(`requests`, `apps`) that both the web pages and the JSON API call.
"""
