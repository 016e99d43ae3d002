import Foundation
import PXEAPI
import PXECatalog
import PixelRTS
import StrictJSON
import TestSupport
import Testing

/// What clients of the previous server rely on, and each deliberate difference from it
/// (`docs/compatibility.md` lists them with these tests' names).
@Suite struct CompatibilityTests {
    // MARK: Kept as the previous server answered

    @Test func indexAnswersServerAndEnabledAsBeforeWithTheEndpointsObject() throws {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.named("A")])
        let index = try JSONParser.parse(fixture.call("GET", "/").body)
        #expect(index["server"] == .string("pxe-catalog"))
        #expect(index["catalog"]?["enabled"] == .bool(true), "true when the catalog is not empty")
        #expect(index["catalog"]?["pxe_enabled"] == .int(1), "the count of enabled entries has a key of its own")
        guard case let .object(endpoints)? = index["endpoints"] else { Issue.record("endpoints is not an object"); return }
        #expect(endpoints.first { $0.0 == "/pxe/{id}/toggle" }?.1.stringValue?.hasPrefix("POST") == true)
        #expect(endpoints.contains { $0.0 == "/containers/{id}/kernel" }, "new endpoints are included")
        let empty = APIFixture()
        #expect(try JSONParser.parse(empty.call("GET", "/").body)["catalog"]?["enabled"] == .bool(false))
    }

    @Test func pxeNamesAreTheMenuNameWhenOneIsSet() throws {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.named("Scanned name")])
        let id = fixture.id("a.rts.png")
        #expect(fixture.call("POST", "/pxe/\(id)/menu", body: #"{"name": "Menu name"}"#).status == 200)
        let pxe = try JSONParser.parse(fixture.call("GET", "/pxe").body)["pxe_containers"]?[0]
        #expect(pxe?["name"] == .string("Menu name"))
        #expect(pxe?["pxe_name"] == .string("Menu name"))
        #expect(try JSONParser.parse(fixture.call("GET", "/containers").body)["containers"]?[0]?["name"] == .string("Scanned name"))
    }

    @Test func formatVersionIsTheNumberTheMetadataHolds() throws {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.pixelRTS(payload: [1, 2, 3])])
        let item = try JSONParser.parse(fixture.call("GET", "/containers").body)["containers"]?[0]
        #expect(item?["format_version"] == .int(2))
    }

    // MARK: Deliberate differences (docs/compatibility.md)

    @Test func settingsOfAVanishedEntryComeBackWhenItReappears() throws {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.named("A")])
        let id = fixture.id("a.rts.png")
        #expect(fixture.call("POST", "/pxe/\(id)/toggle", body: #"{"enabled": false}"#).status == 200)
        fixture.root.remove("a.rts.png")
        #expect(fixture.call("POST", "/catalog/refresh").status == 200)
        fixture.root.write(PNGFixtures.named("A"), to: "a.rts.png")
        #expect(fixture.call("POST", "/catalog/refresh").status == 200)
        #expect(try JSONParser.parse(fixture.call("GET", "/containers").body)["containers"]?[0]?["pxe_enabled"] == .bool(false))
    }

    @Test func changesNeedAnAdminToken() throws {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.named("A")])
        let id = fixture.id("a.rts.png")
        let refused = fixture.call("POST", "/pxe/\(id)/toggle", body: #"{"enabled": false}"#, authorization: nil)
        #expect(refused.status == 401)
        #expect(refused.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
        #expect(fixture.store.current.settings[id]?.enabled == true)
    }

    @Test func errorsAreJSONSentencesWithTheirStatus() throws {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.named("A")])
        for (method, path, status) in [("GET", "/nowhere", 404), ("GET", "/containers/ffffffffffff", 404), ("DELETE", "/pxe", 405),
                                       ("POST", "/pxe/\(fixture.id("a.rts.png"))/toggle", 400)] {
            let response = fixture.call(method, path, body: method == "POST" ? "{not json" : "")
            #expect(response.status == status, "\(method) \(path)")
            #expect(response.header("Content-Type") == "application/json; charset=utf-8")
            #expect(try JSONParser.parse(response.body)["error"]?.stringValue?.hasSuffix(".") == true)
        }
    }

    @Test func unknownFieldsInAnEditAreRefused() throws {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.named("A")])
        let response = fixture.call("POST", "/pxe/\(fixture.id("a.rts.png"))/menu", body: #"{"nmae": "typo"}"#)
        #expect(response.status == 400)
    }

    @Test func filesThatAreNotValidAreListedButNeverOffered() throws {
        let fixture = APIFixture(files: ["bad.rts.png": Array("not a png".utf8)])
        #expect(try JSONParser.parse(fixture.call("GET", "/containers").body)["containers"]?[0]?["valid"] == .bool(false))
        #expect(try JSONParser.parse(fixture.call("GET", "/pxe").body)["count"] == .int(0))
    }

    @Test func theMenuBootsPreparedPartsNotTheContainerFile() throws {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.pixelRTS(parts: [("kernel", [1, 2, 3])])])
        fixture.markAllReady()
        let menu = fixture.call("GET", "/pxe/menu.ipxe").bodyText
        #expect(menu.contains("kernel ../containers/\(fixture.id("a.rts.png"))/kernel"))
        #expect(!menu.contains("chain --autofree ../containers/"))
    }
}
