// RegistryUI: the web interface of `berth serve` at `/ui/` — browsing repositories, tags and
// images, their referrers and SBOMs, and deleting with a confirmation. It works over `Registry`'s
// operations and asks the server, through `UIAccess`, who a user is and what they may do; it
// knows nothing of the `/v2/` API, authentication schemes or configuration files.
import Foundation
import OCI

/// What the operator chose for the UI (`berth.ui`).
public struct UISettings: Sendable {
    /// Where the UI is served: `/ui` by default; a reverse proxy's prefix goes here.
    public var basePath = "/ui"
    /// No forms and no deletes, whatever rights users have (the registry's own read-only mode
    /// has the same effect).
    public var readOnly = false
    /// Users who see the storage page (and run its garbage-collection dry run).
    public var admins: Set<String> = []
    /// A session ends after this long without a request, and at the latest after `sessionLifetime`.
    public var sessionIdle: TimeInterval = 30 * 60
    public var sessionLifetime: TimeInterval = 12 * 3600
    /// The host name pull commands show (`http.host` or the request's Host when nil).
    public var registryHost: String?
    /// `berth.gc.grace` in seconds (its default when collection is off): what the storage page's dry run uses.
    public var collectionGrace: TimeInterval = 24 * 3600

    /// `notifications.endpoints` by name, with the URL as the webhooks page shows it (no
    /// credentials, no query).
    public var webhooks: [(name: String, url: String)] = []

    /// `berth.ui.trust`: the keys signatures are verified against, by repository pattern.
    public var trust: [TrustKey] = []

    public init() {}
}

/// A key the operator trusts for signatures in some repositories, in containers-policy.json's
/// shapes: `signedBy` (GPG public keys, simple signing) or `sigstoreSigned` (a cosign public key).
public struct TrustKey: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// OpenPGP public key material (a key file as gpg exports it).
        case gpg
        /// A PEM `PUBLIC KEY` (ECDSA P-256, cosign's).
        case sigstore
    }

    /// What the page calls the key ("release-key").
    public let name: String
    public let kind: Kind
    public let key: [UInt8]
    public let repositories: [RepositoryGlob]

    public init(name: String, kind: Kind, key: [UInt8], repositories: [RepositoryGlob]) {
        self.name = name
        self.kind = kind
        self.key = key
        self.repositories = repositories
    }
}

/// Who a request is and what they may do, answered by the server's authentication setup.
public protocol UIAccess: Sendable {
    /// Whether anyone must sign in to read (htpasswd), as opposed to anonymous readers being
    /// allowed by rules (token server) or everyone reading (no authentication).
    var signInRequired: Bool { get }
    /// Whether there is a sign-in at all.
    var signInAvailable: Bool { get }
    /// True when `password` is `user`'s (the failure delay is the server's).
    func checkPassword(user: String, password: String) async -> Bool
    /// `pull`, `push` and/or `delete` for `user` (nil: anonymous) on `repository`.
    func actions(user: String?, repository: String) -> Set<String>
    /// Whether `user` (nil: anonymous) administers the registry.
    func isAdmin(user: String?) -> Bool
}

/// What the server does after a delete made in the UI: the same webhook events and metrics as
/// a DELETE through the API.
public protocol UIEvents: Sendable {
    func deleted(repository: String, tag: String?, digest: String?, user: String?) async
}
