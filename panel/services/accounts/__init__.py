"""People and their credentials: accounts, passwords, second factor, API tokens, throttling."""
