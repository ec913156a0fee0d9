#!/usr/bin/env python3
"""moto's own server, unchanged, with a clock a test can set (and root's access key flag).

moto stamps keys' creation and last use with the current time and has no way to change it; the
remediation scenarios need keys created and used months ago. This runs moto's WSGI application
(what `moto_server` runs) and answers one extra path before it:

  POST   /_clock?at=UNIX_SECONDS           moto's clock jumps there and keeps ticking
  POST   /_clock?at=UNIX_SECONDS&tick=no   ... and stands still there
  DELETE /_clock                           back to the real time
  POST   /_root_access_keys?account=ID&present=1|0
                                           the flag moto's GetAccountSummary reports as
                                           AccountAccessKeysPresent (moto cannot create a root
                                           user's key, and its own state has the field)

Usage: moto-clock.py PORT (listens on 127.0.0.1 only).
"""

import datetime
import sys
import threading
import urllib.parse

import freezegun
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

moto = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()
freezer = None


def set_clock(seconds, tick=True):
    global freezer
    with lock:
        if freezer is not None:
            freezer.stop()
            freezer = None
        if seconds is not None:
            freezer = freezegun.freeze_time(
                datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc),
                tick=tick,
            )
            freezer.start()


def set_root_access_keys(environ, start_response):
    from moto.iam.models import iam_backends

    query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    account, present = query.get("account", ""), query.get("present", "")
    if len(account) != 12 or not account.isdigit() or present not in ("0", "1"):
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"expected account=12 digits and present=0|1\n"]
    iam_backends[account]["aws"].account_summary._account_access_keys_present = int(present)
    start_response("204 No Content", [])
    return []


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/_root_access_keys" and environ["REQUEST_METHOD"] == "POST":
        return set_root_access_keys(environ, start_response)
    if environ.get("PATH_INFO") != "/_clock":
        return moto(environ, start_response)
    method = environ["REQUEST_METHOD"]
    try:
        if method == "POST":
            query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
            set_clock(float(query.get("at", "")), tick=query.get("tick") != "no")
        elif method == "DELETE":
            set_clock(None)
        else:
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain")])
            return [b"POST or DELETE\n"]
    except ValueError as err:
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [f"expected Unix seconds: {err}\n".encode()]
    start_response("204 No Content", [])
    return []


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: moto-clock.py PORT")
    make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True).serve_forever()
