@testable import RegistryClient
import Testing

@Suite struct AuthChallengeTests {
    @Test func parsesDistributionsBearerChallenge() {
        let c = AuthChallenge.parse(#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:pull,push""#)
        #expect(c == [AuthChallenge(scheme: "bearer", parameters: [
            "realm": "https://auth.example/token", "service": "registry.example", "scope": "repository:team/app:pull,push",
        ])])
    }

    @Test func parsesSeveralChallengesAndEscapes() {
        let c = AuthChallenge.parse(#"Basic realm="a \"quoted\" realm", Bearer realm="https://t/x",error="invalid_token""#)
        #expect(c.map(\.scheme) == ["basic", "bearer"])
        #expect(c.first?.parameters["realm"] == #"a "quoted" realm"#)
        #expect(c.last?.parameters["error"] == "invalid_token")
    }

    @Test func toleratesUnquotedValuesAndJunk() {
        #expect(AuthChallenge.parse("Basic realm=Registry").first?.parameters["realm"] == "Registry")
        #expect(AuthChallenge.parse("").isEmpty)
        #expect(AuthChallenge.parse(",,, ").isEmpty)
    }

    @Test func followsNextLinks() {
        #expect(RegistryClient.nextLink(#"</v2/a/tags/list?last=b&n=2>; rel="next""#) == "/v2/a/tags/list?last=b&n=2")
        #expect(RegistryClient.nextLink(#"<https://x/prev>; rel="prev""#) == nil)
    }
}

@Suite struct TokenScopeTests {
    @Test(arguments: [
        ("auth.docker.io", "registry-1.docker.io", true), ("ghcr.io", "ghcr.io", true), ("127.0.0.1", "127.0.0.1:5001", true),
        ("evil.example", "registry-1.docker.io", false), ("127.0.0.2", "127.0.0.1:5001", false), ("auth.docker.io.evil", "registry-1.docker.io", false),
        ("a.quay.io", "quay.io", false), ("10.1.2.4", "10.1.2.3", false),
    ])
    func upstreamCredentialsGoOnlyToRealmsNearTheRegistry(_ realm: String, _ registry: String, _ near: Bool) {
        #expect(AuthSession.realm(realm, isNear: registry) == near)
    }

    @Test func aTokenForMoreActionsServesFewer() {
        #expect(AuthSession.scope("repository:a/b:pull,push", covers: "repository:a/b:pull"))
        #expect(AuthSession.scope("repository:a/b:*", covers: "repository:a/b:delete"))
        #expect(AuthSession.scope("repository:a/b:pull,push repository:c:pull", covers: "repository:a/b:pull,push repository:c:pull"))
        #expect(!AuthSession.scope("repository:a/b:pull", covers: "repository:a/b:pull,push"))
        #expect(!AuthSession.scope("repository:a/b:pull,push", covers: "repository:a/c:pull"))
        #expect(!AuthSession.scope("repository:a/b:pull", covers: ""))
    }
}
