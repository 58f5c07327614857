"""gunicorn settings for the dashboard: ``gunicorn -c gunicorn.conf.py 'dashboard:create_app()'``.

Command-line options (and ``GUNICORN_CMD_ARGS``) override these.

Threads keep a long CSV export from holding a whole worker; the timeouts let a full export
finish; the access log leaves the query string out, because iamport's webhook token travels in
it (and list filters can hold customers' names).
"""
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND") or "0.0.0.0:8000"
workers = int(os.environ.get("GUNICORN_WORKERS") or multiprocessing.cpu_count() * 2 + 1)
worker_class = "gthread"
threads = 8
# A streamed export keeps writing, but a worker that stops answering for this long is
# restarted: 5 minutes covers a full export of millions of rows on modest hardware.
timeout = 300
graceful_timeout = 60
keepalive = 5
# Larger request lines are refused before the app sees them.
limit_request_line = 8190

accesslog = "-"
# %(U)s is the path without the query string; no %(r)s, %(q)s or referer (%(f)s).
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)ss "%(a)s"'
