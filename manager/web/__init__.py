"""The operator's live view of a running manager: Prometheus ``/metrics``, a dashboard page ``/`` and ``/api`` JSON.

``posman run --http HOST:PORT`` serves them from a thread beside the runtime (``start_web``); nothing
here ever blocks a tick: the runtime's tick observer only keeps a reference to the tick's report and
reads (``WebState.observe``), and every number is computed on the server's own threads from those
and from the database. RPC the view needs (the head for the lag, receipts for gas costs) goes through
its own ``ChainClient``s on a poller thread, never the runtime's.

- ``manager.web.state``: what is shown (positions with their band, decision and liquidation numbers;
  health history with actions; alerts; transactions with gas and cost), as JSON-ready dicts;
- ``manager.web.metrics``: the Prometheus collector (``prometheus-client``) over the same state;
- ``manager.web.server``: the ``ThreadingHTTPServer``, the listen-address rules (loopback unless
  allowed) and the routes; ``manager/web/static/index.html`` is the page (vanilla JS + inline SVG, no
  build step, no external resource: it works offline).
"""

from manager.web.server import WebServer, parse_listen, start_web

__all__ = ["WebServer", "parse_listen", "start_web"]
