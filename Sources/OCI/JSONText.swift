/// Re-indents compact JSON the way Go's `json.MarshalIndent` prints it (`"key": value`, empty
/// containers as `{}`/`[]`, `<`, `>` and `&` escaped), so Berth's output matches skopeo's and
/// podman's byte for byte.
public enum JSONText {
    public static func indented(_ json: some Collection<UInt8>, indent: String = "    ") -> String {
        var out: [UInt8] = []
        out.reserveCapacity(json.count * 2)
        let unit = Array(indent.utf8)
        var depth = 0
        var inString = false
        var escaped = false
        var bytes = Array(json)[...]
        func newline() {
            out.append(UInt8(ascii: "\n"))
            for _ in 0..<depth { out += unit }
        }
        while let byte = bytes.popFirst() {
            if inString {
                switch byte {
                case UInt8(ascii: "<"): out += Array("\\u003c".utf8)
                case UInt8(ascii: ">"): out += Array("\\u003e".utf8)
                case UInt8(ascii: "&"): out += Array("\\u0026".utf8)
                default: out.append(byte)
                }
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                out.append(byte)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let close = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                while let next = bytes.first, next == 0x20 || next == 0x0A || next == 0x0D || next == 0x09 { bytes.removeFirst() }
                if bytes.first == close {
                    bytes.removeFirst()
                    out += [byte, close]
                } else {
                    out.append(byte)
                    depth += 1
                    newline()
                }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                newline()
                out.append(byte)
            case UInt8(ascii: ","):
                out.append(byte)
                newline()
            case UInt8(ascii: ":"):
                out += [byte, 0x20]
            case 0x20, 0x0A, 0x0D, 0x09:
                continue
            default:
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
