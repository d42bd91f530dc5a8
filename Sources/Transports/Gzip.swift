import CZlib
import NIOCore

/// Compresses or decompresses a byte stream with the system's zlib as it passes (gzip framing;
/// decompression also reads concatenated members, as `gzip -d` does).
struct GzipSequence<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let mode: GzipMode

    final class Iterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let stream: ZStream
        var pending: [ByteBuffer] = []
        var finished = false

        init(base: Base.AsyncIterator, mode: GzipMode) throws {
            self.base = base
            stream = try ZStream(mode)
        }

        func next() async throws -> ByteBuffer? {
            while pending.isEmpty {
                if finished { return nil }
                if let chunk = try await base.next() {
                    pending = try stream.process(chunk, finish: false)
                } else {
                    pending = try stream.process(ByteBuffer(), finish: true)
                    finished = true
                }
            }
            return pending.removeFirst()
        }
    }

    func makeAsyncIterator() -> Iterator {
        // zlib fails to initialise only without memory; there is no better answer to that than a trap.
        try! Iterator(base: base.makeAsyncIterator(), mode: mode)
    }
}

enum GzipMode: Sendable, Equatable {
    case compress(level: Int32)
    case decompress
}

/// One zlib stream (deflate or inflate), owned by a single iterator.
final class ZStream {
    private let z: UnsafeMutablePointer<z_stream>
    private let compressing: Bool
    private var ended = false
    private static let outputSize = 256 << 10

    init(_ mode: GzipMode) throws {
        z = .allocate(capacity: 1)
        z.initialize(to: z_stream())
        let size = Int32(MemoryLayout<z_stream>.size)
        let status: Int32
        switch mode {
        case .compress(let level):
            compressing = true
            // 31 = a 32 KiB window with gzip framing.
            status = deflateInit2_(z, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, zlibVersion(), size)
        case .decompress:
            compressing = false
            // 47 = a 32 KiB window, gzip or zlib framing detected from the header.
            status = inflateInit2_(z, 47, zlibVersion(), size)
        }
        guard status == Z_OK else {
            z.deallocate()
            throw TransportError.invalidContent("zlib", "cannot initialise (\(status))")
        }
    }

    deinit {
        if compressing { deflateEnd(z) } else { inflateEnd(z) }
        z.deallocate()
    }

    func process(_ input: ByteBuffer, finish: Bool) throws -> [ByteBuffer] {
        var outputs: [ByteBuffer] = []
        var input = input
        try input.withUnsafeMutableReadableBytes { raw in
            z.pointee.next_in = raw.baseAddress?.assumingMemoryBound(to: Bytef.self)
            z.pointee.avail_in = uInt(raw.count)
            while true {
                var output = ByteBuffer()
                output.reserveCapacity(Self.outputSize)
                var status: Int32 = Z_OK
                let produced = output.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.outputSize) { out in
                    z.pointee.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
                    z.pointee.avail_out = uInt(out.count)
                    if compressing {
                        status = deflate(z, finish ? Z_FINISH : Z_NO_FLUSH)
                    } else if ended {
                        status = Z_STREAM_END
                    } else {
                        status = inflate(z, Z_NO_FLUSH)
                    }
                    return out.count - Int(z.pointee.avail_out)
                }
                if produced > 0 { outputs.append(output) }
                if compressing {
                    guard status == Z_OK || status == Z_BUF_ERROR || status == Z_STREAM_END else {
                        throw TransportError.invalidContent("gzip", "compression failed (\(status))")
                    }
                    if finish ? status == Z_STREAM_END : z.pointee.avail_in == 0 && z.pointee.avail_out != 0 { break }
                } else {
                    switch status {
                    case Z_STREAM_END:
                        // Another gzip member may follow; trailing zero padding is ignored.
                        if z.pointee.avail_in > 0, z.pointee.next_in.pointee != 0 {
                            inflateReset(z)
                            continue
                        }
                        ended = true
                        return
                    case Z_OK:
                        if z.pointee.avail_in == 0 && z.pointee.avail_out != 0 {
                            if finish { throw TransportError.invalidContent("gzip", "compressed data ends early") }
                            return
                        }
                    case Z_BUF_ERROR where z.pointee.avail_in == 0:
                        if finish { throw TransportError.invalidContent("gzip", "compressed data ends early") }
                        return
                    default:
                        let message = z.pointee.msg.map { String(cString: $0) } ?? "error \(status)"
                        throw TransportError.invalidContent("gzip", "invalid compressed data: \(message)")
                    }
                }
            }
        }
        return outputs
    }
}
