/// Resolves a `user[:group]` spec through the rootfs's `/etc/passwd` and `/etc/group`, as the
/// image spec's config.md says: names or numbers; without a group, the user's primary group and
/// supplementary groups; an unknown name is an error.
struct UserDatabase {
    struct Resolved: Equatable {
        var uid: UInt32
        var gid: UInt32
        var additionalGids: [UInt32]
        var home: String?
    }

    struct Account {
        let name: String
        let uid: UInt32
        let gid: UInt32
        let home: String
    }

    let accounts: [Account]
    /// name, gid, members
    let groups: [(String, UInt32, [String])]

    init(root: RootPath) {
        let passwd = root.read("/etc/passwd").map { String(decoding: $0, as: UTF8.self) } ?? ""
        let group = root.read("/etc/group").map { String(decoding: $0, as: UTF8.self) } ?? ""
        accounts = passwd.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 7, let uid = UInt32(fields[2]), let gid = UInt32(fields[3]) else { return nil }
            return Account(name: String(fields[0]), uid: uid, gid: gid, home: String(fields[5]))
        }
        groups = group.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 4, let gid = UInt32(fields[2]) else { return nil }
            return (String(fields[0]), gid, fields[3].split(separator: ",").map(String.init))
        }
    }

    func resolve(_ spec: String) throws(RuntimeError) -> Resolved {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let userPart = parts[0].isEmpty ? "0" : parts[0]
        let account: Account?
        let uid: UInt32
        if let number = UInt32(userPart) {
            uid = number
            account = accounts.first { $0.uid == number }
        } else {
            guard let found = accounts.first(where: { $0.name == userPart }) else {
                throw .invalidArgument("unable to find user \(userPart): no matching entries in the image's /etc/passwd")
            }
            account = found
            uid = found.uid
        }
        if parts.count == 2 {
            let groupPart = parts[1]
            let gid: UInt32
            if let number = UInt32(groupPart) {
                gid = number
            } else {
                guard let found = groups.first(where: { $0.0 == groupPart }) else {
                    throw .invalidArgument("unable to find group \(groupPart): no matching entries in the image's /etc/group")
                }
                gid = found.1
            }
            return Resolved(uid: uid, gid: gid, additionalGids: [], home: account?.home)
        }
        let gid = account?.gid ?? 0
        let supplementary = account.map { account in groups.filter { $0.2.contains(account.name) && $0.1 != gid }.map(\.1) } ?? []
        return Resolved(uid: uid, gid: gid, additionalGids: supplementary, home: account?.home)
    }
}
