import os
import sys

os.system("tar czf /tmp/x.tgz " + sys.argv[1])
