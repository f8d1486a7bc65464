"""Plain data and rules of the session list: no I/O."""
