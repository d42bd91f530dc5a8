#!/usr/bin/env python3
"""The loopback floor for the server benchmark's pulls: the least work a registry could do.

  loopback.py serve FILE PORT   answers every GET with FILE, sent with sendfile(2) (no copy, no hash)

Prints "ready" once listening on 127.0.0.1:PORT; serves until killed.
"""
import os
import socket
import sys


def read_head(conn):
    """The request line and headers (lower-cased names), and any body bytes read with them."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, {}, b""
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((k.strip().lower(), v.strip()) for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line))
    return lines[0], headers, rest


def serve(path, conn):
    request, _, _ = read_head(conn)
    if request is None:
        return
    with open(path, "rb") as blob:
        size = os.fstat(blob.fileno()).st_size
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n".encode())
        conn.sendfile(blob)


def main():
    if sys.argv[1] != "serve":
        sys.exit("usage: loopback.py serve FILE PORT")
    argument, port = sys.argv[2], int(sys.argv[3])
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        with conn:
            serve(argument, conn)


main()
