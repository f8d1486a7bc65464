"""The server the gateway runs in: uvicorn, with the tweaks the gateway needs, all here.

- ``http.py``: uvicorn's httptools protocol with bounds on a request's head and on how long a
  head or body may take (``GuardedHttpProtocol``, ``ConnectionLimits``);
- ``websocket.py``: uvicorn's WebSocket protocol offering the app a way to send a text frame
  at once, from a callback (``SEND_TEXT_NOW``: the sender the live path's fan-out writes to);
- ``listener.py``: uvloop's loop, accepting every waiting connection each time it polls;
- ``config.py``: uvicorn's configuration with the three (``ServerConfig``, ``server_config``);
- ``graceful.py``: the server ``gateway serve`` runs (``GracefulServer``), and ``workers.py``
  its supervisor for ``--workers``.

What they use of uvicorn's and websockets' internals is in ``gateway/_compat``.
"""
