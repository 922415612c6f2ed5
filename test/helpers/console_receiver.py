#!/usr/bin/env python3
"""Play the client's side of --console-socket, as containerd and conmon do: listen on a unix
socket, receive the pty master over SCM_RIGHTS, then copy what the container writes to stdout.
Usage: console_receiver.py SOCKET [INPUT]  (INPUT is written to the pty once connected)"""
import os
import socket
import sys
import termios
import struct
import fcntl

path = sys.argv[1]
to_send = sys.argv[2].encode() if len(sys.argv) > 2 else b""
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
print("listening", flush=True)
conn, _ = srv.accept()
msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
master = fds[0]
rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(master, termios.TIOCGWINSZ, b"\0" * 8))
sys.stdout.write(f"name={msg.decode(errors='replace')} rows={rows} cols={cols}\n")
sys.stdout.flush()
if to_send:
    os.write(master, to_send)
out = b""
while True:
    try:
        chunk = os.read(master, 4096)
    except OSError:  # EIO: the slave side closed
        break
    if not chunk:
        break
    out += chunk
sys.stdout.write(out.decode(errors="replace"))
