#!/usr/bin/env python3
"""The loopback floor for the server benchmark: the least work a registry could do for one blob.

  loopback.py serve FILE PORT   answers every GET with FILE, sent with sendfile(2) (no copy, no hash)
  loopback.py sink DIR PORT     takes every PUT body into a new file in DIR, then fdatasync(2)
                                (what a registry that keeps what it acknowledges must at least do)

Prints "ready" once listening on 127.0.0.1:PORT; serves until killed.
"""
import os
import socket
import sys
import uuid


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


def sink(directory, conn):
    request, headers, body = read_head(conn)
    if request is None:
        return
    if headers.get("expect", "").lower() == "100-continue":
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    left = int(headers.get("content-length", "0")) - len(body)
    target = os.path.join(directory, uuid.uuid4().hex)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    # splice(2) moves the bytes socket → pipe → file inside the kernel: no copy through this
    # process, so the floor is the kernel's and the disk's, not Python's.
    read_end, write_end = os.pipe()
    try:
        os.write(fd, body)
        while left > 0:
            n = os.splice(conn.fileno(), write_end, min(left, 1 << 20))
            if n == 0:
                break
            moved = 0
            while moved < n:
                moved += os.splice(read_end, fd, n - moved)
            left -= n
        os.fdatasync(fd)
    finally:
        os.close(read_end)
        os.close(write_end)
        os.close(fd)
        os.unlink(target)
    conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def main():
    mode, argument, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    handler = {"serve": serve, "sink": sink}[mode]
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        with conn:
            handler(argument, conn)


main()
