import os


def run(q):
    return os.popen("grep -r " + q + " /srv/data").read()
