import sys

import flask
from flask import Flask, Response, render_template_string, request

app = Flask(__name__)

PAGE = "<!doctype html><title>Flask on Quill</title><h1>Hello, {{ name }}!</h1>"


@app.route("/sys")
def sysinfo():
    return {"prefix": sys.prefix, "executable": sys.executable, "path": sys.path, "flask": flask.__file__}


@app.route("/hello/<name>")
def hello(name):
    return render_template_string(PAGE, name=name)


@app.route("/form", methods=["POST"])
def form():
    return "posted " + request.form["name"]


@app.route("/upload", methods=["POST"])
def upload():
    f = request.files["file"]
    return "%s %d" % (f.filename, len(f.read()))


@app.route("/stream")
def stream():
    return Response((str(i) + "\n" for i in range(5)), mimetype="text/plain")


application = app
