# Records each load of this script in loads.txt beside it: one line per
# interpreter that loaded it (its application group, or %{GLOBAL}, and the
# process id), and in exits.txt one line per interpreter whose atexit
# functions ran. Tests run a copy of it in a directory of their own.
import atexit
import json
import os

import mod_wsgi

LOADS = os.path.join(os.path.dirname(__file__), "loads.txt")
with open(LOADS, "a") as f:
    f.write("%s %d\n" % (mod_wsgi.application_group or "%{GLOBAL}", os.getpid()))


@atexit.register
def _record_exit():
    with open(os.path.join(os.path.dirname(__file__), "exits.txt"), "a") as f:
        f.write("%s\n" % (mod_wsgi.application_group or "%{GLOBAL}"))


def application(environ, start_response):
    with open(LOADS) as f:
        loads = f.read().split("\n")
    body = json.dumps(
        {
            "group": environ["mod_wsgi.application_group"],
            "module_group": mod_wsgi.application_group,
            "loads": [l for l in loads if l],
            "pid": os.getpid(),
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
