import Foundation

/// Sizes, times and orderings as the pages show them.
enum Formatting {
    static func bytes(_ count: Int64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(count)
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: value < 10 ? "%.1f %@" : "%.0f %@", value, units[unit])
    }

    static func iso(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false).timeSeparator(.colon)) + "Z"
    }

    /// "3 minutes ago", "2 days ago"; dates in the future (clock skew) read "just now".
    static func ago(_ date: Date, now: Date = Date()) -> String {
        let seconds = Int(now.timeIntervalSince(date))
        func plural(_ n: Int, _ unit: String) -> String { "\(n) \(unit)\(n == 1 ? "" : "s") ago" }
        switch seconds {
        case ..<60: return "just now"
        case ..<3600: return plural(seconds / 60, "minute")
        case ..<86400: return plural(seconds / 3600, "hour")
        case ..<(86400 * 60): return plural(seconds / 86400, "day")
        default: return iso(date).prefix(10).description
        }
    }

    /// Tag order a person expects: numeric runs compare as numbers (`v1.10` after `v1.9`), so
    /// semantic versions sort by version, pre-releases before their release; ties fall back to
    /// byte order.
    static func naturalLess(_ a: String, _ b: String) -> Bool {
        var x = a.unicodeScalars[...], y = b.unicodeScalars[...]
        func number(_ s: inout Substring.UnicodeScalarView) -> Substring.UnicodeScalarView {
            let digits = s.prefix { ("0"..."9").contains($0) }
            s = s.dropFirst(digits.count)
            return digits
        }
        while let p = x.first, let q = y.first {
            if ("0"..."9").contains(p), ("0"..."9").contains(q) {
                let m = number(&x), n = number(&y)
                let mt = String(m).drop { $0 == "0" }, nt = String(n).drop { $0 == "0" }
                if mt.count != nt.count { return mt.count < nt.count }
                if mt != nt { return mt < nt }
                continue
            }
            if p != q { return p.value < q.value }
            x = x.dropFirst()
            y = y.dropFirst()
        }
        // One is a prefix of the other: the shorter first, except that a semver pre-release
        // (`1.0-rc1`) comes before its release (`1.0`). Equal but for leading zeros: byte order.
        if x.isEmpty != y.isEmpty { return x.isEmpty ? y.first != "-" : x.first == "-" }
        return a < b
    }

    /// The digest shortened for a table: algorithm and 12 hex digits.
    static func short(_ digest: String) -> String {
        guard let colon = digest.firstIndex(of: ":") else { return digest }
        return String(digest[...colon]) + String(digest[digest.index(after: colon)...].prefix(12))
    }

    /// A link target only when it is an http(s) URL: `javascript:` and friends stay text.
    static func safeLink(_ text: String?) -> String? {
        guard let text, let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http", url.host != nil
        else { return nil }
        return text
    }

    static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~:/")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
