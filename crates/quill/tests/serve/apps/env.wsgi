# For the `quill serve` test: reports what the daemon options set up.
import json
import os
import sys

import helper_mod  # from the group's python-path


def application(environ, start_response):
    body = json.dumps({
        "cwd": os.getcwd(),
        "sys_path": sys.path,
        "helper": helper_mod.VALUE,
        "LANG": os.environ.get("LANG"),
        "LC_ALL": os.environ.get("LC_ALL"),
        "authorization": environ.get("HTTP_AUTHORIZATION"),
        "process_group": environ.get("mod_wsgi.process_group"),
        "application_group": environ.get("mod_wsgi.application_group"),
        "script_name": environ.get("SCRIPT_NAME"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
