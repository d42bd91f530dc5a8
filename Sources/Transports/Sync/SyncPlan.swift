import Foundation
import OCI
import RegistryClient

/// One image to mirror.
struct SyncItem: Sendable {
    let source: ImageName
    let sourceAccess: AccessOptions
    let destination: ImageName
    let destinationAccess: AccessOptions
}

/// Where a group's images land, for pruning.
enum DestinationScope: Sendable {
    case docker(ImageReference)
    case dir(parent: String, prefix: String)
    case oci(path: String)
}

/// The images of one source repository and what the destination side of its scope looks like:
/// a repository synced by listing (all tags, a regex, a semver constraint) can be pruned; an
/// explicit list of tags cannot.
struct SyncGroup: Sendable {
    let sourceDescription: String
    var items: [SyncItem]
    let prunable: Bool
    let destinationScope: DestinationScope
    /// Whether a destination tag belongs to the synced scope.
    let inScope: @Sendable (String) -> Bool
}

extension Syncer {
    func plan(source: String, kind: SyncOptions.SourceKind, destination: String, destinationKind: SyncOptions.DestinationKind) async throws
        -> [SyncGroup]
    {
        if let pattern = options.excludeTagRegex { _ = try Self.regex(pattern, "--exclude-tag-regex") }
        let globalExclude = options.excludeTagRegex
        var groups: [SyncGroup] = []
        switch kind {
        case .docker:
            let reference: ImageReference
            do { reference = try ImageReference(parsing: source) } catch { throw SyncError.invalidArgument("--src docker: \(error.description)") }
            let access = try await options.resolveSourceAccess(reference.registry, reference.repository.value)
            if reference.tag != nil || reference.digest != nil {
                groups.append(
                    try group(reference, access, [reference.tag?.value ?? reference.digest!.description], prunable: false, destination, destinationKind) { _ in false })
            } else {
                let keep: @Sendable (String) -> Bool = { !Self.excluded($0, by: [globalExclude]) }
                groups.append(try group(reference, access, try await listTags(reference, access).filter(keep), prunable: true, destination, destinationKind, inScope: keep))
            }
        case .yaml:
            let yaml = try SyncYAML(file: source)
            for registry in yaml.registries {
                for (repository, selector) in Self.selectors(registry) {
                    let reference: ImageReference
                    do { reference = try ImageReference(parsing: "\(registry.host)/\(repository)") } catch {
                        throw SyncError.invalidYAML(file: source, line: nil, key: "\(registry.host).\(repository)", error.description)
                    }
                    var access = try await options.resolveSourceAccess(registry.host, repository)
                    if let tlsVerify = registry.tlsVerify { access.client.tlsVerify = tlsVerify }
                    if let certDir = registry.certDir { access.client.certDirectory = certDir }
                    if let credentials = registry.credentials { access.client.credentials = credentials }
                    let patterns = [globalExclude, registry.excludeTagRegex[repository]]
                    switch selector {
                    case .references(let references):
                        groups.append(try group(reference, access, references, prunable: false, destination, destinationKind) { _ in false })
                    case .all, .regex, .semver:
                        let accepts: @Sendable (String) -> Bool = { tag in !Self.excluded(tag, by: patterns) && selector.accepts(tag) }
                        let tags = try await listTags(reference, access).filter(accepts)
                        groups.append(try group(reference, access, tags, prunable: true, destination, destinationKind, inScope: accepts))
                    }
                }
            }
        case .dir:
            groups.append(try dirGroup(source, destination, destinationKind))
        }
        // A tag listed twice (say by `images` and a regex) is copied once.
        var seen = Set<String>()
        for i in groups.indices { groups[i].items.removeAll { !seen.insert($0.destination.description).inserted } }
        return groups
    }

    enum Selector: Sendable {
        case all
        case references([String])
        case regex(String)
        case semver(SemverConstraintBox)

        func accepts(_ tag: String) -> Bool {
            switch self {
            case .all: true
            case .references(let list): list.contains(tag)
            case .regex(let pattern): Syncer.matches(try? NSRegularExpression(pattern: pattern), tag)
            case .semver(let box): box.constraint.matches(tag)
            }
        }
    }

    static func selectors(_ registry: SyncYAML.Registry) -> [(String, Selector)] {
        registry.images.map { ($0.repository, $0.references.isEmpty ? Selector.all : .references($0.references)) }
            + registry.tagRegex.map { ($0.repository, .regex($0.pattern)) }
            + registry.semver.map { ($0.repository, .semver($0.constraint)) }
    }

    static func regex(_ pattern: String, _ what: String) throws -> NSRegularExpression {
        do { return try NSRegularExpression(pattern: pattern) } catch { throw SyncError.invalidArgument("\(what): invalid regular expression '\(pattern)'") }
    }

    static func excluded(_ tag: String, by patterns: [String?]) -> Bool {
        patterns.contains { $0.map { matches(try? NSRegularExpression(pattern: $0), tag) } ?? false }
    }

    /// Go's `MatchString`: a match anywhere in the tag.
    static func matches(_ regex: NSRegularExpression?, _ tag: String) -> Bool {
        guard let regex else { return false }
        return regex.firstMatch(in: tag, range: NSRange(tag.startIndex..., in: tag)) != nil
    }

    private func listTags(_ reference: ImageReference, _ access: AccessOptions) async throws -> [String] {
        do {
            return try await RegistryClient(registry: reference.registry, options: access.client).tags(reference.repository)
        } catch let error as ClientError {
            throw TransportError.registry("docker://\(reference.registry)/\(reference.repository)", error)
        }
    }

    /// Items for `references` (tags or digests) of one source repository, named at the destination
    /// as skopeo sync names them: `DEST/<last path component>:<tag>`, or with `--scoped` the
    /// whole source path.
    private func group(
        _ reference: ImageReference, _ access: AccessOptions, _ references: [String], prunable: Bool, _ destination: String,
        _ kind: SyncOptions.DestinationKind, inScope: @escaping @Sendable (String) -> Bool
    ) throws -> SyncGroup {
        let path = reference.repository.value
        let name = options.scoped ? "\(reference.registry)/\(path)" : String(path.split(separator: "/").last!)
        let items = try references.map { ref -> SyncItem in
            let isDigest = Digest.looksLikeDigest(ref)
            let sourceName: ImageName
            do {
                sourceName = .docker(try ImageReference(parsing: "\(reference.registry)/\(path)\(isDigest ? "@" : ":")\(ref)"))
            } catch {
                throw SyncError.invalidArgument("\(reference.registry)/\(path): invalid tag or digest '\(ref)'")
            }
            return SyncItem(
                source: sourceName, sourceAccess: access, destination: try destinationName(destination, kind, name: name, ref: ref, isDigest: isDigest),
                destinationAccess: options.destinationAccess)
        }
        let suffix = options.appendSuffix
        return SyncGroup(
            sourceDescription: "docker://\(reference.registry)/\(path)", items: items, prunable: prunable,
            destinationScope: try scope(destination, kind, name: name),
            inScope: { tag in tag.hasSuffix(suffix) && inScope(String(tag.dropLast(suffix.count))) })
    }

    private func destinationName(_ destination: String, _ kind: SyncOptions.DestinationKind, name: String, ref: String, isDigest: Bool) throws
        -> ImageName
    {
        let tag = isDigest ? ref : ref + options.appendSuffix
        switch kind {
        case .docker:
            // A registry host's port cannot appear in a repository path.
            let path = name.replacingOccurrences(of: ":", with: "-")
            do { return .docker(try ImageReference(parsing: "\(destination)/\(path)\(isDigest ? "@" : ":")\(tag)")) } catch {
                throw SyncError.invalidArgument("--dest docker: \(error.description)")
            }
        case .dir: return .dir(path: "\(destination)/\(name)\(isDigest ? "@" : ":")\(tag)")
        case .oci: return .oci(path: "\(destination)/\(name)", reference: tag)
        }
    }

    private func scope(_ destination: String, _ kind: SyncOptions.DestinationKind, name: String) throws -> DestinationScope {
        switch kind {
        case .docker:
            do { return .docker(try ImageReference(parsing: "\(destination)/\(name.replacingOccurrences(of: ":", with: "-"))")) } catch {
                throw SyncError.invalidArgument("--dest docker: \(error.description)")
            }
        case .dir:
            let full = "\(destination)/\(name)"
            return .dir(parent: (full as NSString).deletingLastPathComponent, prefix: (full as NSString).lastPathComponent)
        case .oci: return .oci(path: "\(destination)/\(name)")
        }
    }

    /// A tree written by `sync --dest dir` (skopeo's or ours): every directory holding a
    /// `manifest.json`, named `<path>:<tag>` relative to the source.
    private func dirGroup(_ source: String, _ destination: String, _ kind: SyncOptions.DestinationKind) throws -> SyncGroup {
        guard let walker = FileManager.default.enumerator(atPath: source) else { throw SyncError.invalidArgument("--src dir: cannot read \(source)") }
        var images: [String] = []
        while let relative = walker.nextObject() as? String {
            if (relative as NSString).lastPathComponent == "manifest.json" { images.append((relative as NSString).deletingLastPathComponent) }
        }
        guard !images.isEmpty else { throw SyncError.invalidArgument("--src dir: no images (no manifest.json) under \(source)") }
        let items = try images.sorted().map { relative -> SyncItem in
            let separator = relative.lastIndex(of: "@") ?? relative.lastIndex(of: ":")
            guard let separator, !relative[separator...].contains("/") else {
                throw SyncError.invalidArgument("--src dir: \(relative) is not named <repository>:<tag>")
            }
            let name = String(relative[..<separator])
            let ref = String(relative[relative.index(after: separator)...])
            return SyncItem(
                source: .dir(path: "\(source)/\(relative)"), sourceAccess: options.sourceAccess,
                destination: try destinationName(destination, kind, name: name, ref: ref, isDigest: relative[separator] == "@"),
                destinationAccess: options.destinationAccess)
        }
        return SyncGroup(sourceDescription: "dir:\(source)", items: items, prunable: false, destinationScope: .oci(path: destination)) { _ in false }
    }
}
