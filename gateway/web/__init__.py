"""The HTTP edge: the Starlette app, the GraphQL view and health checks."""
