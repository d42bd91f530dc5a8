import Foundation
import RegistryUI

/// The UI's questions answered by the server's authentication: an open registry (everyone
/// reads, and deletes when deleting is enabled), htpasswd (signed-in users may do everything,
/// as through the API), or the built-in token server (its access rules, anonymous ones too).
struct UIAccessAdapter: UIAccess {
    enum Mode {
        case open
        case htpasswd(HtpasswdAuthenticator)
        case tokenServer(TokenIssuer)
    }

    let mode: Mode
    /// `berth.ui.admins`; with htpasswd and no list, every user is one.
    let admins: Set<String>

    var signInRequired: Bool {
        if case .htpasswd = mode { return true }
        return false
    }

    var signInAvailable: Bool {
        if case .open = mode { return false }
        return true
    }

    func checkPassword(user: String, password: String) async -> Bool {
        switch mode {
        case .open: false
        case .htpasswd(let authenticator): (try? await authenticator.check(user: user, password: password)) != nil
        case .tokenServer(let issuer): (try? await issuer.users.check(user: user, password: password)) != nil
        }
    }

    func actions(user: String?, repository: String) -> Set<String> {
        switch mode {
        case .open: ["pull", "delete"]
        case .htpasswd: user == nil ? [] : AccessPolicy.actions
        case .tokenServer(let issuer): issuer.policy.actions(user: user, repository: repository)
        }
    }

    func isAdmin(user: String?) -> Bool {
        switch mode {
        case .open: true
        case .htpasswd: user != nil && (admins.isEmpty || admins.contains(user!))
        case .tokenServer: user.map(admins.contains) ?? false
        }
    }
}

/// A delete in the UI raises what a DELETE through the API raises: the webhook event and the
/// request metric.
struct UIEventsAdapter: UIEvents {
    let notifier: Notifier?
    let metrics: RegistryMetrics
    let baseURL: String

    func deleted(repository: String, tag: String?, digest: String?, user: String?) async {
        metrics.request(route: "manifest", method: "DELETE", status: 202, elapsed: .zero, bytesIn: 0, bytesOut: 0)
        guard let notifier else { return }
        let target = Notifier.Target(
            mediaType: "", digest: digest ?? "", size: 0, repository: repository, tag: tag,
            url: "\(baseURL)/v2/\(repository)/manifests/\(digest ?? tag ?? "")")
        await notifier.record(action: "delete", target: target, method: "DELETE", host: "", userAgent: "berth-ui", actor: user)
    }
}
