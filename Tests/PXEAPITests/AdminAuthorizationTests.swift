import Glibc
import PXEAPI
import PXECatalog
import TestSupport
import Testing

@Suite struct AdminAuthorizationTests {
    func fixture(_ policy: AdminAuthorizer.Policy = .tokens([APIFixture.token, "second-token-abcdefghijkl"])) -> (APIFixture, String) {
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
        #expect(fixture.auditLines.lines == ["admin token #2 set pxe_enabled=false on \(id)"])
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

    @Test func failedSaveAnswers507AndChangesNothing() {
        struct FullDisk: SettingsPersistence {
            func save(_ settings: PXESettings) throws(SettingsWriteError) {
                throw SettingsWriteError(step: "writing the settings", code: ENOSPC, path: "/secret/state/settings.json")
            }
        }
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.png()], persistence: FullDisk())
        let id = fixture.id("a.rts.png")
        let response = fixture.call("POST", "/pxe/\(id)/toggle", body: #"{"enabled": false}"#)
        #expect(response.status == 507)
        #expect(response.bodyText == #"{"error":"The settings could not be saved: writing the settings failed: No space left on device. Nothing was changed."}"#)
        #expect(!response.bodyText.contains("/secret"))
        #expect(fixture.store.current.settings[id]?.enabled == true)
    }
}
