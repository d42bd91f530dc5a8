import Foundation
import Hummingbird
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The tests' scripted servers stopped while clients keep connecting. Cancelling a Hummingbird
/// server's task while a connection is accepted but not yet served traps in NIO ("Deinited
/// NIOAsyncWriter without calling finish()", swift-nio#2637) and takes the whole test process
/// with it; `withScriptedServer` stops with a graceful shutdown, which closes the listener first
/// and serves or closes what was accepted. (With the old cancellation this test crashed in each
/// of three runs.)
@Suite struct StopUnderLoadTests {
    @Test func aScriptedServerStoppedWhileClientsConnect() async throws {
        for _ in 0..<30 {
            let stop = Atomic<Bool>(false)
            let running = Atomic<Int>(0)
            try await withScriptedServer({ _, _ in Response(status: .ok) }) { port in
                for _ in 0..<3 {
                    running.add(1, ordering: .relaxed)
                    Thread {
                        defer { running.subtract(1, ordering: .relaxed) }
                        // A few hundred connections a round at most, each reset on close (no
                        // TIME_WAIT left to crowd the ports the rest of the suite uses).
                        for _ in 0..<300 where !stop.load(ordering: .relaxed) {
                            guard let socket = try? RawSocket(port: port) else { break }
                            var reset = linger(l_onoff: 1, l_linger: 0)
                            setsockopt(socket.fd, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
                            socket.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                            socket.close()
                            usleep(500)
                        }
                    }.start()
                }
                try await Task.sleep(for: .milliseconds(30))
            }
            // The clients go on for a moment after the stop (their connections refused), then end.
            try await Task.sleep(for: .milliseconds(5))
            stop.store(true, ordering: .relaxed)
            for _ in 0..<200 where running.load(ordering: .relaxed) > 0 { try await Task.sleep(for: .milliseconds(10)) }
        }
    }
}
