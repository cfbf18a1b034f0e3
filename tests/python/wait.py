# The original's test/wait.py, unchanged: a peer that serves until Ctrl-C,
# printing each message it takes (see simplep2p.wait).
import simplep2p as s

s.wait()
