#!/usr/bin/env python3
"""The plain reader vtsync's backfill is measured against: one session fetching every record of a module
with `SELECT * FROM M WHERE id > '<last>' ORDER BY id LIMIT 100;`, back to back, storing nothing.

    bench/plain_reader.py URL USER ACCESS_KEY MODULE
    -> {"rows": N, "seconds": S, "rows_per_s": R, "queries": Q}

URL is Vtiger's base URL on loopback (http://127.0.0.1:PORT); works against the fake and a real Vtiger.
"""
import hashlib
import http.client
import json
import sys
import time
import urllib.parse


def main():
    url, user, key, module = sys.argv[1:5]
    parsed = urllib.parse.urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("plain_reader: loopback only")
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=600)
    path = parsed.path.rstrip("/") + "/webservice.php"

    def call(method, params):
        body = urllib.parse.urlencode(params)
        if method == "GET":
            conn.request("GET", path + "?" + body)
        else:
            conn.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})
        answer = json.loads(conn.getresponse().read())
        if not answer.get("success"):
            sys.exit("plain_reader: " + json.dumps(answer.get("error")))
        return answer["result"]

    token = call("GET", {"operation": "getchallenge", "username": user})["token"]
    digest = hashlib.md5((token + key).encode()).hexdigest()
    session = call("POST", {"operation": "login", "username": user, "accessKey": digest})["sessionName"]
    last, rows, queries = "0x0", 0, 0
    started = time.monotonic()
    while True:
        vtql = f"SELECT * FROM {module} WHERE id > '{last}' ORDER BY id LIMIT 100;"
        page = call("GET", {"operation": "query", "sessionName": session, "query": vtql})
        queries += 1
        if not page:
            break
        rows += len(page)
        last = page[-1]["id"]
    seconds = time.monotonic() - started
    print(json.dumps({"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds, 1),
                      "queries": queries}))


if __name__ == "__main__":
    main()
