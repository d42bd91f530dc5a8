import Foundation
import OCI

/// The built-in token server's access rules: who (users, groups, any signed-in user, anonymous
/// callers) may do what (`pull`, `push`, `delete`) to which repositories (glob patterns). A
/// caller's rights on a repository are the union of every rule that names them and matches it.
public struct AccessPolicy: Sendable {
    public struct Rule: Sendable {
        var users: Set<String> = []
        var groups: Set<String> = []
        /// Callers without credentials.
        var anonymous = false
        var repositories: [RepositoryGlob] = []
        var actions: Set<String> = []
    }

    public static let actions: Set<String> = ["pull", "push", "delete"]

    var groups: [String: Set<String>] = [:]
    var rules: [Rule] = []

    /// What `user` (nil: anonymous) may do to `repository`.
    func actions(user: String?, repository: String) -> Set<String> {
        var granted: Set<String> = []
        for rule in rules where applies(rule, to: user) && rule.repositories.contains(where: { $0.matches(repository) }) {
            granted.formUnion(rule.actions)
        }
        return granted
    }

    private func applies(_ rule: Rule, to user: String?) -> Bool {
        guard let user else { return rule.anonymous }
        if rule.users.contains("*") || rule.users.contains(user) { return true }
        return rule.groups.contains { groups[$0]?.contains(user) == true }
    }

    /// Reads `berth.tokenserver.groups` and `.access`; every mistake names its key.
    static func parse(groups: Any?, access: Any?) throws(ConfigError) -> AccessPolicy {
        let base = "berth.tokenserver"
        var policy = AccessPolicy()
        if let groups {
            guard let map = groups as? [String: Any] else { throw ConfigError(key: "\(base).groups", problem: "must map group names to lists of users") }
            for (name, members) in map {
                guard let list = members as? [Any], list.allSatisfy({ $0 is String }) else {
                    throw ConfigError(key: "\(base).groups.\(name)", problem: "must be a list of user names")
                }
                policy.groups[name] = Set(list.compactMap { $0 as? String })
            }
        }
        guard let access else { throw ConfigError(key: "\(base).access", problem: "required: a list of rules (users/groups/anonymous, repositories, actions)") }
        guard let entries = access as? [Any] else { throw ConfigError(key: "\(base).access", problem: "must be a list of rules") }
        for (index, entry) in entries.enumerated() {
            let key = "\(base).access[\(index)]"
            guard let fields = entry as? [String: Any] else { throw ConfigError(key: key, problem: "must be a mapping with users/groups/anonymous, repositories and actions") }
            for field in fields.keys.sorted() where !["users", "groups", "anonymous", "repositories", "actions"].contains(field) {
                throw ConfigError(key: "\(key).\(field)", problem: "unknown field (users, groups, anonymous, repositories, actions)")
            }
            func strings(_ field: String) throws(ConfigError) -> [String] {
                guard let value = fields[field] else { return [] }
                guard let list = value as? [Any], list.allSatisfy({ $0 is String }) else {
                    throw ConfigError(key: "\(key).\(field)", problem: "must be a list of strings")
                }
                return list.compactMap { $0 as? String }
            }
            var rule = Rule()
            rule.users = Set(try strings("users"))
            rule.groups = Set(try strings("groups"))
            for (position, group) in try strings("groups").enumerated() where policy.groups[group] == nil {
                throw ConfigError(key: "\(key).groups[\(position)]", problem: "no group '\(group)' in \(base).groups")
            }
            if let anonymous = fields["anonymous"] {
                guard let flag = anonymous as? Bool else { throw ConfigError(key: "\(key).anonymous", problem: "expected true or false") }
                rule.anonymous = flag
            }
            guard rule.anonymous || !rule.users.isEmpty || !rule.groups.isEmpty else {
                throw ConfigError(key: key, problem: "names nobody: give users, groups or anonymous: true")
            }
            let patterns = try strings("repositories")
            guard !patterns.isEmpty else { throw ConfigError(key: "\(key).repositories", problem: "required: repository patterns such as team/* or **") }
            for (position, pattern) in patterns.enumerated() {
                do { rule.repositories.append(try RepositoryGlob(pattern)) } catch {
                    throw ConfigError(key: "\(key).repositories[\(position)]", problem: "'\(pattern)' is not a repository pattern: \(error.reason)")
                }
            }
            let actions = try strings("actions")
            guard !actions.isEmpty else { throw ConfigError(key: "\(key).actions", problem: "required: pull, push and/or delete") }
            for (position, action) in actions.enumerated() {
                guard action == "*" || Self.actions.contains(action) else {
                    throw ConfigError(key: "\(key).actions[\(position)]", problem: "'\(action)' is not pull, push, delete or *")
                }
                rule.actions.formUnion(action == "*" ? Self.actions : [action])
            }
            if rule.anonymous, rule.actions != ["pull"] {
                throw ConfigError(key: "\(key).actions", problem: "anonymous callers may only pull; give push and delete in a rule naming users or groups")
            }
            policy.rules.append(rule)
        }
        return policy
    }
}
