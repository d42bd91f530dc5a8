"""A wide-area link between loopback ports, for benchmarks whose upstream is remote in real use (a
pull-through cache's Docker Hub): each direction delays every byte by half the round trip and
carries at most RATE bytes a second, shared by all connections, as one line does. Runs in a thread
of the benchmark's own process; this machine's kernel has no netem to do it in the network stack.

    link = Link(target_port, rtt=0.02, rate=50e6)   # link.port forwards to target_port
"""
import asyncio, socket, threading, time

CHUNK = 256 << 10
# Bytes a direction may hold in flight per connection before it stops reading (the window).
WINDOW = 4 << 20


class Direction:
    """One way of the link: the time its line is busy until, shared by every connection."""

    def __init__(self, delay, rate):
        self.delay = delay
        self.rate = rate
        self.free_at = 0.0

    def schedule(self, size):
        """When `size` bytes read now arrive at the other end."""
        now = time.monotonic()
        self.free_at = max(now, self.free_at) + size / self.rate
        return self.free_at + self.delay


class Link:
    def __init__(self, target_port, rtt, rate):
        self.target_port = target_port
        self.rtt = rtt
        self.rate = rate
        self.up = Direction(rtt / 2, rate)
        self.down = Direction(rtt / 2, rate)
        self.loop = asyncio.new_event_loop()
        listener = socket.create_server(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(listener, started), daemon=True)
        self.thread.start()
        started.wait()

    def _run(self, listener, started):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._connection, sock=listener))
        started.set()
        self.loop.run_forever()

    def close(self):
        async def shut():
            self.server.close()
            # Connections a client kept open (keep-alive) end with the link.
            pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    async def _connection(self, client_reader, client_writer):
        upstream_writer = None
        try:
            # The handshake crosses the link too: one round trip before the first byte.
            await asyncio.sleep(self.rtt)
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            await asyncio.gather(self._pump(client_reader, upstream_writer, self.up),
                                 self._pump(upstream_reader, client_writer, self.down), return_exceptions=True)
        except (OSError, asyncio.CancelledError):
            # Refused by the upstream, or the link closing under a connection kept alive.
            pass
        finally:
            client_writer.close()
            if upstream_writer:
                upstream_writer.close()

    async def _pump(self, reader, writer, direction):
        """Reads as the window allows, and writes each chunk when the link would deliver it."""
        queue = asyncio.Queue()
        in_flight = 0
        room = asyncio.Event()
        room.set()

        async def deliver():
            nonlocal in_flight
            while True:
                due, data = await queue.get()
                if data is None:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
                in_flight -= len(data)
                if in_flight < WINDOW:
                    room.set()
            if writer.can_write_eof():
                writer.write_eof()

        sender = asyncio.ensure_future(deliver())
        try:
            while True:
                await room.wait()
                data = await reader.read(CHUNK)
                if not data:
                    break
                in_flight += len(data)
                if in_flight >= WINDOW:
                    room.clear()
                queue.put_nowait((direction.schedule(len(data)), data))
        except (ConnectionError, OSError):
            pass
        queue.put_nowait((0, None))
        try:
            await sender
        except (ConnectionError, OSError):
            pass
