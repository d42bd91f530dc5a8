import ArgumentParser
import Runtime
import Foundation
import GoTemplate
import OCI
import RegistryClient
import Transports

struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Inspect image IMAGE-NAME",
        discussion: """
            Return low-level information about "IMAGE-NAME" in a registry/transport
            Supported transports:
            docker, oci, oci-archive, dir, docker-archive

            Examples:
              berth inspect docker://127.0.0.1:5000/team/app:v1
              berth inspect --raw docker://127.0.0.1:5000/team/app:v1
              berth inspect --config --override-arch arm64 docker://127.0.0.1:5000/team/app:v1
            """
    )

    @Argument(help: "IMAGE-NAME") var image: String
    @Flag(help: "output raw manifest or configuration")
    var raw = false
    @Flag(help: "output configuration")
    var config = false
    @Flag(name: [.short, .customLong("no-tags")], help: "Do not list the available tags from the repository in the output")
    var noTags = false
    @Option(name: [.short, .customLong("format")], help: "Format the output to a Go template ('{{.Digest}}', '{{range .RepoTags}}{{.}} {{end}}')")
    var format: String?
    @OptionGroup var access: ImageAccess
    @OptionGroup var platform: PlatformFlags
    @OptionGroup var storage: StoreFlags

    func run() async throws {
        // podman's `inspect CONTAINER`: an argument without a transport that names a container.
        if !image.contains(":"), let record = Containers(store: storage.store).find(image) {
            Console.out(try ContainerReport.inspect([ContainerReport(record: record, containers: Containers(store: storage.store))], format: format))
            return
        }
        if raw, format != nil { throw CLIError("raw output does not support the --format option") }
        let template = try format.map { try OutputTemplate($0, status: 1) }
        let name = try parseName(image)
        let source = try name.openSource(try await access.flags.resolve(for: name))
        let inspector = Inspector(source, platform: platform.platform)
        // A template sees the JSON the command would print, with skopeo's omitempty strings.
        func emit(_ json: String, defaults: [String: TemplateValue] = [:]) throws {
            if let template { Console.out(try template.render(json: Data(json.utf8), defaults: defaults)) } else { print(json) }
        }
        switch (raw, config) {
        case (true, false):
            Console.out(try await inspector.rawManifest())
        case (true, true):
            Console.out(try await inspector.rawConfig())
        case (false, true):
            try emit(try await inspector.config())
        case (false, false):
            let noTags = noTags
            let summary = try await inspector.summary {
                guard !noTags, let docker = source as? DockerSource, let reference = name.dockerReference else { return nil }
                do {
                    return try await docker.primaryClient.tags(reference.repository)
                } catch let error as ClientError {
                    throw TransportError.registry(name.description, error)
                }
            }
            try emit(summary, defaults: ["Name": .string(""), "Tag": .string(""), "Variant": .string("")])
        }
    }
}

struct ListTags: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-tags",
        abstract: "List tags in the transport/repository specified by the SOURCE-IMAGE",
        discussion: """
            Return the list of tags from the transport/repository "SOURCE-IMAGE"

            Supported transports:
            docker, docker-archive

            Examples:
              berth list-tags docker://127.0.0.1:5000/team/app
              berth list-tags docker-archive:app.tar
            """
    )

    @Argument(help: "SOURCE-IMAGE") var repository: String
    @OptionGroup var access: ImageAccess

    func run() async throws {
        let name = try parseName(repository)
        switch name {
        case .docker(let reference):
            guard reference.tag == nil, reference.digest == nil else {
                throw CLIError("\(name): no tag or digest allowed in a repository reference for list-tags")
            }
            let source = try name.openSource(try await access.flags.resolve(for: name))
            guard let docker = source as? DockerSource else { return }
            let tags: [String]
            do { tags = try await docker.primaryClient.tags(reference.repository) } catch let error as ClientError {
                throw TransportError.registry(name.description, error)
            }
            print(Self.render(["Repository": "\(reference.registry)/\(reference.repository)"], tags: tags))
        case .dockerArchive(let path, _, _):
            print(Self.render([:], tags: try DockerArchiveListing.tags(path: path)))
        default:
            throw CLIError("\(name): list-tags supports only docker:// and docker-archive: (as skopeo)")
        }
    }

    /// `{"Repository": …, "Tags": […]}`, indented as skopeo prints it.
    static func render(_ fields: [String: String], tags: [String]) -> String {
        var compact = "{"
        if let repository = fields["Repository"] { compact += "\"Repository\":\(json(repository))," }
        compact += "\"Tags\":\(json(tags))}"
        return JSONText.indented(Array(compact.utf8))
    }

    static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete image IMAGE-NAME",
        discussion: """
            Delete an "IMAGE_NAME" from a transport
            Supported transports:
            docker

            Deleting by tag removes the manifest the tag points at, and with it every other tag that
            points at the same manifest.

            Examples:
              berth delete docker://127.0.0.1:5000/team/app:v1
            """
    )

    @Argument(help: "IMAGE-NAME") var image: String
    @OptionGroup var access: ImageAccess

    func run() async throws {
        let name = try parseName(image)
        guard case .docker(let reference) = name else { throw CLIError("\(name): delete supports only docker:// (as skopeo)") }
        let source = try name.openSource(try await access.flags.resolve(for: name))
        guard let docker = source as? DockerSource else { return }
        do {
            let digest: Digest
            if let known = reference.digest {
                digest = known
            } else {
                guard let found = try await docker.client.manifestDescriptor(reference.repository, reference.manifestReference) else {
                    throw TransportError.notFound(name.description, "manifest unknown (404)")
                }
                digest = found.digest
            }
            try await docker.client.deleteManifest(reference.repository, digest)
        } catch let error as ClientError {
            throw TransportError.registry(name.description, error)
        }
    }
}

struct ManifestDigest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manifest-digest", abstract: "Compute a manifest digest of a file",
        discussion: "Example: berth manifest-digest manifest.json")

    @Argument(help: "MANIFEST") var file: String

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("\(file): cannot read") }
        print(Digest.of(Array(data)))
    }
}

