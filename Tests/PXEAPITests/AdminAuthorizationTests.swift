import Glibc
import PXEAPI
import PXECatalog
import PXESettings
import TestSupport
import Testing

@Suite struct AdminAuthorizationTests {
    func fixture(_ policy: AdminAuthorizer.Policy = .tokens([AdminToken(APIFixture.token), AdminToken("second-token-abcdefghijkl", name: "ops")])) -> (APIFixture, String) {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.png()], policy: policy)
        return (fixture, fixture.id("a.rts.png"))
    }

    @Test func missingTokenIs401WithAChallengeAndChangesNothing() {
        let (fixture, id) = fixture()
        let response = fixture.call("POST", "/pxe/\(id)/toggle", body: #"{"enabled": false}"#, authorization: nil)
        #expect(response.status == 401)
        #expect(response.header("WWW-Authenticate") == #"Bearer realm="pxe-catalog""#)
        #expect(response.bodyText == #"{"error":"This endpoint needs an admin token: send 'Authorization: Bearer <token>'."}"#)
        #expect(fixture.store.current.settings[id]?.enabled == true)
    }

    @Test(arguments: ["Bearer wrong-token-0123456789", "Bearer " + String(APIFixture.token.dropLast()), "Basic " + APIFixture.token,
                      "Bearer " + APIFixture.token + "x", "Bearer ", "bearer"])
    func wrongTokenIs401AndChangesNothing(_ header: String) {
        let (fixture, id) = fixture()
        let response = fixture.call("POST", "/pxe/\(id)/toggle", body: #"{"enabled": false}"#, authorization: header)
        #expect(response.status == 401)
        #expect(response.header("WWW-Authenticate")?.hasPrefix(#"Bearer realm="pxe-catalog""#) == true)
        #expect(fixture.store.current.settings[id]?.enabled == true)
        #expect(fixture.call("POST", "/catalog/refresh", authorization: header).status == 401)
    }

    @Test func anyConfiguredTokenWorksAndTheChangeIsAudited() {
        let (fixture, id) = fixture()
        let response = fixture.call("POST", "/pxe/\(id)/toggle", body: #"{"enabled": false}"#, authorization: "bearer second-token-abcdefghijkl")
        #expect(response.status == 200)
        #expect(fixture.store.current.settings[id]?.enabled == false)
        #expect(fixture.auditLines.lines == ["ops set pxe_enabled=false on \(id)"])
    }

    @Test func getEndpointsStayOpen() {
        let (fixture, id) = fixture()
        #expect(fixture.call("GET", "/pxe", authorization: nil).status == 200)
        #expect(fixture.call("GET", "/containers/\(id)", authorization: nil).status == 200)
    }

    @Test func withoutTokenFilePostsAreRefusedUnlessExplicitlyAllowed() {
        let (disabled, id) = fixture(.disabled)
        let refused = disabled.call("POST", "/pxe/\(id)/toggle", body: "{}")
        #expect(refused.status == 403)
        #expect(refused.bodyText == #"{"error":"Changes are disabled: the server has no admin token file configured."}"#)
        let (open, openID) = fixture(.unauthenticatedAllowed)
        #expect(open.call("POST", "/pxe/\(openID)/toggle", body: #"{"enabled": false}"#, authorization: nil).status == 200)
    }

    @Test(arguments: [(SettingsStoreError.Kind.outOfSpace, 507, "The settings could not be saved: the disk holding the settings is full. Nothing was changed."),
                      (.unavailable, 503, "The settings could not be saved: the settings database is unreachable. Nothing was changed. Try again when it is back."),
                      (.failed, 500, "The settings could not be saved: the settings store failed (see the server log). Nothing was changed.")])
    func aFailedSaveAnswersByItsKindAndChangesNothing(_ kind: SettingsStoreError.Kind, _ status: Int, _ sentence: String) throws {
        let failing = APIFixture(files: ["a.rts.png": PNGFixtures.png()], settingsStore: FailingSettingsStore(
            kind, loaded: MemorySettingsStore(), "writing /secret/state/settings.sqlite3 failed"))
        let response = failing.call("POST", "/pxe/\(failing.id("a.rts.png"))/toggle", body: #"{"enabled": false}"#)
        #expect(response.status == status)
        #expect(response.bodyText == "{\"error\":\"\(sentence)\"}")
        #expect(!response.bodyText.contains("/secret"))
        #expect(failing.store.current.settings[failing.id("a.rts.png")]?.enabled == true)
    }
}

/// A store whose writes fail with `kind` (reads come from `loaded`).
final class FailingSettingsStore: SettingsStore {
    let kind: SettingsStoreError.Kind
    let loaded: any SettingsStore
    let message: String

    init(_ kind: SettingsStoreError.Kind, loaded: any SettingsStore, _ message: String) {
        self.kind = kind
        self.loaded = loaded
        self.message = message
    }

    var backendName: String { "failing" }
    var health: SettingsStoreHealth { SettingsStoreHealth(available: kind != .unavailable) }
    func load() throws(SettingsStoreError) -> (settings: PXESettings, revision: Int64) { try loaded.load() }
    func write<Result>(_ change: (any SettingsTransaction) throws -> Result) throws -> (result: Result, commit: SettingsCommit) {
        throw SettingsStoreError(kind, message)
    }
    func changes(since revision: Int64) throws(SettingsStoreError) -> SettingsCommit { try loaded.changes(since: revision) }
    func audit(_ query: AuditQuery) throws(SettingsStoreError) -> [AuditRecord] { [] }
    func nextBoots() throws(SettingsStoreError) -> [NextBoot] { try loaded.nextBoots() }
    func saveHosts(_ records: [HostRecord]) throws(SettingsStoreError) { try loaded.saveHosts(records) }
    func hostRules() throws(SettingsStoreError) -> [String: String] { try loaded.hostRules() }
    func hosts(limit: Int) throws(SettingsStoreError) -> [HostRecord] { try loaded.hosts(limit: limit) }
    func watch(_ handler: @escaping @Sendable (SettingsStoreEvent) -> Void) {}
    func close() {}
}
