#!/usr/bin/env python3
"""A counting TCP proxy for run.sh: listens on 127.0.0.1:LISTEN, forwards
every connection to 127.0.0.1:UPSTREAM, and counts the bytes the agent
sends (HTTP request heads and bodies, what a packet capture of the
agent's side counts minus TCP/IP headers). The running total goes to
FILE (rewritten every 0.2 s and at exit), so run.sh can take wire bytes
per sample over any window.

    wireproxy.py LISTEN UPSTREAM FILE
"""
import os
import signal
import socket
import sys
import threading
import time

listen_port, upstream_port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
total = 0
lock = threading.Lock()


def save():
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{total}\n")
    os.replace(tmp, out)


def pump(src, dst, counted):
    global total
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if counted:
                with lock:
                    total += len(data)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(client):
    try:
        upstream = socket.create_connection(("127.0.0.1", upstream_port), timeout=5)
        upstream.settimeout(None)
    except OSError:
        client.close()
        return
    threading.Thread(target=pump, args=(client, upstream, True), daemon=True).start()
    threading.Thread(target=pump, args=(upstream, client, False), daemon=True).start()


def saver():
    while True:
        time.sleep(0.2)
        save()


def stop(*_):
    save()
    os._exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
save()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen_port))
srv.listen(64)
threading.Thread(target=saver, daemon=True).start()
while True:
    conn, _ = srv.accept()
    serve(conn)
