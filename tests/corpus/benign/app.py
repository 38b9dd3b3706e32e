import subprocess

from flask import Flask, jsonify

app = Flask(__name__)


@app.route("/status")
def status():
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout
    return jsonify(uptime=uptime)
