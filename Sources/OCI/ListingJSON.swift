/// The bodies of `tags/list` (`{"name":…,"tags":[…]}`) and `_catalog` (`{"repositories":[…]}`).
///
/// Written directly rather than through JSONEncoder: repository names and tags can only contain
/// `[A-Za-z0-9._/-]` (both types validate that), so nothing needs escaping, and a 1,000-tag page
/// renders several times faster.
public enum ListingJSON {
    public static func tags(_ repository: RepositoryName, _ tags: [String]) -> [UInt8] {
        render(prefix: "{\"name\":\"\(repository.value)\",\"tags\":[", tags)
    }

    public static func repositories(_ names: [String]) -> [UInt8] {
        render(prefix: "{\"repositories\":[", names)
    }

    private static func render(prefix: String, _ items: [String]) -> [UInt8] {
        var out = Array(prefix.utf8)
        out.reserveCapacity(out.count + 2 + items.reduce(0) { $0 + $1.utf8.count + 3 })
        for (i, item) in items.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: item.utf8)
            out.append(UInt8(ascii: "\""))
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }
}
