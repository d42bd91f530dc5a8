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
    @Test func aTokenForMoreActionsServesFewer() {
        #expect(AuthSession.scope("repository:a/b:pull,push", covers: "repository:a/b:pull"))
        #expect(AuthSession.scope("repository:a/b:*", covers: "repository:a/b:delete"))
        #expect(AuthSession.scope("repository:a/b:pull,push repository:c:pull", covers: "repository:a/b:pull,push repository:c:pull"))
        #expect(!AuthSession.scope("repository:a/b:pull", covers: "repository:a/b:pull,push"))
        #expect(!AuthSession.scope("repository:a/b:pull,push", covers: "repository:a/c:pull"))
        #expect(!AuthSession.scope("repository:a/b:pull", covers: ""))
    }
}
