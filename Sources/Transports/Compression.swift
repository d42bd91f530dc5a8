import CZlib
import CZstd
import NIOCore
import OCI

/// One step of changing a layer's compression on the way.
enum LayerCodec: Sendable, Equatable, CustomStringConvertible {
    case compress(MediaType.Compression, level: Int32?)
    case decompress(MediaType.Compression)

    var description: String {
        switch self {
        case .compress(let format, let level): "compress(\(format),\(level.map(String.init) ?? "default"))"
        case .decompress(let format): "decompress(\(format))"
        }
    }

    func makeCodec() throws -> any StreamCodec {
        switch self {
        case .compress(.gzip, let level): try ZStream(compressing: true, level: level ?? 6)
        case .decompress(.gzip): try ZStream(compressing: false, level: 0)
        case .compress(.zstd, let level): try ZstdStream(compressing: true, level: level ?? 3)
        case .decompress(.zstd): try ZstdStream(compressing: false, level: 0)
        case .compress(.none, _), .decompress(.none): PassThrough()
        }
    }
}

/// A stateful compressor or decompressor, owned by one iterator.
protocol StreamCodec: AnyObject {
    /// Feeds `input` (the last time with `finish`) and returns what came out.
    func process(_ input: ByteBuffer, finish: Bool) throws -> [ByteBuffer]
}

final class PassThrough: StreamCodec {
    func process(_ input: ByteBuffer, finish: Bool) throws -> [ByteBuffer] { input.readableBytes > 0 ? [input] : [] }
}

/// Runs a byte stream through a codec as it passes (gzip with the system's zlib, zstd with
/// libzstd; decompression reads concatenated members/frames, as `gzip -d` and `zstd -d` do).
struct CodecSequence<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let codec: LayerCodec

    final class Iterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let codec: LayerCodec
        var stream: (any StreamCodec)?
        var pending: [ByteBuffer] = []
        var finished = false

        init(base: Base.AsyncIterator, codec: LayerCodec) {
            self.base = base
            self.codec = codec
        }

        func next() async throws -> ByteBuffer? {
            if stream == nil { stream = try codec.makeCodec() }
            while pending.isEmpty {
                if finished { return nil }
                if let chunk = try await base.next() {
                    pending = try stream!.process(chunk, finish: false)
                } else {
                    pending = try stream!.process(ByteBuffer(), finish: true)
                    finished = true
                }
            }
            return pending.removeFirst()
        }
    }

    func makeAsyncIterator() -> Iterator { Iterator(base: base.makeAsyncIterator(), codec: codec) }
}

/// One zlib stream (deflate or inflate), owned by a single iterator.
final class ZStream: StreamCodec {
    private let z: UnsafeMutablePointer<z_stream>
    private let compressing: Bool
    private var ended = false
    private static let outputSize = 256 << 10

    init(compressing: Bool, level: Int32) throws {
        z = .allocate(capacity: 1)
        z.initialize(to: z_stream())
        let size = Int32(MemoryLayout<z_stream>.size)
        self.compressing = compressing
        // 31 = a 32 KiB window with gzip framing; 47 = the same, gzip or zlib detected from the header.
        let status =
            compressing
            ? deflateInit2_(z, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, zlibVersion(), size)
            : inflateInit2_(z, 47, zlibVersion(), size)
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

/// One zstd stream (compression or decompression).
final class ZstdStream: StreamCodec {
    private let cctx: OpaquePointer?
    private let dctx: OpaquePointer?
    private var lastHint = 0
    private static let outputSize = ZSTD_CStreamOutSize()

    init(compressing: Bool, level: Int32) throws {
        if compressing {
            cctx = ZSTD_createCCtx()
            dctx = nil
            guard cctx != nil, ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)) == 0 else {
                throw TransportError.invalidContent("zstd", "cannot initialise level \(level)")
            }
        } else {
            dctx = ZSTD_createDCtx()
            cctx = nil
            guard dctx != nil else { throw TransportError.invalidContent("zstd", "cannot initialise") }
        }
    }

    deinit {
        if let cctx { ZSTD_freeCCtx(cctx) }
        if let dctx { ZSTD_freeDCtx(dctx) }
    }

    func process(_ input: ByteBuffer, finish: Bool) throws -> [ByteBuffer] {
        var outputs: [ByteBuffer] = []
        // A decompressor has nothing to flush; its last answer (0 = a frame just ended) tells
        // whether the data stopped mid-frame.
        let idle = dctx != nil && input.readableBytes == 0
        if !idle {
            try run(input, finish: finish, into: &outputs)
        }
        if finish, dctx != nil, lastHint != 0 { throw TransportError.invalidContent("zstd", "compressed data ends early") }
        return outputs
    }

    private func run(_ input: ByteBuffer, finish: Bool, into outputs: inout [ByteBuffer]) throws {
        try input.withUnsafeReadableBytes { raw in
            var inBuffer = ZSTD_inBuffer(src: raw.baseAddress, size: raw.count, pos: 0)
            while true {
                var output = ByteBuffer()
                var result = 0
                let produced = output.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.outputSize) { out in
                    var outBuffer = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                    if let cctx {
                        result = ZSTD_compressStream2(cctx, &outBuffer, &inBuffer, finish ? ZSTD_e_end : ZSTD_e_continue)
                    } else {
                        result = ZSTD_decompressStream(dctx, &outBuffer, &inBuffer)
                    }
                    return outBuffer.pos
                }
                if ZSTD_isError(result) != 0 {
                    throw TransportError.invalidContent("zstd", "invalid data: \(String(cString: ZSTD_getErrorName(result)))")
                }
                if produced > 0 { outputs.append(output) }
                if cctx != nil {
                    if finish ? result == 0 : inBuffer.pos == inBuffer.size && produced < Self.outputSize { break }
                } else {
                    lastHint = result
                    if inBuffer.pos == inBuffer.size && produced < Self.outputSize { break }
                }
            }
        }
    }
}

/// A layer blob's tar bytes: decompressed as its media type says (gzip, zstd, or as it is).
public func decompressedLayer(_ blob: BlobStream, mediaType: String) -> BlobStream {
    let compression = MediaType.compression(ofLayer: mediaType)
    return compression == .none ? blob : CodecSequence(base: AnyBlobStream(blob), codec: .decompress(compression))
}
